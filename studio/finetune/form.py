"""The Fine-tune tab's fields as plain values, and the `FinetuneConfig` they make (no Gradio here).

One named value per field, so the tab, its public API (`finetune_train`) and
tests share the same names and defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.errors import ConfigError

from .config import FinetuneConfig, MethodSettings, Stage, TrainingSettings

METHOD_FIELDS = ("method", "rank", "alpha", "dropout", "target_modules", "bias", "quant_type", "double_quant")
TRAINING_FIELDS = ("learning_rate", "epochs", "max_steps", "batch_size", "grad_accumulation", "warmup_steps",
                   "scheduler", "weight_decay", "max_length", "overlong", "gradient_checkpointing", "eval_steps",
                   "logging_steps", "save_steps", "seed", "validation_fraction", "precision")
FORM_FIELDS = ("upload", "example", "model", *METHOD_FIELDS, *TRAINING_FIELDS, "stages", "compare_prompts")


def defaults() -> dict:
    method, training = MethodSettings(), TrainingSettings()
    values = {name: getattr(method, name) for name in METHOD_FIELDS}
    values.update({name: getattr(training, name) for name in TRAINING_FIELDS})
    values.update(upload=None, example="sums-in-words", model=FinetuneConfig.model, stages="", compare_prompts="")
    return values


def parse_stages(text: str) -> list[Stage]:
    """A JSON list of stages, e.g. [{"name": "easy", "data": "sums-in-words-easy", "difficulty": 1}, ...]."""
    if not (text or "").strip():
        return []
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError("stages", text[:60], f"write a JSON list of stages ({err.msg} at column {err.colno})") \
            from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError("stages", text[:60], "write a JSON list of objects with name, data and difficulty")
    stages = []
    for item in items:
        try:
            stages.append(Stage(**item))
        except TypeError as err:
            raise ConfigError("stages", item, f"use only name, data, difficulty, learning_rate, epochs, max_steps, "
                                              f"max_length, batch_size ({err})") from None
    return stages


def parse_form(values: dict) -> tuple[FinetuneConfig, dict[str, str]]:
    """(config, uploads): `uploads` maps an uploaded file's server path to the name the user gave it."""
    upload = values.get("upload")
    if isinstance(upload, dict):  # the API may hand over a FileData dict
        upload = upload.get("path")
    uploads = {str(upload): Path(str(upload)).name} if upload else {}
    data = str(upload) if upload else (values.get("example") or "")
    method = MethodSettings(**{k: values[k] for k in METHOD_FIELDS if values.get(k) is not None})
    training = TrainingSettings(**{k: values[k] for k in TRAINING_FIELDS if values.get(k) is not None})
    prompts = [line.strip() for line in (values.get("compare_prompts") or "").splitlines() if line.strip()]
    config = FinetuneConfig(model=(values.get("model") or "").strip() or FinetuneConfig.model, data=data,
                            method=method, training=training, stages=parse_stages(values.get("stages") or ""),
                            compare_prompts=prompts)
    return config, uploads
