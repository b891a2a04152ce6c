"""The inside of a worker process: receive a job, run its task, send its events back.

A worker is forked from a clean fork server (never from the page process, whose
threads and Gradio state must not be copied), sets its own torch threads and
device once, and then serves the jobs the pool sends it (one at a time, except
for kinds whose tasks batch their work, like text). The models a task loads stay
in the worker between jobs, so the second click is warm. The page process
only ever sees events.

A task is named as `"package.module:function"` and called as
`function(payload, run)`: `payload` is plain picklable data (a request
dataclass), `run` has `emit(event)`, `should_stop` and `settings`. The return
value becomes the `DoneEvent`'s result, so it must pickle too.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from typing import Any

from studio.errors import StudioError
from studio.events import TERMINAL, DoneEvent, ErrorEvent

log = logging.getLogger("studio.worker")


def resolve(task: str):
    """`"pkg.mod:fn"` -> the function; imported here, once per worker, never raced by another thread."""
    module, _, name = task.partition(":")
    return getattr(importlib.import_module(module), name)


class Sender:
    """The worker's end of the pipe, shared by its jobs and threads (one lock keeps messages whole and in order).

    With a `window`, a busy stream's messages go out together, at most one pipe message per window: a
    Playground run emits 40-50 events a second, and each one woke three threads of the page process, whose
    bursts of work slowed the training process beside it (`benchmarks/playground_overhead.py`, default run, 9
    rounds each: 0.889 of a bare loop, per round 0.872, before; 0.910, per round 0.951, with batches). The first message after a quiet spell, terminal events and the worker's
    own messages (ready, idle) go out at once, with whatever waits before them; a thread sends the rest when
    their window ends, so nothing waits longer than `window`."""

    def __init__(self, conn, window: float = 0.0):
        self._conn, self.window = conn, window
        self._cond = threading.Condition()
        self._pending: list[tuple] = []
        self._last = -float("inf")
        if window > 0:
            threading.Thread(target=self._flush_when_due, name="event-sender", daemon=True).start()

    def send(self, message: tuple, urgent: bool = False) -> None:
        with self._cond:
            if self.window <= 0:
                self._conn.send(message)
                return
            self._pending.append(message)
            if urgent or time.monotonic() - self._last >= self.window:
                self._flush()
            elif len(self._pending) == 1:  # the flushing thread sleeps until told; with more, it already waits
                self._cond.notify()        # for the window's end (a wake-up per event took the lock 40x a second)

    def _flush(self) -> None:  # with the lock held
        pending, self._pending = self._pending, []
        self._last = time.monotonic()
        self._conn.send(pending[0] if len(pending) == 1 else ("batch", None, pending))

    def _flush_when_due(self) -> None:
        with self._cond:
            while True:
                while not self._pending:
                    self._cond.wait()
                due = self._last + self.window - time.monotonic()
                if due > 0:
                    self._cond.wait(due)
                    continue  # flushed meanwhile by an urgent message, or now due
                try:
                    self._flush()
                except (OSError, ValueError):
                    return  # the page is gone; the worker ends at its next read


class ChildRun:
    """The producer side of a job inside the worker: the same API as `studio.events.Run` offers a task."""

    def __init__(self, sender: Sender, job_id: str, stop_flag, settings):
        self._sender, self.job_id = sender, job_id
        self._stop_flag = stop_flag
        self.settings = settings
        self.started_at = time.monotonic()

    def emit(self, event) -> None:  # tasks may emit from a helper thread (e.g. a streamer): the sender locks
        self._sender.send(("event", self.job_id, event), urgent=isinstance(event, TERMINAL))

    @property
    def should_stop(self) -> bool:
        return self._stop_flag.is_set()

    def request_stop(self) -> None:  # a task may end itself the way a Stop would
        self._stop_flag.set()


def run_task(task: str, payload: Any, run) -> None:
    """Run one task and end its stream with exactly one terminal event (shared by workers and threads)."""
    try:
        result = resolve(task)(payload, run)
        run.emit(DoneEvent(step=getattr(result, "steps", 0) or 0, result=result, stopped=run.should_stop))
    except StudioError as err:
        run.emit(ErrorEvent(str(err)))
    except MemoryError:
        run.emit(ErrorEvent("The job ran out of memory. Try smaller settings (fewer steps, pixels or tokens)."))
    except Exception as err:  # a bug: details go to the server log, never to the page
        log.exception("task %s failed", task)
        run.emit(ErrorEvent(f"The job failed with an internal error ({type(err).__name__}); see the server log."))


def configure_process(settings, nice: int, kind: str = "") -> None:
    """Things that are process-wide in torch, set once here and never by a tab.

    Playground networks are tiny: more than one thread only adds overhead to each small op
    (measured: a Playground test run took 63 s with half the cores, 12.5 s with one), so its
    workers take one thread unless the operator set STUDIO_TORCH_THREADS."""
    if nice:
        try:
            os.nice(nice)  # the page process stays responsive while workers compute
        except OSError:
            pass
    from studio.devices import set_torch_threads

    set_torch_threads(settings.torch_threads or (1 if kind == "playground" else 0))


class _QuietRun:
    """The run a worker's `prepare` task gets: nobody reads its events, nothing asks it to stop."""

    should_stop = False

    def __init__(self, settings):
        self.settings = settings

    def emit(self, event) -> None:
        pass


def prepare_worker(task: str, settings) -> None:
    """Run `task(None, run)` before the first job. Training workers are fresh processes for every run, and a
    process's first run pays for first allocations, first kernels and lazily built library state (measured: the
    first Trainer run in a process took 1.12 s, the next ones 0.69-0.78 s); a fresh worker pays that while it
    waits for a job. A failure here is logged and the worker serves jobs anyway."""
    try:
        resolve(task)(None, _QuietRun(settings))
    except Exception:
        log.exception("preparing the worker with %s failed", task)


def main(kind: str, conn, settings, nice: int = 0, prepare: str | None = None, batch_s: float = 0.0) -> None:
    """Serve jobs until the parent closes the pipe.

    Messages in: ("job", id, task, payload, settings), ("stop", id) or ("exit",). Each job runs on a thread
    of its own, so this loop keeps reading: a Stop reaches a running job at once, and a worker that takes
    several jobs at a time (the text worker, which batches them) gets them while others run. How many jobs
    a worker holds at once is the pool's decision. `settings` of a job are its owner's (their outputs
    folder); the worker's are for the process. `batch_s` is the `Sender`'s window for the jobs' events.
    """
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s worker-{kind}: %(message)s")
    configure_process(settings, nice, kind)
    if prepare:
        prepare_worker(prepare, settings)
    sender = Sender(conn, batch_s)
    stops: dict[str, threading.Event] = {}

    def serve(job_id: str, task: str, payload, job_settings) -> None:
        run_task(task, payload, ChildRun(sender, job_id, stops[job_id], job_settings or settings))
        stops.pop(job_id, None)
        sender.send(("idle", job_id, None), urgent=True)

    sender.send(("ready", None, os.getpid()), urgent=True)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message[0] == "exit":
            return
        if message[0] == "stop":
            flag = stops.get(message[1])
            if flag is not None:
                flag.set()
            continue
        _, job_id, task, payload, job_settings = message
        stops[job_id] = threading.Event()
        threading.Thread(target=serve, args=(job_id, task, payload, job_settings), name=f"job-{job_id[:8]}",
                         daemon=True).start()
