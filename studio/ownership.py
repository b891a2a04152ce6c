"""Whose is it: every output, upload and run lives under its owner's own folder.

An owner key is an opaque string from the page (a signed-in user, a browser's
visitor cookie, or a session). On disk it becomes a one-way tag, so folder
names reveal nobody's identity and cannot be derived without the key. Engines
need not know any of this: a job's settings carry `outputs_dir` already
pointing at the owner's folder, so `new_output_dir(settings.outputs_dir, ...)`
and the fine-tune run list see only that owner's files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

VISITORS = "visitors"


def owner_tag(owner: str) -> str:
    return hashlib.sha256(f"genai-studio:{owner}".encode()).hexdigest()[:24]


def owner_outputs(outputs_dir: Path, owner: str) -> Path:
    return Path(outputs_dir) / VISITORS / owner_tag(owner)


def settings_for(settings, owner: str):
    """The settings a job of `owner` runs with: the same, with outputs in the owner's folder."""
    return dataclasses.replace(settings, outputs_dir=owner_outputs(settings.outputs_dir, owner))


def is_owned(path: str | Path, settings, owner: str) -> bool:
    """True when `path` lies inside the owner's folder (after resolving links and `..`)."""
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return False
    root = owner_outputs(settings.outputs_dir, owner).resolve()
    return root in resolved.parents


def clean_old_outputs(outputs_dir: Path, max_age_s: float, keep: set[Path] | None = None) -> int:
    """Delete output folders (`visitors/<tag>/<kind>/<folder>`) untouched for `max_age_s`; returns how many.

    A folder counts as touched when any file in it changed, so a fine-tune run that is
    still writing checkpoints is never removed. Folders in `keep` (running jobs) stay.
    """
    root = Path(outputs_dir) / VISITORS
    if max_age_s <= 0 or not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for folder in root.glob("*/*/*"):
        if not folder.is_dir() or (keep and folder.resolve() in keep):
            continue
        newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    for empty in sorted(root.glob("*/*"), reverse=True) + sorted(root.glob("*")):
        try:
            empty.rmdir()  # only succeeds when empty
        except OSError:
            pass
    if removed:
        log.info("housekeeping: removed %d output folder(s) older than %.1f h", removed, max_age_s / 3600)
    return removed
