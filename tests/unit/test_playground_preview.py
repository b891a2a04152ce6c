"""What the page draws before training (no torch in the page process): the data set and the network."""

import subprocess
import sys

import numpy as np
import pytest

from studio.playground.anatomy import anatomy, total_parameters
from studio.playground.config import DATASETS_FOR_MODEL, defaults_for
from studio.playground.preview import data_picture, network_diagram

VARIANTS = [{}, dict(widths=(16, 24, 24), activations=("relu",) * 3, dropouts=(0.1,) * 3, batch_norm=True,
                     residual=False, bidirectional=True, rnn_cell="gru", positions="sinusoidal", norm="post",
                     heads=2, features=("x", "xy", "sinx"))]


@pytest.mark.parametrize("model", list(DATASETS_FOR_MODEL))
def test_parameter_counts_match_the_built_networks(model):
    from studio.playground.datasets import make_dataset
    from studio.playground.models import build_model, count_parameters

    for dataset in DATASETS_FOR_MODEL[model]:
        for variant in VARIANTS:
            c = defaults_for(model, dataset=dataset, samples=100, **variant)
            assert total_parameters(c) == count_parameters(build_model(c, make_dataset(c))), (dataset, variant)


def test_the_diagram_follows_the_controls():
    small = network_diagram(defaults_for("mlp", widths=(8,), activations=("relu",), dropouts=(0.0,)))
    big = network_diagram(defaults_for("mlp", widths=(64, 64, 64, 64), activations=("relu",) * 4,
                                       dropouts=(0.0,) * 4))
    assert small.count("<rect") == 3 and big.count("<rect") == 6  # input, hidden layers, output
    assert f"{total_parameters(defaults_for('mlp', widths=(8,), activations=('relu',), dropouts=(0.0,))):,} " \
           "parameters" in small
    assert [layer.name for layer in anatomy(defaults_for("rnn"))][:2] == ["input", "embedding"]


@pytest.mark.parametrize("model, dataset", [("mlp", "spiral"), ("cnn", "digits"), ("rnn", "sorted")])
def test_the_data_is_drawn_and_changes_with_its_controls(model, dataset):
    c = defaults_for(model, dataset=dataset)
    picture = data_picture(c)
    assert picture.dtype == np.uint8 and picture.ndim == 3
    assert not np.array_equal(picture, data_picture(c.replace(seed=1)))
    if dataset == "spiral":
        assert not np.array_equal(picture, data_picture(c.replace(noise=0.8)))
        assert not np.array_equal(picture, data_picture(c.replace(test_fraction=0.5)))
        rare_blue = data_picture(c.replace(balance=0.1))
        blue = lambda p: int((np.abs(p.astype(int) - [52, 120, 198]).sum(-1) == 0).sum())  # noqa: E731
        assert blue(rare_blue) < blue(picture) * 0.7  # a tenth of the points, partly hidden under orange ones


def test_the_page_side_imports_no_torch():
    code = ("import sys; import studio.ui.playground; from studio.playground.config import defaults_for; "
            "from studio.playground.preview import data_picture, network_diagram; "
            "data_picture(defaults_for('cnn')); network_diagram(defaults_for('transformer')); "
            "print('torch' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
