"""The shipped weights are the ones their manifests describe, small, and rebuildable by a stated command."""

import hashlib
import json
from pathlib import Path

import pytest

from studio.embedded import EMBEDDED_DIR

MANIFESTS = sorted(EMBEDDED_DIR.glob("*/MANIFEST.json"))
MAX_FOLDER_BYTES = 12 * 2**20  # "a few MB each"


def checksums(manifest: dict) -> dict[str, str]:
    """{file: sha256}; the builders write either {file: hash} or {file: {sha256, bytes}}."""
    table = manifest.get("files") or manifest.get("sha256") or {}
    return {name: entry["sha256"] if isinstance(entry, dict) else entry for name, entry in table.items()}


def test_every_embedded_model_has_a_manifest():
    folders = {p.name for p in EMBEDDED_DIR.iterdir() if p.is_dir()}
    assert folders and folders == {m.parent.name for m in MANIFESTS}


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.parent.name)
def test_files_match_their_checksums(manifest_path: Path):
    manifest = json.loads(manifest_path.read_text())
    table = checksums(manifest)
    assert table, "the manifest lists no files"
    assert "python -m studio" in (manifest.get("command") or manifest.get("rebuild") or "")
    for name, digest in table.items():
        path = manifest_path.parent / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{name} differs from its manifest"
    weights = [p for p in manifest_path.parent.rglob("*.safetensors")]
    assert weights and all(str(p.relative_to(manifest_path.parent)) in table for p in weights)
    assert sum(p.stat().st_size for p in manifest_path.parent.rglob("*") if p.is_file()) < MAX_FOLDER_BYTES
