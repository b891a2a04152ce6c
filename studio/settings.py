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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, raw, "expected a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ConfigError(name, raw, "expected a finite number, 0 or more")
    return value


def _folders(name: str) -> tuple[Path, ...]:
    raw = os.environ.get(name, "").strip()
    return tuple(Path(p).expanduser().resolve() for p in raw.replace(",", os.pathsep).split(os.pathsep) if p.strip())


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, raw, "expected true or false")


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in allowed:
        raise ConfigError(name, raw, f"use {' or '.join(allowed)}")
    return raw


@dataclass(frozen=True)
class Settings:
    outputs_dir: Path = PROJECT_ROOT / "outputs"
    device: str = "auto"  # auto | cpu | cuda | mps
    host: str = "127.0.0.1"
    port: int = 7860
    queue_max_size: int = 64
    max_file_size_mb: int = 25
    torch_threads: int = 0  # 0 = half the cores, at most 8 (see devices.auto_threads)
    trust_remote_code: bool = False  # the operator's decision only: never a visitor control or API parameter
    workers: str = "process"  # process: heavy work in worker processes; thread: in this process (CLI, debugging)
    local_models: tuple[Path, ...] = ()  # folders whose models visitors may name by path; none by default
    locked: bool = False  # visitors choose only preset models (no free-text ids, no hub loading)
    output_max_age_hours: float = 24.0  # outputs and uploads older than this are deleted; 0 keeps them
    # Limits per request and per visitor (the admin can change them while the studio runs).
    max_jobs_per_visitor: int = 2
    playground_workers: int = 2  # Playground runs at once (each in its own process); more wait their turn
    finetune_workers: int = 1  # fine-tune runs at once (each in its own process)
    model_workers: int = 1  # worker processes per generation tab (text, image, audio); each holds its own model copy
    text_batch: int = 8  # text requests (Text tab and API) generated together in one batch; 1 = one at a time
    stop_grace_s: float = 1.5  # after Stop, a job has this long to end itself before its worker is killed
    worker_memory_gb: float = 0.0  # 0 = no cap
    max_new_tokens: int = 1024
    max_prompt_tokens: int = 4096
    max_image_pixels: int = 1024 * 1024
    max_audio_seconds: float = 30.0
    max_finetune_steps: int = 2000
    max_job_minutes: float = 30.0  # wall time of one training run or generation
    max_uploads: int = 8  # files in one request
    # Kept out of repr so they never reach a log line or a traceback.
    hf_token: str | None = field(default=None, repr=False)
    admin_password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)  # the OpenAI-compatible endpoint's key; None: no key

    @property
    def max_file_size(self) -> str:
        return f"{self.max_file_size_mb}mb"

    def local_model_allowed(self, path: str | os.PathLike) -> bool:
        """True when `path` lies inside a folder the operator listed in STUDIO_LOCAL_MODELS."""
        try:
            resolved = Path(path).expanduser().resolve()
        except (OSError, RuntimeError):
            return False
        return any(resolved == root or root in resolved.parents for root in self.local_models)


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
        host=(os.environ.get("GRADIO_SERVER_NAME") or os.environ.get("STUDIO_HOST")
              or ("0.0.0.0" if on_space else "127.0.0.1")),
        port=_int("GRADIO_SERVER_PORT", 0) or _int("STUDIO_PORT", 7860),
        queue_max_size=_int("STUDIO_QUEUE_MAX_SIZE", 64),
        max_file_size_mb=_int("STUDIO_MAX_FILE_SIZE_MB", 25),
        torch_threads=_int("STUDIO_TORCH_THREADS", 0),
        trust_remote_code=_bool("STUDIO_TRUST_REMOTE_CODE", False),
        workers=_choice("STUDIO_WORKERS", "process", ("process", "thread")),
        local_models=_folders("STUDIO_LOCAL_MODELS"),
        locked=_bool("STUDIO_LOCKED", False),
        output_max_age_hours=_float("STUDIO_OUTPUT_MAX_AGE_HOURS", 24.0),
        max_jobs_per_visitor=max(1, _int("STUDIO_MAX_JOBS_PER_VISITOR", 2)),
        playground_workers=max(1, _int("STUDIO_PLAYGROUND_WORKERS", 2)),
        finetune_workers=max(1, _int("STUDIO_FINETUNE_WORKERS", 1)),
        model_workers=max(1, _int("STUDIO_MODEL_WORKERS", 1)),
        text_batch=max(1, _int("STUDIO_TEXT_BATCH", 8)),
        stop_grace_s=_float("STUDIO_STOP_GRACE_S", 1.5),
        worker_memory_gb=_float("STUDIO_WORKER_MEMORY_GB", 0.0),
        max_new_tokens=max(1, _int("STUDIO_MAX_NEW_TOKENS", 1024)),
        max_prompt_tokens=max(16, _int("STUDIO_MAX_PROMPT_TOKENS", 4096)),
        max_image_pixels=max(32 * 32, _int("STUDIO_MAX_IMAGE_PIXELS", 1024 * 1024)),
        max_audio_seconds=max(1.0, _float("STUDIO_MAX_AUDIO_SECONDS", 30.0)),
        max_finetune_steps=max(1, _int("STUDIO_MAX_FINETUNE_STEPS", 2000)),
        max_job_minutes=_float("STUDIO_MAX_JOB_MINUTES", 30.0),
        max_uploads=max(1, _int("STUDIO_MAX_UPLOADS", 8)),
        hf_token=os.environ.get("HF_TOKEN") or None,
        admin_password=os.environ.get("STUDIO_ADMIN_PASSWORD") or None,
        api_key=os.environ.get("STUDIO_API_KEY") or None,
    )
