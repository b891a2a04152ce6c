"""The embedded models: built and trained by the project itself, so the studio works with no download."""

from pathlib import Path

from studio.settings import PROJECT_ROOT

EMBEDDED_DIR: Path = PROJECT_ROOT / "assets" / "embedded"
