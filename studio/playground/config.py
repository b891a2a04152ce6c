"""What a playground run is made of, as one validated dataclass (no torch import here).

The names below feed the UI's dropdowns and the engine's dispatch alike, and a
`PlaygroundConfig` round-trips through a short share string (see share.py), so a
teacher can hand a class an exact setup.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from studio.errors import ConfigError

MODELS = {
    "mlp": "MLP (per-layer activations, dropout, batch norm, residuals)",
    "resmlp": "Residual feed-forward network",
    "cnn": "CNN with residual blocks and channel attention",
    "rnn": "RNN (LSTM or GRU) over variable-length sequences",
    "transformer": "Transformer encoder",
}
POINT_DATASETS = ("spiral", "circle", "xor", "gaussians", "moons")
IMAGE_DATASETS = ("digits",)
SEQUENCE_DATASETS = ("parity", "majority", "sorted")
DATASETS_FOR_MODEL = {
    "mlp": POINT_DATASETS + IMAGE_DATASETS,
    "resmlp": POINT_DATASETS + IMAGE_DATASETS,
    "cnn": IMAGE_DATASETS,
    "rnn": SEQUENCE_DATASETS,
    "transformer": SEQUENCE_DATASETS,
}
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "sigmoid", "tanh", "swish")
SCHEDULERS = ("cosine", "linear", "none")
RNN_CELLS = ("lstm", "gru")
POOLINGS = ("attention", "last")
NORM_PLACEMENTS = ("pre", "post")
# Input features of a 2-D point (ids; toydata.FEATURES computes them, the page labels them x², sin x ...).
FEATURE_IDS = ("x", "y", "x2", "y2", "xy", "sinx", "siny")
POSITIONS = ("learned", "sinusoidal")

MAX_LAYERS = 8
MAX_WIDTH = 512
MAX_EPOCHS = 2000


@dataclass(frozen=True)
class PlaygroundConfig:
    # What to learn
    model: str = "mlp"
    dataset: str = "spiral"
    samples: int = 1000  # points or sequences made (digits always has 1797)
    noise: float = 0.1  # 2-D: jitter of the points; sequences: fraction of flipped labels
    test_fraction: float = 0.25
    seed: int = 0
    features: tuple[str, ...] = ("x", "y")  # 2-D data sets: what the network sees of each point
    balance: float = 0.5  # 2-D data sets: share of the points in class 0 (blue); 0.5 is even
    # Shape of the network; per-layer tuples have one entry per hidden layer
    widths: tuple[int, ...] = (64, 64, 64)
    activations: tuple[str, ...] = ("gelu", "gelu", "gelu")
    dropouts: tuple[float, ...] = (0.0, 0.0, 0.0)
    batch_norm: bool = False
    residual: bool = True  # MLP: skip connections where widths match
    rnn_cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "attention"
    heads: int = 4
    norm: str = "pre"
    positions: str = "learned"
    # How to train it
    learning_rate: float = 0.01
    weight_decay: float = 1e-4
    batch_size: int = 32
    epochs: int = 150
    accumulation: int = 1
    scheduler: str = "cosine"
    warmup_steps: int = 20
    clip_norm: float = 1.0
    patience: int = 40  # epochs without a better validation loss before stopping; 0 never stops early
    val_fraction: float = 0.15  # of the training split, held out for early stopping and the best checkpoint

    def __post_init__(self) -> None:
        if isinstance(self.features, (list, tuple)) and set(self.features) <= set(FEATURE_IDS):
            # One spelling per set of features, so equal setups compare (and share) equal.
            object.__setattr__(self, "features", tuple(f for f in FEATURE_IDS if f in self.features))
        check_config(self)

    @property
    def layers(self) -> int:
        return len(self.widths)

    @property
    def task(self) -> str:
        """'points', 'image' or 'sequence': decides the pictures drawn while training."""
        if self.dataset in POINT_DATASETS:
            return "points"
        if self.dataset in IMAGE_DATASETS:
            return "image"
        return "sequence"

    @property
    def uses_batch_norm(self) -> bool:
        """Batch norm needs two or more rows per training batch (the CNN and residual MLP always have it)."""
        return self.model in ("resmlp", "cnn") or (self.model == "mlp" and self.batch_norm)

    def replace(self, **changes) -> "PlaygroundConfig":
        return dataclasses.replace(self, **changes)


def _choice(field_name: str, value: str, options) -> None:
    if value not in options:
        raise ConfigError(field_name, value, f"choose one of {', '.join(options)}")


def _within(field_name: str, value, low, high, what: str) -> None:
    """NaN and infinities fail here too: a comparison with NaN is False, and the bounds are finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
        raise ConfigError(field_name, value, f"expected {what} between {low} and {high}")


