"""A finished playground run as files under the outputs folder: weights, and the record that remakes them."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.records import make_record, new_output_dir, write_record

from .config import PlaygroundConfig
from .share import encode
from .training import PlaygroundResult


def save_run(config: PlaygroundConfig, result: PlaygroundResult, outputs_dir: Path) -> Path:
    """Write `model.pt` (the restored best weights) and `record.json`; returns the folder."""
    folder = new_output_dir(outputs_dir, "playground")
    if result.model is not None:
        torch.save(result.model.state_dict(), folder / "model.pt")
    write_record(folder, make_record(
        "playground", config, setup=encode(config), result=result.summary(),
        history=[vars(m) for m in result.history],
        remake=f"python -m studio playground --setup {encode(config)} --json",
    ))
    return folder
