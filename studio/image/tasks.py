"""The Image tab's work as tasks of an image worker process (see docs/jobs.md).

The worker keeps one `ImageGenerator` (and so the loaded pipeline) between jobs;
everything a visitor chooses travels in the job's payload and everything they
own is found through the job's settings (`run.settings.outputs_dir` is their
own folder), so one worker serves every visitor without carrying one visitor's
choices into another's picture.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from studio.events import ProgressEvent

from .form import default
from .request import ImageRequest

WARM_PROMPT = default("prompt")


@dataclass(frozen=True)
class ImageJob:
    """One generation: the checked request, what model names may point at, and how often to send a preview."""

    request: ImageRequest
    scope: dict = field(default_factory=dict)  # LoadRequest's local_roots / any_path / presets_only
    preview_every: int = 0


@dataclass(frozen=True)
class LoraJob:
    """Load an uploaded LoRA file for its owner, checked against `model`."""

    model: str
    file: str  # the upload Gradio stored (never a path a visitor typed)
    name: str = ""
    scope: dict = field(default_factory=dict)


@functools.cache
def engine(device: str, token: str | None):
    """One generator per worker process: its loaded model stays for the next job."""
    from .generate import ImageGenerator
    from studio.settings import Settings

    return ImageGenerator(Settings(device=device, hf_token=token))


def _engine_for(run):
    return engine(run.settings.device, run.settings.hf_token)


def generate(payload: ImageJob, run):
    """Make the pictures; a `ProgressEvent` per denoising step (with a preview picture when asked)."""
    generator = _engine_for(run)
    run.emit(ProgressEvent(0, payload.request.steps, unit="steps", message=f"Loading {payload.request.model}..."))

    def on_progress(step):
        run.emit(ProgressEvent(step.step, step.total, unit="steps", message=f"Denoising ({step.phase})",
                               preview=step.preview))

    result = generator.generate(payload.request, on_progress=on_progress, should_stop=lambda: run.should_stop,
                                preview_every=payload.preview_every, scope=payload.scope,
                                outputs_dir=run.settings.outputs_dir, max_pixels=run.settings.max_image_pixels)
    result.images = []  # the page shows the saved PNGs; pictures need not cross the pipe twice
    return result


def load_lora(payload: LoraJob, run) -> str:
    return _engine_for(run).load_lora(payload.model, Path(payload.file), payload.name or None, scope=payload.scope,
                                      outputs_dir=run.settings.outputs_dir)


def unload_loras(payload, run) -> None:
    _engine_for(run).unload_loras(run.settings.outputs_dir)


def warm(payload, run):
    """Load the embedded model and make one tiny picture, so a visitor's first click is warm."""
    request = ImageRequest(WARM_PROMPT, steps=2)
    return _engine_for(run).generate(request, save=False, should_stop=lambda: run.should_stop)
