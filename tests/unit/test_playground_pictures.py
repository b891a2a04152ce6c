"""Pictures of a network at work: painted in the worker, changing as it learns, for every architecture."""

import numpy as np
import pytest

from studio.events import EvalEvent
from studio.playground.config import defaults_for
from studio.playground.datasets import make_dataset
from studio.playground.drawing import heat, heat_tiles, sheet
from studio.playground.pictures import snapshot_for
from studio.playground.training import train_playground

from .test_playground_training import one_thread  # noqa: F401  (one torch thread, as in a worker)


class Recorder:
    should_stop = False

    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


def pictures_of(model, dataset, **changes):
    if model == "cnn":
        changes.setdefault("widths", (8, 8))  # small: the digits are 1,797 whatever the samples say
    c = defaults_for(model, dataset=dataset, samples=200, epochs=2, patience=0, **changes)
    data = make_dataset(c)
    run = Recorder()
    train_playground(c, run, data, snapshot_for(c, data), snapshot_every=0)
    return [e.extras for e in run.events if isinstance(e, EvalEvent)]


def is_picture(array) -> bool:
    return isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3


@pytest.mark.parametrize("model, dataset, keys", [
    ("mlp", "circle", {"boundary", "inside"}),  # boundary + each hidden unit over the plane
    ("resmlp", "moons", {"boundary", "inside"}),
    ("cnn", "digits", {"inside"}),  # feature maps + channel attention
    ("mlp", "digits", {"inside"}),  # first-layer weights as 8x8 pictures
    ("rnn", "parity", {"predictions", "inside"}),  # hidden state over time
    ("transformer", "majority", {"predictions", "inside"}),  # attention per head
])
def test_every_architecture_shows_what_happens_inside_and_it_changes(model, dataset, keys):
    extras = pictures_of(model, dataset)
    assert len(extras) == 2 and keys <= set(extras[0])
    for key in keys - {"predictions"}:
        assert is_picture(extras[0][key]) and is_picture(extras[-1][key])
        assert not np.array_equal(extras[0][key], extras[-1][key]), f"{key} did not change while training"
    assert extras[-1]["inside_caption"]


def test_neuron_heatmaps_have_one_row_per_hidden_layer():
    one = pictures_of("mlp", "xor", widths=(8,), activations=("tanh",), dropouts=(0.0,))[-1]["inside"]
    three = pictures_of("mlp", "xor", widths=(8, 8, 8), activations=("tanh",) * 3, dropouts=(0.0,) * 3)[-1]["inside"]
    assert three.shape[0] > 2.5 * one.shape[0]


def test_boundary_uses_the_chosen_features():
    # With x² and y² only, a circle is a straight cut: the boundary is still drawn over the (x, y) plane.
    extras = pictures_of("mlp", "circle", features=("x2", "y2"))
    assert extras[-1]["boundary"].shape == (240, 240, 3)


def test_heat_and_sheet_are_cheap_numpy():
    tile = heat(np.array([[-1.0, 0.0], [0.5, 1.0]]), 4)
    assert tile.shape == (4, 4, 3) and tile[0, 2].min() >= 240  # zero is (nearly) white
    assert tile[0, 0, 2] > tile[0, 0, 0]  # negative is blue
    picture = sheet([("a row", [tile, tile]), ("another", [tile])])
    assert is_picture(picture) and picture.shape[1] >= 6 * len("another")


@pytest.mark.parametrize("symmetric", [True, False])
def test_a_layer_of_tiles_is_drawn_at_once_each_on_its_own_scale(symmetric):
    from studio.playground.drawing import DIVERGING

    values = np.random.default_rng(0).normal(size=(5, 8, 8)).astype(np.float32)
    values[1] = values[0] * 10  # a louder unit looks the same: each tile is scaled to its own range
    values[3] = 0.0  # a dead unit: one flat colour, no division by zero
    at_once = heat_tiles(values, 36, symmetric)
    assert at_once.shape == (5, 36, 36, 3) and at_once.dtype == np.uint8
    assert np.array_equal(at_once[0], at_once[1]) and not np.array_equal(at_once[0], at_once[2])
    assert len(np.unique(at_once[3].reshape(-1, 3), axis=0)) == 1
    top = np.unravel_index(values[2].argmax(), (8, 8))  # the biggest value is full orange, scaled up 36/8
    assert np.array_equal(at_once[2][top[0] * 36 // 8 + 2, top[1] * 36 // 8 + 2], DIVERGING[-1]) or \
        (symmetric and abs(values[2].min()) > values[2].max())
    assert np.array_equal(heat(values[2], 36, symmetric), at_once[2])
