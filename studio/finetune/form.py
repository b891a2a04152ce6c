"""The Fine-tune tab's fields as plain values, and the `FinetuneConfig` they make (no Gradio here).

One named value per field, so the tab, its public API (`finetune_train`) and
tests share the same names and defaults. Data comes only from uploads (the
files Gradio received in this request) and the bundled example sets: a stage
names an uploaded file by its file name, never by a server path.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.errors import ConfigError

from .config import FinetuneConfig, MethodSettings, Stage, TrainingSettings

METHOD_FIELDS = ("method", "rank", "alpha", "dropout", "target_modules", "bias", "quant_type", "double_quant")
TRAINING_FIELDS = ("learning_rate", "epochs", "max_steps", "batch_size", "grad_accumulation", "warmup_steps",
                   "scheduler", "weight_decay", "max_length", "overlong", "gradient_checkpointing", "eval_steps",
                   "logging_steps", "save_steps", "seed", "validation_fraction", "precision", "restore_best",
                   "processes")
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


def upload_paths(upload) -> list[str]:
    """The server paths of this request's uploads (Gradio gives a path, a list of paths, or FileData dicts)."""
    items = upload if isinstance(upload, (list, tuple)) else [upload] if upload else []
    paths = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("path")
        if item:
            paths.append(str(item))
    return paths


def uploaded_files(upload, max_uploads: int) -> dict[str, str]:
    """{file name as the visitor knows it: uploaded copy}, at most `max_uploads` (the operator's limit)."""
    paths = upload_paths(upload)
    if len(paths) > max_uploads:
        raise ConfigError("upload", f"{len(paths)} files", f"upload at most {max_uploads} files at once "
                                                           "(max_uploads)")
    files: dict[str, str] = {}
    for path in paths:
        name = Path(path).name
        if name in files:
            raise ConfigError("upload", name, "upload files with different names (stages name them by file name)")
        files[name] = path
    return files


def parse_form(values: dict, max_uploads: int = 8) -> tuple[FinetuneConfig, dict[str, str]]:
    """(config, uploads): `uploads` maps an uploaded file's name to its server copy."""
    uploads = uploaded_files(values.get("upload"), max_uploads)
    stages = parse_stages(values.get("stages") or "")
    if uploads and not stages and len(uploads) > 1:
        raise ConfigError("upload", ", ".join(uploads), "upload one file, or name each file in a curriculum stage")
    data = next(iter(uploads)) if uploads and not stages else (values.get("example") or "")
    method = MethodSettings(**{k: values[k] for k in METHOD_FIELDS if values.get(k) is not None})
    training = TrainingSettings(**{k: values[k] for k in TRAINING_FIELDS if values.get(k) is not None})
    prompts = [line.strip() for line in (values.get("compare_prompts") or "").splitlines() if line.strip()]
    config = FinetuneConfig(model=(values.get("model") or "").strip() or FinetuneConfig.model, data=data,
                            method=method, training=training, stages=stages, compare_prompts=prompts)
    return config, uploads
