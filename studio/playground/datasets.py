"""The toy data sets as tensors for training: `toydata.make_arrays`, split and turned into torch.

Sequences have variable lengths, padded with token 0, and carry their true
lengths so models can ignore the padding. Point data sets keep their raw 2-D
points beside the network inputs (which may be features such as x² or sin y),
so pictures are drawn in the plane the visitor sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import PlaygroundConfig
from .toydata import PAD, SEQ_MAX_LEN, SEQ_MIN_LEN, SEQ_VOCAB, describe_sequence, make_arrays  # noqa: F401

__all__ = ["PAD", "SEQ_MAX_LEN", "SEQ_MIN_LEN", "SEQ_VOCAB", "Split", "ToyDataset", "describe_sequence",
           "make_dataset"]


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

    @staticmethod
    def joined(*splits: "Split") -> "Split":
        """The rows of several splits of one data set, one after another."""
        lengths = None if splits[0].lengths is None else torch.cat([s.lengths for s in splits])
        return Split(torch.cat([s.x for s in splits]), torch.cat([s.y for s in splits]), lengths)


@dataclass
class ToyDataset:
    name: str
    kind: str  # "points", "image" or "sequence"
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]  # one example's shape, e.g. (2,) or (1, 8, 8) or (max_len,)
    class_names: tuple[str, ...]
    features: tuple[str, ...] = ("x", "y")  # points: what the network sees of each point
    points: tuple[np.ndarray, np.ndarray] | None = None  # points: raw (train, test) 2-D points, for drawing


def make_dataset(config: PlaygroundConfig) -> ToyDataset:
    """The data set a config names, reproducibly: the same config gives the same tensors."""
    arrays = make_arrays(config)
    lengths = None if arrays.lengths is None else torch.from_numpy(arrays.lengths.astype(np.int64))
    full = Split(torch.from_numpy(arrays.x), torch.from_numpy(arrays.y), lengths)
    points = None if arrays.points is None else (arrays.points[arrays.train], arrays.points[arrays.test])
    return ToyDataset(
        name=config.dataset,
        kind=arrays.kind,
        train=full.subset(torch.from_numpy(arrays.train)),
        test=full.subset(torch.from_numpy(arrays.test)),
        num_classes=len(arrays.class_names),
        input_shape=arrays.input_shape,
        class_names=arrays.class_names,
        features=config.features,
        points=points,
    )
