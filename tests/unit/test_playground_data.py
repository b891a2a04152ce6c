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
