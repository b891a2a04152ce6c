"""Toy data sets made in code from a seed, as NumPy arrays only: 2-D points, 8x8 digits, token sequences.

NumPy only (no torch), so the page can draw a data set the moment it is chosen,
before anything trains; `datasets.make_dataset` turns the same arrays into
tensors in the worker. Point data sets feed the network chosen input features
of (x, y), as in TensorFlow Playground (x, y, x², y², xy, sin x, sin y), and
make a chosen share of their points blue (class 0): the class balance.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import PlaygroundConfig

PAD = 0
SEQ_VOCAB = 4  # tokens 1..3 (0 is padding)
SEQ_MIN_LEN, SEQ_MAX_LEN = 4, 16

# Input features of a 2-D point, by the id stored in a config; labels are what the page shows.
FEATURES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "x": ("x", lambda p: p[:, 0]),
    "y": ("y", lambda p: p[:, 1]),
    "x2": ("x²", lambda p: p[:, 0] ** 2),
    "y2": ("y²", lambda p: p[:, 1] ** 2),
    "xy": ("xy", lambda p: p[:, 0] * p[:, 1]),
    "sinx": ("sin x", lambda p: np.sin(np.pi * p[:, 0])),
    "siny": ("sin y", lambda p: np.sin(np.pi * p[:, 1])),
}


def expand_features(points: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """(n, 2) points -> (n, len(features)) network inputs, float32."""
    return np.stack([FEATURES[f][1](points) for f in features], axis=1).astype(np.float32)


# 2-D points ---------------------------------------------------------------

EVEN = 0.5


def class_labels(n: int, balance: float, rng: np.random.Generator) -> np.ndarray:
    """n labels of 0 (blue) and 1 (orange), exactly round(n * balance) of them 0, in random order.

    An even balance flips a coin per point instead, as every data set did before the control
    existed, so setups shared before then still make the very same points."""
    if balance == EVEN:
        return rng.integers(0, 2, n)
    return (rng.permutation(n) >= round(n * balance)).astype(np.int64)


def spiral(n: int, noise: float, balance: float, rng: np.random.Generator):
    """Two interleaved arms; noise is jitter relative to the arm spacing."""
    y = class_labels(n, balance, rng)
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3 * np.pi  # sqrt keeps density even along the arm
    r = t / (3 * np.pi)
    angle = t + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise * 0.1, x.shape), y


def circle(n: int, noise: float, balance: float, rng: np.random.Generator):
    y = class_labels(n, balance, rng)
    radius = np.where(y == 0, rng.uniform(0.0, 0.45, n), rng.uniform(0.6, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise * 0.2, x.shape), y


def xor(n: int, noise: float, balance: float, rng: np.random.Generator):
    """Orange where x and y have opposite signs; the label follows the quadrant."""
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05  # a small gap around the axes so the labels are learnable
    if balance != EVEN:  # mirror the points whose quadrant gives the wrong class into a neighbouring one
        wanted = class_labels(n, balance, rng)
        x[:, 1] = np.where((x[:, 0] * x[:, 1] < 0) == wanted.astype(bool), x[:, 1], -x[:, 1])
    y = (x[:, 0] * x[:, 1] < 0).astype(int)
    return x + rng.normal(0, noise * 0.2, x.shape), y


def gaussians(n: int, noise: float, balance: float, rng: np.random.Generator):
    y = class_labels(n, balance, rng)
    centres = np.array([[-0.5, -0.5], [0.5, 0.5]])
    return centres[y] + rng.normal(0, 0.15 + noise, (n, 2)), y


def moons(n: int, noise: float, balance: float, rng: np.random.Generator):
    y = class_labels(n, balance, rng)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower)
    x = (x - [0.5, 0.25]) / 1.2  # centre on the origin, inside [-1, 1]
    return x + rng.normal(0, noise * 0.2, x.shape), y


POINT_MAKERS: dict[str, Callable] = {
    "spiral": spiral,
    "circle": circle,
    "xor": xor,
    "gaussians": gaussians,
    "moons": moons,
}

# Sequences ----------------------------------------------------------------


def _random_tokens(n: int, rng: np.random.Generator, vocab: int):
    lengths = rng.integers(SEQ_MIN_LEN, SEQ_MAX_LEN + 1, n)
    tokens = np.zeros((n, SEQ_MAX_LEN), dtype=np.int64)
    for i, length in enumerate(lengths):
        tokens[i, :length] = rng.integers(1, vocab, length)
    return tokens, lengths


def parity(n: int, rng: np.random.Generator):
    """Is the number of 2s odd? Tokens are 1 and 2; needs the whole sequence."""
    tokens, lengths = _random_tokens(n, rng, 3)
    return tokens, lengths, (tokens == 2).sum(1) % 2


def majority(n: int, rng: np.random.Generator):
    """Which of the tokens 1, 2, 3 occurs most often (ties re-drawn)."""
    tokens, lengths = _random_tokens(n, rng, SEQ_VOCAB)
    counts = np.stack([(tokens == t).sum(1) for t in (1, 2, 3)], axis=1)
    top = np.sort(counts, axis=1)
    unique = top[:, -1] > top[:, -2]
    return tokens[unique], lengths[unique], counts[unique].argmax(1)


def sorted_task(n: int, rng: np.random.Generator):
    """Is the sequence non-decreasing? Half are sorted on purpose, so both answers are common."""
    tokens, lengths = _random_tokens(n, rng, SEQ_VOCAB)
    for i in np.flatnonzero(rng.random(n) < 0.5):
        tokens[i, : lengths[i]] = np.sort(tokens[i, : lengths[i]])
    ok = np.array([np.all(np.diff(t[:m]) >= 0) for t, m in zip(tokens, lengths)])
    return tokens, lengths, ok.astype(int)


SEQUENCE_MAKERS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "parity": (parity, ("even", "odd")),
    "majority": (majority, ("mostly 1", "mostly 2", "mostly 3")),
    "sorted": (sorted_task, ("unsorted", "sorted")),
}

# Digits -------------------------------------------------------------------


@functools.cache
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (values 0-16) and labels, read from the file it ships.

    Reading the CSV takes 0.2 s; importing scikit-learn to call `load_digits` takes 1.6 s,
    which the page would pay when a visitor picks the digits."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


# Assembly -----------------------------------------------------------------


@dataclass
class ToyArrays:
    """One data set as arrays; `train`/`test` index rows of `x`, `y` (and `lengths`, `points`)."""

    kind: str  # "points", "image" or "sequence"
    x: np.ndarray  # network inputs
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    lengths: np.ndarray | None = None  # sequences: true lengths
    points: np.ndarray | None = None  # 2-D data sets: the raw (x, y) points, for drawing


def _split(n: int, test_fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def make_arrays(config: PlaygroundConfig) -> ToyArrays:
    """The data set a config names, reproducibly: the same config gives the same arrays."""
    rng = np.random.default_rng(config.seed)
    lengths = points = None
    if config.dataset in POINT_MAKERS:
        points, y = POINT_MAKERS[config.dataset](config.samples, config.noise, config.balance, rng)
        points = points.astype(np.float32)
        x = expand_features(points, config.features)
        kind, shape, classes = "points", (len(config.features),), ("blue", "orange")
    elif config.dataset == "digits":
        images, y = digit_images()
        x = (images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
        x = x + rng.normal(0, config.noise * 0.1, x.shape).astype(np.float32)
        kind, shape, classes = "image", (1, 8, 8), tuple(str(d) for d in range(10))
    else:
        maker, classes = SEQUENCE_MAKERS[config.dataset]
        x, lengths, y = maker(config.samples, rng)
        flip = rng.random(len(y)) < config.noise
        y = np.where(flip, rng.integers(0, len(classes), len(y)), y)
        kind, shape = "sequence", (SEQ_MAX_LEN,)
    train, test = _split(len(y), config.test_fraction, rng)
    return ToyArrays(kind, np.ascontiguousarray(x), y.astype(np.int64), train, test, shape, classes, lengths, points)


def describe_sequence(tokens, length: int) -> str:
    return " ".join(str(int(t)) for t in tokens[:length])
