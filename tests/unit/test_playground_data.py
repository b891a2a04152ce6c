import pytest
import torch

from studio.playground.config import POINT_DATASETS, SEQUENCE_DATASETS, defaults_for
from studio.playground.datasets import SEQ_MAX_LEN, SEQ_MIN_LEN, make_dataset


@pytest.mark.parametrize("name", POINT_DATASETS)
def test_points_are_seeded_split_and_balanced(name):
    c = defaults_for("mlp", dataset=name, samples=400, seed=3)
    a, b = make_dataset(c), make_dataset(c)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert len(a.train) + len(a.test) == 400 and len(a.test) == 100
    assert 0.3 < a.train.y.float().mean() < 0.7
    other = make_dataset(c.replace(seed=4))
    assert not torch.equal(a.train.x, other.train.x)


def test_digits_come_from_scikit_learn():
    data = make_dataset(defaults_for("cnn"))
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.train) + len(data.test) == 1797


@pytest.mark.parametrize("name", SEQUENCE_DATASETS)
def test_sequences_have_variable_lengths_and_padding(name):
    data = make_dataset(defaults_for("rnn", dataset=name, samples=500))
    lengths = data.train.lengths
    assert lengths.min() >= SEQ_MIN_LEN and lengths.max() <= SEQ_MAX_LEN and lengths.unique().numel() > 5
    for row, n in zip(data.train.x[:50], lengths[:50]):
        assert (row[n:] == 0).all() and (row[:n] > 0).all()


def test_parity_labels_are_right():
    data = make_dataset(defaults_for("rnn", dataset="parity", samples=200))
    for row, n, y in zip(data.train.x, data.train.lengths, data.train.y):
        assert int((row[:n] == 2).sum()) % 2 == int(y)


@pytest.mark.parametrize("name", POINT_DATASETS)
@pytest.mark.parametrize("balance", [0.1, 0.3, 0.75])
def test_class_balance_sets_the_count_of_each_class(name, balance):
    c = defaults_for("mlp", dataset=name, samples=400, seed=2, balance=balance)
    data = make_dataset(c)
    labels = torch.cat([data.train.y, data.test.y])
    assert int((labels == 0).sum()) == round(400 * balance) and int((labels == 1).sum()) == 400 - round(400 * balance)
    again = make_dataset(c)
    assert torch.equal(data.train.x, again.train.x) and torch.equal(data.train.y, again.train.y)


def test_xor_keeps_its_labels_true_to_the_quadrant_at_any_balance():
    data = make_dataset(defaults_for("mlp", dataset="xor", samples=500, noise=0.0, balance=0.2))
    points, _ = data.points
    assert torch.equal(data.train.y, torch.from_numpy((points[:, 0] * points[:, 1] < 0).astype("int64")))
    assert abs(float((data.train.y == 0).float().mean()) - 0.2) < 0.05


def test_an_even_balance_makes_the_points_older_setups_made():
    # Made before the balance control existed (seed 5, 300 samples): shared setups keep their data.
    import hashlib

    from studio.playground.toydata import make_arrays

    before = {"spiral": "af2bc2e18618", "circle": "adc51453feb2", "xor": "0642d35b3be1",
              "gaussians": "43fda39ebd40", "moons": "b15c8f718782"}
    for name, digest in before.items():
        a = make_arrays(defaults_for("mlp", dataset=name, seed=5, samples=300))
        assert hashlib.sha1(a.x.tobytes() + a.y.tobytes() + a.train.tobytes()).hexdigest()[:12] == digest, name
