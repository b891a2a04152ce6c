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
from studio.events import DoneEvent, ErrorEvent

log = logging.getLogger("studio.worker")


def resolve(task: str):
    """`"pkg.mod:fn"` -> the function; imported here, once per worker, never raced by another thread."""
    module, _, name = task.partition(":")
    return getattr(importlib.import_module(module), name)


class ChildRun:
    """The producer side of a job inside the worker: the same API as `studio.events.Run` offers a task."""

    def __init__(self, conn, lock: threading.Lock, job_id: str, stop_flag, settings):
        self._conn, self._lock, self.job_id = conn, lock, job_id
        self._stop_flag = stop_flag
        self.settings = settings
        self.started_at = time.monotonic()

    def emit(self, event) -> None:
        with self._lock:  # tasks may emit from a helper thread (e.g. a streamer)
            self._conn.send(("event", self.job_id, event))

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


def main(kind: str, conn, settings, nice: int = 0, prepare: str | None = None) -> None:
    """Serve jobs until the parent closes the pipe.

    Messages in: ("job", id, task, payload, settings), ("stop", id) or ("exit",). Each job runs on a thread
    of its own, so this loop keeps reading: a Stop reaches a running job at once, and a worker that takes
    several jobs at a time (the text worker, which batches them) gets them while others run. How many jobs
    a worker holds at once is the pool's decision. `settings` of a job are its owner's (their outputs
    folder); the worker's are for the process.
    """
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s worker-{kind}: %(message)s")
    configure_process(settings, nice, kind)
    if prepare:
        prepare_worker(prepare, settings)
    lock = threading.Lock()
    stops: dict[str, threading.Event] = {}

    def serve(job_id: str, task: str, payload, job_settings) -> None:
        run_task(task, payload, ChildRun(conn, lock, job_id, stops[job_id], job_settings or settings))
        stops.pop(job_id, None)
        with lock:
            conn.send(("idle", job_id, None))

    with lock:
        conn.send(("ready", None, os.getpid()))
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
