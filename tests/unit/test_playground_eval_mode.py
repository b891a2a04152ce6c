"""`evaluating`: eval mode where a network needs it, no mode switch where it computes the same either way."""

from __future__ import annotations

import pytest
import torch

from studio.playground.config import MODELS, defaults_for
from studio.playground.datasets import make_dataset
from studio.playground.models import build_model, evaluating


def built(model: str, **overrides):
    config = defaults_for(model, samples=60, **overrides)
    data = make_dataset(config)
    return build_model(config, data), data


def test_a_network_without_dropout_or_batch_norm_skips_the_switch_and_answers_the_same():
    model, data = built("mlp")
    model.train()
    x = data.test.x[:16]
    with evaluating(model):
        assert model.training  # nothing was walked
        with torch.inference_mode():
            skipped = model(x)
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(x), skipped)


@pytest.mark.parametrize("model,overrides", [
    ("mlp", {"dropouts": (0.2, 0.0, 0.0)}),
    ("mlp", {"batch_norm": True}),
    *[(name, {}) for name in MODELS if name not in ("mlp",)],
])
def test_dropout_batch_norm_and_recurrent_or_attention_dropout_get_eval_mode_and_back(model, overrides):
    if model == "rnn":
        overrides = {"widths": (16, 16), "dropouts": (0.3, 0.3)}
    if model == "transformer":
        overrides = {"dropouts": tuple(0.1 for _ in defaults_for("transformer").dropouts)}
    net, _ = built(model, **overrides)
    net.train()
    with evaluating(net):
        assert not net.training and not any(m.training for m in net.modules())
    assert net.training and all(m.training for m in net.modules())
