"""Snapshots of what a network does and what happens inside it, taken in the worker between epochs.

Each snapshot runs the model in eval mode on a few fixed inputs (a grid over the
plane, one digit, one sequence), reads hidden outputs through forward hooks, and
returns finished pictures (uint8 arrays, painted by `drawing.py`), so the page
only displays them:

- points: the decision boundary, and for MLPs each hidden unit's output over the plane;
- digits: for the CNN, the feature maps of each block for one digit and its channel-attention
  weights; for MLPs, the first layer's weights as 8x8 pictures;
- sequences: answers on a few test sequences, and for the RNN the hidden state over time for
  one sequence, for the transformer the attention map of every head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import PlaygroundConfig
from .datasets import ToyDataset, describe_sequence
from .drawing import bars, grey, heat, heat_tiles, sheet
from .models import MLP, ResidualMLP, SequenceRNN, TransformerClassifier, evaluating
from .preview import painter_for
from .toydata import expand_features

Snapshot = Callable[[nn.Module], dict[str, Any]]
GRID = 72
UNITS_SHOWN = 12  # hidden units (or channels) drawn per layer
TILE = 36


class _Recorder:
    """Forward hooks that keep each watched module's output (or what `read` makes of its inputs)."""

    def __init__(self, modules: list[nn.Module], read=None):
        self.values: list[Any] = [None] * len(modules)
        self._handles = []
        for i, module in enumerate(modules):
            def hook(mod, args, output, i=i):
                self.values[i] = read(mod, args) if read else output
            self._handles.append(module.register_forward_hook(hook))

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _in_eval(model: nn.Module, fn):
    with evaluating(model), torch.inference_mode():
        return fn()


def _hidden_layers(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, MLP):
        return list(model.hidden)
    if isinstance(model, ResidualMLP):
        return list(model.blocks)
    return []


def boundary_snapshot(data: ToyDataset) -> Snapshot:
    """P(class 1) over the plane as a painted frame, plus every hidden unit's output over the same plane."""
    painter, (x0, x1, y0, y1) = painter_for(data.points, (data.train.y.numpy(), data.test.y.numpy()))
    xs, ys = np.linspace(x0, x1, GRID, dtype=np.float32), np.linspace(y1, y0, GRID, dtype=np.float32)
    plane = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    grid = torch.from_numpy(expand_features(plane, data.features))

    def snapshot(model: nn.Module) -> dict[str, Any]:
        layers = _hidden_layers(model)
        recorder = _Recorder(layers)
        try:
            probs = _in_eval(model, lambda: torch.softmax(model(grid), dim=1)[:, 1].reshape(GRID, GRID).numpy())
        finally:
            recorder.close()
        out = {"boundary": painter.paint(probs)}
        if layers:
            rows = []
            for i, values in enumerate(recorder.values, 1):
                units = values.shape[1]
                shown = min(units, UNITS_SHOWN)
                tiles = list(heat_tiles(values[:, :shown].T.reshape(shown, GRID, GRID).numpy(), TILE))
                rows.append((f"hidden {i}: {shown} of {units} units", tiles))
            out["inside"] = sheet(rows)
            out["inside_caption"] = "Each hidden unit's output over the input plane (blue < 0 < orange)"
        return out

    return snapshot


def cnn_snapshot(data: ToyDataset) -> Snapshot:
    """One test digit through the CNN: each block's feature maps and channel-attention weights."""
    digit, label = data.test.x[:1], int(data.test.y[0])

    def snapshot(model: nn.Module) -> dict[str, Any]:
        blocks = [model.stem, *model.blocks]
        maps = _Recorder(blocks)
        gates = _Recorder([block.main[5] for block in model.blocks], read=lambda mod, args: mod.gate(args[0]))
        try:
            guess = _in_eval(model, lambda: int(model(digit).argmax(1)))
        finally:
            maps.close()
            gates.close()
        rows = [(f"input: a {label} (the model says {guess})", [grey(digit[0, 0].numpy(), TILE)])]
        for i, (fmap, gate) in enumerate(zip(maps.values, [None, *gates.values])):
            channels = fmap.shape[1]
            shown = min(channels, UNITS_SHOWN)
            size = fmap.shape[-1]
            tiles = list(heat_tiles(fmap[0, :shown].numpy(), TILE, symmetric=False))
            name = "stem" if i == 0 else f"block {i}"
            rows.append((f"{name}: {shown} of {channels} feature maps, {size}x{size}", tiles))
            if gate is not None:
                rows.append((f"block {i}: channel-attention weights (0 to 1), all {channels}",
                             [bars(gate[0].numpy(), max(TILE * 4, 4 * channels), TILE)]))
        return {"inside": sheet(rows), "inside_caption": "Feature maps and channel attention for one test digit"}

    return snapshot


