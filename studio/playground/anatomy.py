"""What a configured network is made of (layers, widths, parameters), worked out without building it.

The page draws the network as the controls change, and the page process does no
tensor work, so the parameter counts are computed here by formula; a unit test
checks each one against `count_parameters(build_model(...))` for every model.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import IMAGE_DATASETS, POINT_DATASETS, PlaygroundConfig

SEQ_VOCAB, SEQ_MAX_LEN = 4, 16  # as toydata makes them (kept here so this module needs nothing else)
CLASSES = {"digits": 10, "majority": 3}  # every other data set has two classes


@dataclass(frozen=True)
class LayerInfo:
    name: str  # "input", "hidden 1", "block 2", "LSTM", "head" ...
    detail: str  # a short line: "64 units · gelu · dropout 0.1"
    units: int  # width (or channels) drawn as the layer's height
    params: int


def num_classes(config: PlaygroundConfig) -> int:
    return CLASSES.get(config.dataset, 2)


def input_size(config: PlaygroundConfig) -> int:
    if config.dataset in POINT_DATASETS:
        return len(config.features)
    return 64 if config.dataset in IMAGE_DATASETS else SEQ_VOCAB


def _linear(a: int, b: int, bias: bool = True) -> int:
    return a * b + (b if bias else 0)


def _mlp(c: PlaygroundConfig, d_in: int, classes: int) -> list[LayerInfo]:
    layers, sizes = [], (d_in, *c.widths)
    for i, (a, b, act, p) in enumerate(zip(sizes[:-1], sizes[1:], c.activations, c.dropouts), 1):
        skip = " · skip" if c.residual and a == b else ""
        norm = " · batch norm" if c.batch_norm else ""
        layers.append(LayerInfo(f"hidden {i}", f"{b} units · {act}{norm}{f' · dropout {p:g}' if p else ''}{skip}", b,
                                _linear(a, b) + (2 * b if c.batch_norm else 0)))
    return layers


def _resmlp(c: PlaygroundConfig, d_in: int, classes: int) -> list[LayerInfo]:
    layers, sizes = [], (d_in, *c.widths)
    for i, (a, b, p) in enumerate(zip(sizes[:-1], sizes[1:], c.dropouts), 1):
        params = _linear(a, b) + 2 * b + _linear(b, b) + 2 * b + (a * b if a != b else 0)
        layers.append(LayerInfo(f"block {i}", f"{b} units · 2 linear + batch norm · gelu · skip", b, params))
    return layers


def _cnn(c: PlaygroundConfig, d_in: int, classes: int) -> list[LayerInfo]:
    w0, size = c.widths[0], 8
    layers = [LayerInfo("stem", f"conv 3×3 · {w0} channels · 8×8", w0, 9 * w0 + 2 * w0)]
    chans = (w0, *c.widths)
    for i, (a, b, act) in enumerate(zip(chans[:-1], chans[1:], c.activations)):
        stride = 1 if i == 0 else 2
        size = (size - 1) // stride + 1
        hidden = max(1, b // 8)
        params = 9 * a * b + 2 * b + 9 * b * b + 2 * b + _linear(b, hidden) + _linear(hidden, b)
        if stride != 1 or a != b:
            params += a * b + 2 * b
        layers.append(LayerInfo(f"block {i + 1}", f"2 conv 3×3 · {b} channels · {size}×{size} · {act} · "
                                                  "channel attention", b, params))
    return layers


def _rnn(c: PlaygroundConfig, d_in: int, classes: int) -> list[LayerInfo]:
    h, dirs = c.widths[0], 2 if c.bidirectional else 1
    gates = 4 if c.rnn_cell == "lstm" else 3
    layers = [LayerInfo("embedding", f"{SEQ_VOCAB} tokens → {h}", h, SEQ_VOCAB * h)]
    for i in range(c.layers):
        a = h if i == 0 else h * dirs
        params = dirs * gates * (a * h + h * h + 2 * h)
        layers.append(LayerInfo(f"{c.rnn_cell.upper()} {i + 1}",
                                f"{h} units{' × 2 directions' if dirs == 2 else ''}", h * dirs, params))
    out = h * dirs
    layers.append(LayerInfo("pooling", f"{c.pooling} pooling", out, out + 1))
    layers.append(LayerInfo("hidden", f"{h} units · {c.activations[0]}", h, _linear(out, h)))
    return layers


def _transformer(c: PlaygroundConfig, d_in: int, classes: int) -> list[LayerInfo]:
    d = c.widths[0]
    positions = SEQ_MAX_LEN * d if c.positions == "learned" else 0
    layers = [LayerInfo("embedding", f"{SEQ_VOCAB} tokens → {d} + {c.positions} positions", d,
                        SEQ_VOCAB * d + positions)]
    for i, act in enumerate(c.activations, 1):
        params = _linear(d, 3 * d) + _linear(d, d) + _linear(d, 4 * d) + _linear(4 * d, d) + 4 * d
        layers.append(LayerInfo(f"block {i}", f"{c.heads} heads × {d // c.heads} · {c.norm}-norm · "
                                              f"feed-forward {4 * d} · {act}", d, params))
    if c.norm == "pre":
        layers.append(LayerInfo("final norm", "layer norm", d, 2 * d))
    return layers


_BUILDERS = {"mlp": _mlp, "resmlp": _resmlp, "cnn": _cnn, "rnn": _rnn, "transformer": _transformer}


def anatomy(config: PlaygroundConfig) -> list[LayerInfo]:
    """The network as layers from input to output, each with its parameter count."""
    d_in, classes = input_size(config), num_classes(config)
    if config.dataset in POINT_DATASETS:
        first = LayerInfo("input", ", ".join(config.features), d_in, 0)
    elif config.dataset in IMAGE_DATASETS:
        first = LayerInfo("input", "8×8 pixels", d_in if config.model != "cnn" else 1, 0)
    else:
        first = LayerInfo("input", f"up to {SEQ_MAX_LEN} tokens", SEQ_MAX_LEN, 0)
    body = _BUILDERS[config.model](config, d_in, classes)
    head = LayerInfo("output", f"{classes} classes", classes, _linear(body[-1].units, classes))
    return [first, *body, head]


def total_parameters(config: PlaygroundConfig) -> int:
    return sum(layer.params for layer in anatomy(config))
