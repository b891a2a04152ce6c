"""Pictures of what a playground network does, as plain data and pure functions.

Snapshots run on the training thread between epochs (the model is idle then)
and return small arrays; rendering them into images happens on the UI side of
the event stream, so drawing never holds up a training step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .datasets import ToyDataset, describe_sequence

GRID = 72
BLUE = np.array([52, 120, 198], dtype=np.float32)
ORANGE = np.array([240, 140, 40], dtype=np.float32)
WHITE = np.array([250, 250, 250], dtype=np.float32)


def point_extent(data: ToyDataset, margin: float = 0.15) -> tuple[float, float, float, float]:
    x = torch.cat([data.train.x, data.test.x]).numpy()
    lo, hi = x.min(0) - margin, x.max(0) + margin
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def boundary_snapshot(data: ToyDataset):
    """A snapshot function giving P(class 1) on a grid over the data's extent."""
    x0, x1, y0, y1 = point_extent(data)
    xs, ys = np.linspace(x0, x1, GRID, dtype=np.float32), np.linspace(y1, y0, GRID, dtype=np.float32)
    grid = torch.from_numpy(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))

    @torch.no_grad()
    def snapshot(model: nn.Module) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        probs = torch.softmax(model(grid), dim=1)[:, 1].reshape(GRID, GRID).numpy()
        model.train(was_training)
        return {"boundary": probs.astype(np.float32), "extent": (x0, x1, y0, y1)}

    return snapshot


def sequence_snapshot(data: ToyDataset, count: int = 6):
    """A snapshot function giving the model's answers on the first few test sequences."""
    split = data.test
    tokens, lengths, targets = split.x[:count], split.lengths[:count], split.y[:count]

    @torch.no_grad()
    def snapshot(model: nn.Module) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        probs = torch.softmax(model(tokens, lengths), dim=1)
        model.train(was_training)
        rows = []
        for i in range(len(targets)):
            guess = int(probs[i].argmax())
            rows.append({
                "sequence": describe_sequence(tokens[i], int(lengths[i])),
                "answer": data.class_names[int(targets[i])],
                "model says": data.class_names[guess],
                "confidence": round(float(probs[i, guess]), 3),
            })
        return {"predictions": rows}

    return snapshot


def snapshot_for(data: ToyDataset):
    if data.kind == "points":
        return boundary_snapshot(data)
    if data.kind == "sequence":
        return sequence_snapshot(data)
    return None


class BoundaryPainter:
    """Draws decision-boundary frames for one data set, cheaply enough to do twice a second.

    The points layer is drawn once; each frame is a colour lookup of the quantised
    probabilities, so painting costs a few array indexings, not float maths per pixel.
    """

    LEVELS = 64

    def __init__(self, points: np.ndarray, labels: np.ndarray, extent, size: int = 240):
        self.size = size
        x0, x1, y0, y1 = extent
        cols = ((points[:, 0] - x0) / (x1 - x0) * (size - 1)).astype(int)
        rows = ((y1 - points[:, 1]) / (y1 - y0) * (size - 1)).astype(int)
        self.overlay = np.zeros((size, size, 3), dtype=np.uint8)
        self.mask = np.zeros((size, size), dtype=bool)
        for r, c, label in zip(rows, cols, labels):
            self.overlay[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = 40  # dark outline
            self.overlay[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = ORANGE if label else BLUE
            self.mask[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = True
        # Colour for each probability level: pale near 0.5, saturated towards 0 and 1.
        p = (np.arange(self.LEVELS) + 0.5)[:, None] / self.LEVELS
        tint = np.where(p > 0.5, ORANGE, BLUE)
        self.palette = (WHITE + (tint - WHITE) * (0.25 + 0.45 * np.abs(p - 0.5) * 2)).astype(np.uint8)
        self.cell = None

    def paint(self, probs: np.ndarray) -> np.ndarray:
        """An RGB frame: background shaded by P(class 1), the data points on top."""
        if self.cell is None or len(self.cell) != self.size:
            self.cell = np.arange(self.size) * probs.shape[0] // self.size  # nearest grid cell per pixel
        levels = np.clip((probs * self.LEVELS).astype(np.int16), 0, self.LEVELS - 1)
        image = self.palette[levels[self.cell][:, self.cell]]
        image[self.mask] = self.overlay[self.mask]
        return image
