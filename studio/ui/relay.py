"""The one path from a job's events to the page, shared by every tab.

A tab describes what its outputs show in a `JobView` (waiting, a batch of
events, the end); `relay` does the rest the same way for all of them: queue
position while waiting, a failure said on the status line as well as in a toast,
a page update at most every `interval` seconds, a heartbeat so a closed page is
noticed, and a stop of the job when the page goes away or the handler ends early.

The status line is each job's only progress: no event shows Gradio's tracker
(see `studio/ui/blocks.py`, `one_progress_target`, for what that costs a page).
`job_event` wires a job's handler so that its line changes at the click, in the
page itself, before the server has the request.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent

from .blocks import packed_on
from .context import Studio


# A job whose worker is free starts within milliseconds: its queue position is only said when it still waits
# after this. Every message costs the page a round of updates over all its loading statuses, and "you are
# next" shown for 10 ms was one more (the first of an Image click's six, 7 ms after the relay began).
QUICK_START_S = 0.15
WORKING = "**Working…**"  # a job's status line from the click on, set in the page itself (`job_event`)


class JobView:
    """How one tab shows a job. Return a tuple of updates (one per output), or None for no change."""

    outputs: int = 1  # how many outputs the handler has
    status_at: int | None = None  # which output is the job's status line (its progress, its error)

    def skip(self) -> tuple:
        return tuple(gr.skip() for _ in range(self.outputs))

    def say(self, text: str) -> tuple | None:
        """The status line set to `text`, every other output left as it is (None when there is no line)."""
        if self.status_at is None:
            return None
        return tuple(text if i == self.status_at else gr.skip() for i in range(self.outputs))

    def waiting(self, position: int, kind: str) -> tuple | None:
        return self.say(waiting_text(position, kind))

    def failed(self, message: str) -> tuple | None:
        """The job failed: the line says so after the toast has gone (Markdown, so the text is escaped)."""
        return self.say(f"**Failed:** {html.escape(message, quote=False)}")

    def update(self, events: list) -> tuple | None:
        return None

    def done(self, event: DoneEvent) -> tuple:
        return self.skip()


def waiting_text(position: int, kind: str) -> str:
    if position <= 1:
        return f"Waiting for the {kind} worker: you are next."
    return f"Waiting for the {kind} worker: {position - 1} job(s) ahead of yours."


def relay(studio: Studio, job, view: JobView, interval: float = 0.25, heartbeat: float = 1.0,
          stop_on_leave: bool = True, events=None) -> Iterator[Any]:
    """Yield page updates for `job` until it ends; a failure becomes a `StudioError` with the job's message,
    said on the view's status line first.

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
                update = view.waiting(position, job.kind)
                yield update if update is not None else view.skip()
            time.sleep(0.2)
        for batch in (events or job.run).batches(interval, heartbeat=heartbeat):
            if not batch:
                yield view.skip()  # heartbeat: lets Gradio end this handler if the page has gone
                continue
            last = batch[-1]
            body = batch[:-1] if isinstance(last, (DoneEvent, ErrorEvent)) else batch
            update = view.update(body) if body else None
            # The end's own frame shows everything: a frame just before it would only cost the page a redraw.
            if update is not None and not isinstance(last, (DoneEvent, ErrorEvent)):
                yield update
            if isinstance(last, ErrorEvent):
                finished = True
                update = view.failed(last.message)
                if update is not None:
                    yield update
                raise StudioError(last.message)
            if isinstance(last, DoneEvent):
                finished = True
                yield view.done(last)
                return
    finally:
        if stop_on_leave and not finished and not job.ended:
            studio.jobs.stop(job)  # the page went away or the handler was cancelled: the work ends too


def job_event(triggers, fn, inputs, outputs, status: gr.components.Component, working: str = WORKING, **kwargs):
    """`gr.on(triggers, fn, inputs, outputs, **kwargs)` for a handler that relays a job, with its `status` line
    set to `working` in the page at the click, and put back when the request is refused before it starts.

    Why in the page: between the click and the handler there are Gradio's queue, preprocessing and a thread
    (a Playground click right after start reached the handler's first line 0.78 s after Chromium's click; in
    one test run its first answer showed 2.3 s after it), and the job's status line is drawn by the studio
    only. Gradio runs an event's page-only functions at once, in the order they were registered on a trigger,
    so the line is set before the request leaves; it costs no server round and no loading status. A request
    refused before the job starts (a field out of range, the queue full) leaves its toast, and the line goes
    back to what it said before the click.

    A form's plain fields leave the page as one value (`blocks.packed_on`); the public endpoint (`api_name`)
    keeps every field by name."""
    key = json.dumps(status.elem_id or str(status._id))
    keep = f"(s) => {{ (window.studioLines ??= {{}})[{key}] = s; return {json.dumps(working)}; }}"
    restore = f"(s) => s === {json.dumps(working)} ? ((window.studioLines ?? {{}})[{key}] ?? '') : s"
    page_only = dict(queue=False, api_visibility="private")
    gr.on(triggers, None, status, status, js=keep, **page_only)
    event = packed_on(triggers, fn, inputs, outputs, **kwargs)
    event.failure(None, status, status, js=restore, **page_only)
    return event
