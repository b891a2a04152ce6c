"""The one event stream every job speaks: training steps, progress of generation, logs, the end.

A worker thread does the training and `emit`s typed events into a queue; the UI
(or the command line) iterates them. Stop is a flag on the `Run` handle that
the training loop checks once per step (a Trainer callback turns it into
`control.should_training_stop`), so a Stop ends the work on the server, not
only on the page. The stream always ends with one `DoneEvent` or `ErrorEvent`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import StudioError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepEvent:
    """One optimizer step. `total_steps` may be 0 when the length is not known ahead."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float | None = None


@dataclass(frozen=True)
class LogEvent:
    """A line for the log, with the numbers behind it (e.g. a Trainer `on_log` dict)."""

    step: int
    message: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalEvent:
    """Evaluation results; `extras` carries pictures of what the model does (e.g. a decision boundary)."""

    step: int
    epoch: float
    metrics: dict[str, float]
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageEvent:
    """A curriculum stage (or other named phase) begins at `step`."""

    step: int
    index: int
    total: int
    name: str


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of any job that is not training: denoising steps, audio windows, tokens.

    `preview` is something worth showing now (a picture, the text so far, a partial clip);
    `message` is a short human line ("Loading the model...").
    """

    step: int
    total: int
    unit: str = "steps"
    message: str = ""
    preview: Any = None


@dataclass(frozen=True)
class DoneEvent:
    """The work finished; `stopped` says whether a Stop ended it early."""

    step: int
    result: Any
    stopped: bool = False


@dataclass(frozen=True)
class ErrorEvent:
    """The work failed; `message` is safe to show to the user."""

    message: str


TrainingEvent = Union[StepEvent, LogEvent, EvalEvent, StageEvent, ProgressEvent, DoneEvent, ErrorEvent]
Event = TrainingEvent
TERMINAL = (DoneEvent, ErrorEvent)


class Run:
    """Handle on one piece of background work: its event queue and its stop flag."""

    def __init__(self, name: str = "run"):
        self.name = name
        self.started_at = time.monotonic()
        self._events: queue.SimpleQueue[TrainingEvent] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._ended = threading.Event()  # a terminal event is in the queue
        self._thread: threading.Thread | None = None

    # Producer side ---------------------------------------------------------
    def emit(self, event: TrainingEvent) -> None:
        self._events.put(event)
        if isinstance(event, TERMINAL):
            self._ended.set()

    @property
    def should_stop(self) -> bool:
        return self._stop.is_set()

    # Consumer side ---------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def __iter__(self) -> Iterator[TrainingEvent]:
        """Every event, one at a time, until the terminal one (included)."""
        while True:
            event = self._events.get()
            yield event
            if isinstance(event, TERMINAL):
                return

    def batches(self, interval: float = 0.25, heartbeat: float | None = None) -> Iterator[list[TrainingEvent]]:
        """Events grouped into lists at most every `interval` seconds.

        A UI redraws once per batch instead of once per step. Between batches the
        consumer sleeps instead of waking for every event, so a fast training loop
        never hands its interpreter lock to the reader mid-interval (waking per
        event cost the Playground 10% of its steps). The last batch ends with the
        terminal event. With `heartbeat`, an empty batch comes after that many seconds without
        events, so a page handler gets a chance to notice that its visitor has gone.
        """
        last_sent = 0.0
        while True:
            try:
                batch = [self._events.get(timeout=heartbeat)]
            except queue.Empty:
                yield []
                continue
            if not isinstance(batch[-1], TERMINAL):
                # After a quiet spell the first event goes out at once (the first token, the first step);
                # within a busy stream, events wait for the rest of the interval and go out together.
                wait = interval - (time.monotonic() - last_sent)
                if wait > 0:
                    self._ended.wait(wait)  # wakes early only when the work ends
                while not isinstance(batch[-1], TERMINAL):
                    try:
                        batch.append(self._events.get_nowait())
                    except queue.Empty:
                        break
            last_sent = time.monotonic()
            yield batch
            if isinstance(batch[-1], TERMINAL):
                return

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def start_run(work: Callable[[Run], Any], name: str = "run") -> Run:
    """Run `work(run)` on a daemon thread; its return value becomes the `DoneEvent`'s result."""
    run = Run(name)

    def target() -> None:
        last_step = 0
        try:
            result = work(run)
            last_step = getattr(result, "steps", 0) or 0
            run.emit(DoneEvent(step=last_step, result=result, stopped=run.should_stop))
        except StudioError as err:
            run.emit(ErrorEvent(str(err)))
        except Exception as err:  # a bug: keep the details in the server log, not on the page
            log.exception("%s failed", name)
            run.emit(ErrorEvent(f"{name} failed with an internal error ({type(err).__name__}); see the server log."))
        finally:
            run._finished.set()

    run._thread = threading.Thread(target=target, name=f"studio-{name}", daemon=True)
    run._thread.start()
    return run
