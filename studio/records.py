"""The JSON record written beside every output, so any result can be made again.

A record holds the exact settings, seed, library versions and device. It never
holds secrets: `HF_TOKEN` is not a setting any config carries, and keys that
look like credentials are dropped as a second line of defence.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import platform
import re
import secrets
import time
from pathlib import Path
from typing import Any

# "hf_token", "access_token" are secrets; "max_new_tokens" and "tokens" are settings and stats to keep.
_SECRET_KEY = re.compile(r"(^|_)token$|secret|password|api_?key", re.IGNORECASE)
_LIBRARIES = ("torch", "transformers", "diffusers", "peft", "accelerate", "gradio", "numpy")


@functools.lru_cache(maxsize=1)  # reading package metadata costs ~10 ms: once per process is enough
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = [("python", platform.python_version())]
    for name in _LIBRARIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return tuple(versions)


def library_versions() -> dict[str, str]:
    return dict(_installed_versions())


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def make_record(kind: str, settings: Any, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": _plain(settings),
        "versions": library_versions(),
        **{k: _plain(v) for k, v in extra.items()},
    }


def new_output_dir(outputs_dir: Path, kind: str) -> Path:
    """A fresh folder `<outputs>/<kind>/<timestamp>-<random>` that no other output shares.

    The random part (64 bits) makes names unguessable: knowing when someone made
    something is not enough to find it.
    """
    base = Path(outputs_dir) / kind
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        candidate = base / f"{stamp}-{secrets.token_hex(8)}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not make a new folder under {base}")


def write_record(folder: Path, record: dict[str, Any], name: str = "record.json") -> Path:
    path = Path(folder) / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    tmp.replace(path)  # never leave a half-written record
    return path
