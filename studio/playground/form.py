"""Turns the Playground's form values (numbers and short texts) into a config and back.

Kept out of the UI layer so the parsing, and its messages naming the field, are
tested without a browser. Per-layer fields accept one value for every layer or
a comma-separated list with one value per layer.
"""

from __future__ import annotations

import math
from typing import Any

from studio.errors import ConfigError

from .config import MAX_LAYERS, PlaygroundConfig, defaults_for

NUMBER_FIELDS = {
    "samples": int, "noise": float, "test_fraction": float, "balance": float, "seed": int, "heads": int,
    "learning_rate": float, "weight_decay": float, "batch_size": int, "epochs": int, "accumulation": int,
    "warmup_steps": int, "clip_norm": float, "patience": int,
}
LABELS = {
    "learning_rate": "learning rate", "weight_decay": "weight decay", "batch_size": "batch size",
    "accumulation": "gradient accumulation", "warmup_steps": "warmup steps", "clip_norm": "gradient clipping",
    "test_fraction": "test fraction", "balance": "class balance",
}
FORM_FIELDS = (
    "model", "dataset", "samples", "noise", "test_fraction", "balance", "features", "seed",
    "layers", "width", "activation", "dropout", "batch_norm", "residual",
    "rnn_cell", "bidirectional", "pooling", "heads", "norm", "positions",
    "learning_rate", "weight_decay", "batch_size", "epochs", "accumulation", "scheduler", "warmup_steps",
    "clip_norm", "patience",
)


def _number(name: str, value: Any, cast):
    label = LABELS.get(name, name.replace("_", " "))
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(label, value, "this field needs a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(label, value, "this field needs a number") from None
    if not math.isfinite(number):
        raise ConfigError(label, value, "this field needs a finite number")
    if cast is int:
        if number != int(number):
            raise ConfigError(label, value, "this field needs a whole number")
        return int(number)
    return number


def _per_layer(name: str, text: Any, layers: int, cast, hint: str) -> tuple:
    parts = [p.strip() for p in str(text if text is not None else "").split(",")]
    if not parts or any(p == "" for p in parts):
        raise ConfigError(name, text, hint)
    try:
        values = [cast(p) for p in parts]
    except ValueError:
        raise ConfigError(name, text, hint) from None
    if len(values) == 1:
        values = values * layers
    if len(values) != layers:
        raise ConfigError(name, text, f"give one value, or one per layer ({layers} values)")
    return tuple(values)


def _int_text(text: str) -> int:
    value = float(text)
    if not math.isfinite(value) or value != int(value):
        raise ValueError(text)
    return int(value)


def parse_form(values: dict[str, Any]) -> PlaygroundConfig:
    """A validated config from form values; a bad field raises a `ConfigError` naming it."""
    layers = _number("layers", values.get("layers"), int)
    if not 1 <= layers <= MAX_LAYERS:
        raise ConfigError("layers", layers, f"use between 1 and {MAX_LAYERS} hidden layers")
    fields = {name: _number(name, values.get(name), cast) for name, cast in NUMBER_FIELDS.items()}
    fields["widths"] = _per_layer("width", values.get("width"), layers, _int_text,
                                  "a whole number, or one per layer separated by commas (e.g. 64, 32)")
    fields["activations"] = _per_layer("activation", values.get("activation"), layers, str.lower,
                                       "an activation name, or one per layer separated by commas")
    fields["dropouts"] = _per_layer("dropout", values.get("dropout"), layers, float,
                                    "a rate such as 0.1, or one per layer separated by commas")
    for name in ("model", "dataset", "rnn_cell", "pooling", "norm", "positions", "scheduler"):
        fields[name] = str(values.get(name) or "")
    for name in ("batch_norm", "residual", "bidirectional"):
        fields[name] = bool(values.get(name))
    features = values.get("features")
    if features is not None:  # an API caller may leave it out: the default features then
        fields["features"] = tuple(features) if isinstance(features, (list, tuple)) else (features,)
    model = fields.pop("model")
    return defaults_for(model, **fields)


def _join(values: tuple) -> str:
    return str(values[0]) if len(set(values)) == 1 else ", ".join(str(v) for v in values)


def form_values(config: PlaygroundConfig) -> dict[str, Any]:
    """The form values that show a config; `parse_form(form_values(c)) == c`."""
    values = {name: getattr(config, name) for name in FORM_FIELDS if hasattr(config, name)}
    values.update(layers=config.layers, width=_join(config.widths), features=list(config.features),
                  activation=_join(config.activations), dropout=_join(config.dropouts))
    return values
