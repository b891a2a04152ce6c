"""Training history as rows for line plots: a pure function, cheap to import (no torch)."""

from __future__ import annotations

from typing import Any


def curve_rows(history) -> list[dict[str, Any]]:
    """Long-format rows (epoch, value, series, metric) for the loss and accuracy plots."""
    rows = []
    for m in history:
        for split in ("train", "val", "test"):
            rows.append({"epoch": m["epoch"], "value": m[f"{split}_loss"], "series": split, "metric": "loss"})
            rows.append({"epoch": m["epoch"], "value": m[f"{split}_accuracy"], "series": split, "metric": "accuracy"})
    return rows
