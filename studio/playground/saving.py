"""A finished playground run as files in its owner's outputs folder: weights, and the record that remakes them."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.records import make_record, new_output_dir, write_record

from .config import PlaygroundConfig
from .share import encode
from .training import PlaygroundResult


def save_run(config: PlaygroundConfig, result: PlaygroundResult, outputs_dir: Path, story: str = "") -> Path:
    """Write `model.pt` (the restored best weights) and `record.json`; returns the folder.

    `outputs_dir` is the owner's own folder (a job's `run.settings.outputs_dir`)."""
    folder = new_output_dir(outputs_dir, "playground")
    if result.model is not None:
        torch.save(result.model.state_dict(), folder / "model.pt")
    write_record(folder, make_record(
        "playground", config, setup=encode(config), result=result.summary(), story=story,
        history=[vars(m) for m in result.history],
        remake=f"python -m studio playground --setup {encode(config)} --json",
    ))
    return folder
