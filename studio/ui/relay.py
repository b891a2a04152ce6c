"""The one path from a job's events to the page, shared by every tab.

A tab describes what its outputs show in a `JobView` (waiting, a batch of
events, the end); `relay` does the rest the same way for all of them: queue
position while waiting, `gr.Progress` from progress events, a page update at
most every `interval` seconds, a heartbeat so a closed page is noticed, and a
stop of the job when the page goes away or the handler ends early.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, ProgressEvent, StepEvent

from .context import Studio


# A job whose worker is free starts within milliseconds: its queue position is only said when it still waits
# after this. Every message costs the page a round of updates over all its loading statuses, and "you are
# next" shown for 10 ms was one more (the first of an Image click's six, 7 ms after the relay began).
QUICK_START_S = 0.15


class JobView:
    """How one tab shows a job. Return a tuple of updates (one per output), or None for no change."""

    outputs: int = 1  # how many outputs the handler has

    def skip(self) -> tuple:
        return tuple(gr.skip() for _ in range(self.outputs))

    def waiting(self, position: int, kind: str) -> tuple | None:
        return None

    def update(self, events: list) -> tuple | None:
        return None

    def done(self, event: DoneEvent) -> tuple:
        return self.skip()


def waiting_text(position: int, kind: str) -> str:
    if position <= 1:
        return f"Waiting for the {kind} worker: you are next."
    return f"Waiting for the {kind} worker: {position - 1} job(s) ahead of yours."


def relay(studio: Studio, job, view: JobView, progress: gr.Progress | None = None, interval: float = 0.25,
          heartbeat: float = 1.0, stop_on_leave: bool = True, events=None) -> Iterator[Any]:
    """Yield page updates for `job` until it ends; a failure becomes a `StudioError` with the job's message.

    When the page goes away first, the job is stopped, unless `stop_on_leave` is False (a fine-tune keeps
    training, and a reloaded page re-attaches to it). `events` is the stream to read: by default the job's
    own; a re-attaching page passes `job.follow()` so that it never competes with an older reader."""
    finished = False
    try:
        last_position = None
        started_by = time.monotonic() + QUICK_START_S
        while job.state == "queued" and time.monotonic() < started_by:
            time.sleep(0.01)
        while job.state == "queued":
            position = studio.jobs.position(job)
            if position != last_position:
                last_position = position
                if progress is not None:
                    progress(0, desc=waiting_text(position, job.kind))
                update = view.waiting(position, job.kind)
                yield update if update is not None else view.skip()
            time.sleep(0.2)
        for batch in (events or job.run).batches(interval, heartbeat=heartbeat):
            if not batch:
                yield view.skip()  # heartbeat: lets Gradio end this handler if the page has gone
                continue
            last = batch[-1]
            body = batch[:-1] if isinstance(last, (DoneEvent, ErrorEvent)) else batch
            if progress is not None:
                for event in reversed(body):
                    if isinstance(event, ProgressEvent):
                        progress((event.step, event.total) if event.total else None,
                                 desc=event.message or None, unit=event.unit)
                        break
                    if isinstance(event, StepEvent) and event.total_steps:
                        progress((event.step, event.total_steps), unit="steps")
                        break
            if body:
                update = view.update(body)
                # The end's own frame shows everything: a frame just before it would only cost the page a redraw.
                if update is not None and not isinstance(last, DoneEvent):
                    yield update
            if isinstance(last, ErrorEvent):
                finished = True
                raise StudioError(last.message)
            if isinstance(last, DoneEvent):
                finished = True
                yield view.done(last)
                return
    finally:
        if stop_on_leave and not finished and not job.ended:
            studio.jobs.stop(job)  # the page went away or the handler was cancelled: the work ends too