def check_config(c: PlaygroundConfig) -> None:
    """All validation in one place; each message names the field and the bad value."""
    _choice("model", c.model, MODELS)
    _choice("dataset", c.dataset, DATASETS_FOR_MODEL[c.model])
    _within("samples", c.samples, 50, 20000, "a number of samples")
    _within("noise", c.noise, 0.0, 1.0, "a noise level")
    _within("test fraction", c.test_fraction, 0.05, 0.5, "a fraction")
    _within("class balance", c.balance, 0.1, 0.9, "a share of blue points")
    _within("validation fraction", c.val_fraction, 0.0, 0.5, "a fraction")
    _within("seed", c.seed, 0, 2**31 - 1, "a seed")
    if not isinstance(c.features, tuple) or not c.features or not set(c.features) <= set(FEATURE_IDS):
        raise ConfigError("features", c.features, f"choose one or more of {', '.join(FEATURE_IDS)}")
    if not 1 <= c.layers <= MAX_LAYERS:
        raise ConfigError("layers", c.layers, f"use between 1 and {MAX_LAYERS} hidden layers")
    for name, values in (("activation", c.activations), ("dropout", c.dropouts)):
        if len(values) != c.layers:
            raise ConfigError(name, values, f"give one value, or one per layer ({c.layers})")
    for w in c.widths:
        _within("width", w, 2, MAX_WIDTH, "a layer width")
    for a in c.activations:
        _choice("activation", a, ACTIVATIONS)
    for d in c.dropouts:
        _within("dropout", d, 0.0, 0.9, "a dropout rate")
    _choice("rnn cell", c.rnn_cell, RNN_CELLS)
    _choice("pooling", c.pooling, POOLINGS)
    _choice("norm", c.norm, NORM_PLACEMENTS)
    _choice("positions", c.positions, POSITIONS)
    _within("heads", c.heads, 1, 16, "a number of heads")
    if c.model == "transformer" and c.widths[0] % c.heads:
        raise ConfigError("heads", c.heads, f"the width ({c.widths[0]}) must be divisible by the number of heads")
    if not (isinstance(c.learning_rate, (int, float)) and math.isfinite(c.learning_rate) and 0 < c.learning_rate <= 1):
        raise ConfigError("learning rate", c.learning_rate, "expected a positive number no larger than 1 (try 0.01)")
    _within("weight decay", c.weight_decay, 0.0, 1.0, "a weight decay")
    _within("batch size", c.batch_size, 1, 4096, "a batch size")
    if c.batch_size == 1 and c.uses_batch_norm:
        raise ConfigError("batch size", 1, "batch norm needs at least 2 rows per batch: use 2 or more"
                          + (", or turn batch norm off" if c.model == "mlp" else ""))
    _within("epochs", c.epochs, 1, MAX_EPOCHS, "a number of epochs")
    _within("gradient accumulation", c.accumulation, 1, 64, "a number of micro-batches")
    _choice("scheduler", c.scheduler, SCHEDULERS)
    _within("warmup steps", c.warmup_steps, 0, 100000, "a number of steps")
    _within("gradient clipping", c.clip_norm, 0.0, 1000.0, "a norm (0 turns clipping off)")
    _within("patience", c.patience, 0, MAX_EPOCHS, "a number of epochs")


# Starting points that train well, applied when the user picks a model.
MODEL_DEFAULTS: dict[str, dict] = {
    "mlp": dict(dataset="spiral", widths=(64, 64, 64), activations=("gelu",) * 3, dropouts=(0.0,) * 3,
                learning_rate=0.01, batch_size=32, epochs=150, patience=40),
    "resmlp": dict(dataset="moons", widths=(64, 64), activations=("gelu",) * 2, dropouts=(0.1,) * 2,
                   batch_norm=True, learning_rate=0.01, batch_size=32, epochs=60, patience=20),
    "cnn": dict(dataset="digits", widths=(16, 32), activations=("relu",) * 2, dropouts=(0.1,) * 2,
                learning_rate=0.005, batch_size=64, epochs=20, patience=8),
    "rnn": dict(dataset="parity", widths=(32,), activations=("tanh",), dropouts=(0.0,), samples=3000, noise=0.0,
                bidirectional=False, pooling="last", learning_rate=0.01, batch_size=64, epochs=40, patience=15),
    "transformer": dict(dataset="majority", widths=(64, 64), activations=("gelu",) * 2, dropouts=(0.0,) * 2,
                        samples=3000, noise=0.0, learning_rate=0.002, batch_size=64, epochs=30, patience=10),
}


def defaults_for(model: str, **overrides) -> PlaygroundConfig:
    """The model's preset with `overrides`; per-layer values not given follow the number of widths."""
    if model not in MODEL_DEFAULTS:
        raise ConfigError("model", model, f"choose one of {', '.join(MODELS)}")
    fields = MODEL_DEFAULTS[model] | overrides
    layers = len(fields["widths"])
    for name in ("activations", "dropouts"):
        if name not in overrides and len(fields[name]) != layers:
            fields[name] = fields[name][:1] * layers
    return PlaygroundConfig(model=model, **fields)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(PlaygroundConfig)]
