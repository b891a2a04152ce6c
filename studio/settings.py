"""Everything the studio reads from its environment, read once into a frozen dataclass.

`.env` is loaded first (without overriding real environment variables), so a
Space's secrets and a classroom machine's `.env` work the same way. Every
field here is documented in `.env.example`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(name, raw, "expected a whole number") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, raw, "expected true or false")


@dataclass(frozen=True)
class Settings:
    outputs_dir: Path = PROJECT_ROOT / "outputs"
    device: str = "auto"  # auto | cpu | cuda | mps
    host: str = "127.0.0.1"
    port: int = 7860
    queue_max_size: int = 16
    max_file_size_mb: int = 25
    torch_threads: int = 0  # 0 = half the cores, at most 8 (see devices.auto_threads)
    trust_remote_code: bool = False
    # Kept out of repr so it never reaches a log line or a traceback.
    hf_token: str | None = field(default=None, repr=False)

    @property
    def max_file_size(self) -> str:
        return f"{self.max_file_size_mb}mb"


def load_settings(env_file: str | os.PathLike | None = None) -> Settings:
    """Read the environment (after `.env`) into a `Settings`."""
    load_dotenv(env_file or PROJECT_ROOT / ".env", override=False)
    on_space = bool(os.environ.get("SPACE_ID"))
    device = os.environ.get("STUDIO_DEVICE", "auto").strip().lower() or "auto"
    if device not in {"auto", "cpu", "cuda", "mps"}:
        raise ConfigError("STUDIO_DEVICE", device, "use auto, cpu, cuda or mps")
    return Settings(
        outputs_dir=Path(os.environ.get("STUDIO_OUTPUTS_DIR") or PROJECT_ROOT / "outputs"),
        device=device,
        host=os.environ.get("STUDIO_HOST") or ("0.0.0.0" if on_space else "127.0.0.1"),
        port=_int("STUDIO_PORT", 7860),
        queue_max_size=_int("STUDIO_QUEUE_MAX_SIZE", 16),
        max_file_size_mb=_int("STUDIO_MAX_FILE_SIZE_MB", 25),
        torch_threads=_int("STUDIO_TORCH_THREADS", 0),
        trust_remote_code=_bool("STUDIO_TRUST_REMOTE_CODE", False),
        hf_token=os.environ.get("HF_TOKEN") or None,
    )
