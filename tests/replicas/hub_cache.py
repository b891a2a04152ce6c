"""Put a saved model folder into a Hugging Face cache under a real hub id, as a download would.

Layout (what `huggingface_hub` reads offline):
    <cache>/models--<org>--<name>/snapshots/<commit>/...files...
    <cache>/models--<org>--<name>/refs/main            (the commit)
The commit is derived from the id, so builds are deterministic and records can name it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def commit_for(repo_id: str) -> str:
    return hashlib.sha1(f"replica:{repo_id}".encode()).hexdigest()


def place(folder: Path, repo_id: str, cache_dir: Path) -> Path:
    """Copy `folder` into `cache_dir` as the snapshot of `repo_id`; returns the snapshot folder."""
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    commit = commit_for(repo_id)
    snapshot = repo / "snapshots" / commit
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@contextmanager
def offline_cache(cache_dir: Path):
    """Point huggingface_hub (and so transformers/diffusers) at `cache_dir`, offline, for the block.

    huggingface_hub reads HF_HUB_CACHE into module constants at import, so those are patched too.
    """
    from huggingface_hub import constants

    saved_env = {k: os.environ.get(k) for k in ("HF_HUB_CACHE", "HF_HUB_OFFLINE")}
    saved = (constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE)
    os.environ["HF_HUB_CACHE"], os.environ["HF_HUB_OFFLINE"] = str(cache_dir), "1"
    constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE = str(cache_dir), True
    try:
        yield Path(cache_dir)
    finally:
        constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