def weights_snapshot() -> Snapshot:
    """MLPs on digits: what each first-layer unit looks for, as an 8x8 picture of its weights."""

    def snapshot(model: nn.Module) -> dict[str, Any]:
        first = model.hidden[0].linear if isinstance(model, MLP) else model.blocks[0].main[0]
        weight = first.weight.detach()
        shown = min(weight.shape[0], UNITS_SHOWN * 2)
        tiles = list(heat_tiles(weight[:shown].reshape(shown, 8, 8).numpy(), TILE))
        rows = [(f"units {i + 1}-{min(i + UNITS_SHOWN, shown)}", tiles[i:i + UNITS_SHOWN])
                for i in range(0, shown, UNITS_SHOWN)]
        return {"inside": sheet(rows), "inside_caption": "First-layer weights of each unit as 8x8 pictures"}

    return snapshot


def sequence_snapshot(data: ToyDataset, count: int = 6) -> Snapshot:
    """Answers on a few test sequences; inside the RNN its hidden state, inside the transformer its attention."""
    split = data.test
    tokens, lengths, targets = split.x[:count], split.lengths[:count], split.y[:count]
    n = int(lengths[0])
    one = tokens[:1, :n]
    text = describe_sequence(tokens[0], n)

    def inside(model: nn.Module) -> dict[str, Any]:
        if isinstance(model, SequenceRNN):
            states, _ = model.rnn(model.embed(one))  # one sequence, no padding: no packing needed
            values = states[0].T.numpy()  # (units, time)
            rows = min(values.shape[0], 48)
            picture = heat(values[:rows], (rows * 5, n * 18))
            return {"inside": sheet([(f"{rows} of {values.shape[0]} units (rows) after each token of {text}",
                                      [picture])]),
                    "inside_caption": f"The RNN's hidden state over time for the test sequence {text}"}
        if isinstance(model, TransformerClassifier):
            watch = _Recorder([block.attn for block in model.blocks], read=lambda mod, args: mod.weights(*args))
            try:
                model(one, torch.tensor([n]))
            finally:
                watch.close()
            rows = [(f"block {b}: heads 1-{w.shape[1]}", list(heat_tiles(w[0].numpy(), 72, symmetric=False)))
                    for b, w in enumerate(watch.values, 1)]
            return {"inside": sheet(rows),
                    "inside_caption": f"Attention of every head (rows: query token, columns: key token) for {text}"}
        return {}

    def snapshot(model: nn.Module) -> dict[str, Any]:
        def look():
            probs = torch.softmax(model(tokens, lengths), dim=1)
            return probs, inside(model)

        probs, pictures = _in_eval(model, look)
        rows = []
        for i in range(len(targets)):
            guess = int(probs[i].argmax())
            rows.append({
                "sequence": describe_sequence(tokens[i], int(lengths[i])),
                "answer": data.class_names[int(targets[i])],
                "model says": data.class_names[guess],
                "confidence": round(float(probs[i, guess]), 3),
            })
        return {"predictions": rows, **pictures}

    return snapshot


def snapshot_for(config: PlaygroundConfig, data: ToyDataset) -> Snapshot | None:
    if data.kind == "points":
        return boundary_snapshot(data)
    if data.kind == "sequence":
        return sequence_snapshot(data)
    if config.model == "cnn":
        return cnn_snapshot(data)
    return weights_snapshot()
