"""Toy data sets made in code from a seed: 2-D points, 8x8 digits, and token sequences.

Each maker returns NumPy arrays; `make_dataset` shuffles, splits and turns
them into tensors. Sequences have variable lengths, padded with token 0, and
carry their true lengths so models can ignore the padding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .config import PlaygroundConfig

PAD = 0
SEQ_VOCAB = 4  # tokens 1..3 (0 is padding)
SEQ_MIN_LEN, SEQ_MAX_LEN = 4, 16


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None  # sequences only

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: torch.Tensor) -> "Split":
        lengths = None if self.lengths is None else self.lengths[index]
        return Split(self.x[index], self.y[index], lengths)


@dataclass
class ToyDataset:
    name: str
    kind: str  # "points", "image" or "sequence"
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]  # one example's shape, e.g. (2,) or (1, 8, 8) or (max_len,)
    class_names: tuple[str, ...]


# 2-D points ---------------------------------------------------------------


def spiral(n: int, noise: float, rng: np.random.Generator):
    """Two interleaved arms; noise is jitter relative to the arm spacing."""
    y = rng.integers(0, 2, n)
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3 * np.pi  # sqrt keeps density even along the arm
    r = t / (3 * np.pi)
    angle = t + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise * 0.1, x.shape), y


def circle(n: int, noise: float, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
    radius = np.where(y == 0, rng.uniform(0.0, 0.45, n), rng.uniform(0.6, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise * 0.2, x.shape), y


def xor(n: int, noise: float, rng: np.random.Generator):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05  # a small gap around the axes so the labels are learnable
    y = (x[:, 0] * x[:, 1] < 0).astype(int)
    return x + rng.normal(0, noise * 0.2, x.shape), y


def gaussians(n: int, noise: float, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
    centres = np.array([[-0.5, -0.5], [0.5, 0.5]])
    return centres[y] + rng.normal(0, 0.15 + noise, (n, 2)), y


def moons(n: int, noise: float, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
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

# Assembly -----------------------------------------------------------------


def _split(n: int, test_fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def make_dataset(config: PlaygroundConfig) -> ToyDataset:
    """The data set a config names, reproducibly: the same config gives the same tensors."""
    rng = np.random.default_rng(config.seed)
    lengths = None
    if config.dataset in POINT_MAKERS:
        x, y = POINT_MAKERS[config.dataset](config.samples, config.noise, rng)
        x = x.astype(np.float32)
        kind, shape, classes = "points", (2,), ("blue", "orange")
    elif config.dataset == "digits":
        from sklearn.datasets import load_digits  # ships with scikit-learn: no download

        digits = load_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
        x = x + rng.normal(0, config.noise * 0.1, x.shape).astype(np.float32)
        y = digits.target
        kind, shape, classes = "image", (1, 8, 8), tuple(str(d) for d in range(10))
    else:
        maker, classes = SEQUENCE_MAKERS[config.dataset]
        x, lengths, y = maker(config.samples, rng)
        flip = rng.random(len(y)) < config.noise
        y = np.where(flip, rng.integers(0, len(classes), len(y)), y)
        kind, shape = "sequence", (SEQ_MAX_LEN,)

    train_idx, test_idx = _split(len(y), config.test_fraction, rng)
    x_t, y_t = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    len_t = None if lengths is None else torch.from_numpy(lengths.astype(np.int64))
    full = Split(x_t, y_t, len_t)
    return ToyDataset(
        name=config.dataset,
        kind=kind,
        train=full.subset(torch.from_numpy(train_idx)),
        test=full.subset(torch.from_numpy(test_idx)),
        num_classes=len(classes),
        input_shape=shape,
        class_names=classes,
    )


def describe_sequence(tokens: torch.Tensor, length: int) -> str:
    return " ".join(str(int(t)) for t in tokens[:length])
