"""Audio work as it runs in a worker process: `generate` for the tab, `warm` for the studio's start.

The worker keeps one `AudioGenerator` (and so its loaded MusicGen) between jobs;
each job's own settings say where its files go (`run.settings.outputs_dir` is the
visitor's folder) and how long a clip may be (`max_audio_seconds`, checked again
here: the page's check answers at once, this one is the one that counts).
"""

from __future__ import annotations

import functools
import time

from studio.events import ProgressEvent

from .generate import AudioGenerator, AudioProgress, AudioResult
from .request import EMBEDDED_MODEL, AudioJob, AudioRequest, check_limits

# The first decoder step, then at most one progress event every 0.25 s, then the last: the page's relay groups
# events that often anyway, and each batch it shows costs the page a round of updates.
PROGRESS_INTERVAL_S = 0.25


@functools.cache
def engine(device: str, token: str | None, trust_remote_code: bool) -> AudioGenerator:
    """One generator per worker process and device, so the model stays loaded between jobs."""
    from studio.settings import Settings

    return AudioGenerator(Settings(device=device, hf_token=token, trust_remote_code=trust_remote_code))


def engine_for(settings) -> AudioGenerator:
    return engine(settings.device, settings.hf_token, settings.trust_remote_code)


def progress_reporter(run):
    """`on_progress` for the engine: decoder steps as `ProgressEvent`s (unit tokens), throttled, the last one always."""
    last = [0.0]

    def report(progress: AudioProgress) -> None:
        now = time.monotonic()
        if progress.step < progress.total and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        message = (f"Window {progress.window} of {progress.windows}: " if progress.windows > 1 else "") + \
            f"{progress.step} of {progress.total} tokens"
        run.emit(ProgressEvent(step=progress.step, total=progress.total, unit="tokens", message=message))

    return report


def generate(job: AudioJob, run) -> AudioResult:
    """Make the clip(s) of `job` into the owner's folder; Stop ends the work at the next decoder step."""
    check_limits(job.request, run.settings)
    engine = engine_for(run.settings)
    loaded = engine.slot.current
    if loaded is None or loaded.request.name != job.request.model:  # a loaded model starts at once: no message
        run.emit(ProgressEvent(step=0, total=0, unit="tokens", message=f"Loading {job.request.model}..."))
    result = engine.generate(
        job.request, on_progress=progress_reporter(run), should_stop=lambda: run.should_stop, scope=job.scope,
        outputs_dir=run.settings.outputs_dir,
    )
    return result.without_audio()  # the WAVs are on disk; arrays would only weigh down the pipe


def warm(payload, run) -> dict:
    """Load the embedded MusicGen and make a fifth of a second, so a visitor's first click is warm."""
    started = time.perf_counter()
    request = AudioRequest(prompt="a slow low melody", model=EMBEDDED_MODEL, seconds=0.2)
    engine_for(run.settings).generate(request, save=False)
    return {"model": EMBEDDED_MODEL, "seconds": round(time.perf_counter() - started, 3)}
