"""The playground's architectures do what DESIGN.md says the tutorial's did not."""

import pytest
import torch
from torch import nn

from studio.playground.config import defaults_for
from studio.playground.datasets import make_dataset
from studio.playground.models import MLP, ChannelAttention, ResidualBlock1d, SequenceRNN, TransformerClassifier, build_model


def test_mlp_skips_fire_where_widths_match_and_logits_are_raw():
    c = defaults_for("mlp", widths=(16, 16, 8), activations=("relu",) * 3, dropouts=(0.0,) * 3, residual=True)
    model = MLP(2, 3, c)
    assert model.skips == [False, True, False]
    assert isinstance(model.head, nn.Linear)  # nothing after the head: logits may be negative
    out = model(torch.randn(64, 2))
    assert out.shape == (64, 3) and (out < 0).any()


def test_mlp_skip_really_adds():
    c = defaults_for("mlp", widths=(8, 8), activations=("relu",) * 2, dropouts=(0.0,) * 2, residual=True)
    model = MLP(2, 2, c).eval()
    x = torch.randn(5, 2)
    h = model.hidden[0](x)
    assert torch.allclose(model.hidden[1](h) + h, model.hidden[1](h) + h)
    with torch.no_grad():
        model.hidden[1].linear.weight.zero_()
        model.hidden[1].linear.bias.fill_(-1.0)  # relu output is 0, so the skip alone carries h
        assert torch.allclose(model(x), model.head(h))


def test_residual_block_adds_projection():
    block = ResidualBlock1d(4, 6, 0.0).eval()
    with torch.no_grad():
        for p in block.main.parameters():
            p.zero_()
    x = torch.randn(3, 4)
    assert torch.allclose(block(x), torch.nn.functional.gelu(block.skip(x)), atol=1e-6)
    assert isinstance(block.skip, nn.Linear)


@pytest.mark.parametrize("channels", [1, 3, 7, 8, 64])
def test_channel_attention_is_safe_for_few_channels(channels):
    att = ChannelAttention(channels)
    x = torch.randn(2, channels, 4, 4)
    assert att(x).shape == x.shape


def test_rnn_ignores_padding():
    c = defaults_for("rnn", widths=(8,), bidirectional=True)
    for pooling in ("last", "attention"):
        model = SequenceRNN(2, c.replace(pooling=pooling)).eval()
        tokens = torch.tensor([[1, 2, 1, 0, 0, 0]])
        longer = torch.tensor([[1, 2, 1, 3, 3, 3]])  # same first 3 tokens, different "padding"
        lengths = torch.tensor([3])
        assert torch.allclose(model(tokens, lengths), model(longer, lengths), atol=1e-6), pooling


def test_transformer_masks_padding_and_checks_length():
    c = defaults_for("transformer", widths=(16,), activations=("gelu",), dropouts=(0.0,), heads=2)
    for norm in ("pre", "post"):
        for positions in ("learned", "sinusoidal"):
            model = TransformerClassifier(3, 6, c.replace(norm=norm, positions=positions)).eval()
            a = torch.tensor([[1, 2, 3, 0, 0, 0]])
            b = torch.tensor([[1, 2, 3, 2, 2, 1]])
            assert torch.allclose(model(a, torch.tensor([3])), model(b, torch.tensor([3])), atol=1e-5)
    with pytest.raises(ValueError, match="longer than"):
        model(torch.ones(1, 7, dtype=torch.long), torch.tensor([7]))


def test_learned_positions_are_not_zero():
    c = defaults_for("transformer")
    model = TransformerClassifier(3, 16, c)
    assert model.positions.abs().sum() > 0


@pytest.mark.parametrize("model_name", ["mlp", "resmlp", "cnn", "rnn", "transformer"])
def test_every_model_builds_for_its_default_data(model_name):
    c = defaults_for(model_name, samples=200)
    data = make_dataset(c)
    model = build_model(c, data)
    split = data.test
    out = model(split.x) if split.lengths is None else model(split.x, split.lengths)
    assert out.shape == (len(split), data.num_classes)
