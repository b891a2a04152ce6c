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


SPLITS = ("train", "val", "test")


def compared_rows(history, metric: str, kept=None, label: str = "") -> list[dict[str, Any]]:
    """One plot's rows with a kept run's curves overlaid as series named "train (label)" and so on.

    Every series appears in every frame: Gradio's LinePlot keeps the colour domain of the first frame it
    draws, so a series without a point yet gets a NaN row rather than none (or it would never be drawn)."""
    rows = [r for r in curve_rows(history) if r["metric"] == metric]
    if kept:
        rows += [{**r, "series": f"{r['series']} ({label})"} for r in curve_rows(kept) if r["metric"] == metric]
    names = [*SPLITS, *(f"{s} ({label})" for s in SPLITS)] if kept else list(SPLITS)
    present = {r["series"] for r in rows}
    first = min((r["epoch"] for r in rows), default=1.0)  # on the axis already, so the range stays put
    rows += [{"epoch": first, "value": float("nan"), "series": s, "metric": metric}
             for s in names if s not in present]
    return rows
