"""Worker processes seen from the page process: start, feed, watch, kill and restart them.

One `WorkerPool` per kind of work (text, image, audio, playground, finetune)
holds a few `WorkerProcess`es and a FIFO of jobs waiting for one. A worker
holds up to `capacity` jobs at once: one for most kinds, several for text,
whose worker generates the jobs it holds in one batch. A pool that `recycle`s
(training) replaces its worker after every job, so each training run has a process of its own and leaves
nothing behind. Killing a worker is always safe: its replacement is forked
from the fork server in a fraction of a second, with torch already imported.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import threading
import time
from typing import TYPE_CHECKING

from studio.events import DoneEvent, ErrorEvent, TERMINAL

from . import preload, worker as worker_module

if TYPE_CHECKING:
    from .registry import Job

log = logging.getLogger("studio.jobs")

_CONTEXT = None
_CONTEXT_LOCK = threading.Lock()


def process_context():
    """A fork-server context whose server has torch and the worker module imported (never the page)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(list(preload.MODULES))
            _CONTEXT = ctx
        return _CONTEXT


def start_fork_server() -> None:
    """Start the fork server now, without waiting for its imports (they run in its own process)."""
    from multiprocessing import forkserver

    process_context()
    forkserver.ensure_running()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (0 where that is not available)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class WorkerProcess:
    """One child process and the thread that reads its events."""

    def __init__(self, pool: WorkerPool):
        self.pool = pool
        self.jobs: dict[str, Job] = {}  # the jobs this worker holds now, by id
        self.kill_reason: str | None = None  # set before a deliberate kill, so the exit is not a "crash"
        self.culprit: str | None = None  # the job a deliberate kill was for; others in the worker were bystanders
        self.ready = threading.Event()
        ctx = process_context()
        self._conn, child_conn = ctx.Pipe()
        self._send_lock = threading.Lock()  # jobs and stops are sent from different threads
        self.process = ctx.Process(
            target=worker_module.main, name=f"studio-{pool.kind}",
            args=(pool.kind, child_conn, pool.settings, pool.nice, pool.prepare, pool.batch_s), daemon=True,
        )
        self.process.start()
        child_conn.close()
        self._reader = threading.Thread(target=self._read, name=f"studio-{pool.kind}-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _send(self, message: tuple) -> None:
        with self._send_lock:
            self._conn.send(message)

    def send(self, job: Job) -> None:
        self.jobs[job.id] = job
        self._send(("job", job.id, job.task, job.payload, job.settings))

    def holds(self, job: Job) -> bool:
        return job.id in self.jobs

    def signal_stop(self, job: Job) -> None:
        """The cooperative stop: the job's flag in the worker is set at once (its other jobs go on)."""
        try:
            self._send(("stop", job.id))
        except (OSError, ValueError):
            pass  # the worker is gone; its exit ends the job

    def kill(self, reason: str, culprit: str | None = None) -> None:
        """SIGKILL the worker; `reason` is what its jobs are told (only `culprit`'s, when one job is to blame)."""
        self.kill_reason, self.culprit = reason, culprit
        if self.process.is_alive():
            self.process.kill()  # SIGKILL: its CPU is free at once

    def close(self) -> None:
        try:
            self._send(("exit",))
        except (OSError, ValueError):
            pass

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an event that does not unpickle: a bug in a task's result
                log.exception("unreadable message from the %s worker", self.pool.kind)
                continue
            for kind, job_id, body in message[2] if message[0] == "batch" else (message,):
                self._handle(kind, job_id, body)
        self.process.join(timeout=5)
        self.pool.worker_exited(self)

    def _handle(self, kind: str, job_id: str | None, body) -> None:
        if kind == "ready":
            self.ready.set()
        elif kind == "event":
            job = self.jobs.get(job_id)
            if job is not None:
                job.deliver(body)
        elif kind == "idle":
            self.pool.worker_idle(self, job_id)


class WorkerPool:
    """Up to `size` workers of one kind, each holding up to `capacity` jobs, and the jobs waiting for them,
    first come first served."""

    def __init__(self, kind: str, settings, size: int = 1, recycle: bool = False, nice: int = 5,
                 on_change=None, capacity: int = 1, batch_s: float = 0.0):
        self.kind, self.settings, self.size, self.recycle, self.nice = kind, settings, max(1, size), recycle, nice
        self.capacity = 1 if recycle else max(1, capacity)  # a training process runs one job and goes
        self.batch_s = batch_s  # events of its jobs cross the pipe together, at most one message per window
        self.waiting: collections.deque[Job] = collections.deque()
        self.workers: list[WorkerProcess] = []
        self._lock = threading.RLock()
        self._closed = False
        self._on_change = on_change or (lambda job: None)
        # A task each new worker runs before it takes a job (`worker.main`): for training pools, whose every
        # run is a fresh process, the first-run costs of the process paid while nobody waits.
        self.prepare: str | None = None

    # ---- jobs ------------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            self.waiting.append(job)
            self._dispatch()

    def position(self, job: Job) -> int:
        """1 for the next job to start; 0 when the job is not waiting."""
        with self._lock:
            try:
                return self.waiting.index(job) + 1
            except ValueError:
                return 0

    def stop(self, job: Job, grace_s: float, reason: str = "stopped") -> None:
        """Cooperative stop now; after `grace_s`, kill the worker if the job is still running."""
        with self._lock:
            if job in self.waiting:
                self.waiting.remove(job)
                job.deliver(DoneEvent(step=0, result=None, stopped=True))
                return
            worker = next((w for w in self.workers if w.holds(job)), None)
        if worker is None:
            return
        worker.signal_stop(job)
        if grace_s <= 0:
            self._kill_if_running(worker, job, reason)
            return
        timer = threading.Timer(grace_s, self._kill_if_running, args=(worker, job, reason))
        timer.daemon = True
        timer.start()

    def _kill_if_running(self, worker: WorkerProcess, job: Job, reason: str) -> None:
        if worker.holds(job) and not job.ended:
            log.warning("%s job %s did not stop in time: killing its worker (pid %s)", self.kind, job.id[:8],
                        worker.pid)
            worker.kill(reason, culprit=job.id)

    # ---- workers ---------------------------------------------------------------------------------
    def warm(self) -> None:
        """Start the workers now so the first job does not wait for a process."""
        with self._lock:
            while not self._closed and len(self.workers) < self.size:
                self.workers.append(WorkerProcess(self))

    def busy(self) -> list[WorkerProcess]:
        with self._lock:
            return [w for w in self.workers if w.jobs]

    def _dispatch(self) -> None:
        if self._closed:
            return
        while self.waiting:
            open_ = [w for w in self.workers if len(w.jobs) < self.capacity and w.kill_reason is None]
            free = min(open_, key=lambda w: len(w.jobs)) if open_ else None
            if (free is None or free.jobs) and len(self.workers) < self.size:
                free = WorkerProcess(self)
                self.workers.append(free)
            if free is None:
                return
            job = self.waiting.popleft()
            job.mark_running(free.pid)
            self._on_change(job)
            try:
                free.send(job)
            except (OSError, ValueError) as err:  # the worker died between jobs
                log.warning("%s worker unusable (%s); replacing it", self.kind, err)
                free.jobs.pop(job.id, None)
                self.waiting.appendleft(job)
                free.kill("replaced")
                return

    def worker_idle(self, worker: WorkerProcess, job_id: str) -> None:
        with self._lock:
            job = worker.jobs.pop(job_id, None)
            if job is not None and not job.ended:  # defensive: a task that ended without a terminal event
                job.deliver(ErrorEvent("The job ended without a result; see the server log."))
            if self.recycle and not worker.jobs:  # training: a fresh process for the next run
                worker.kill_reason = "recycled"
                worker.close()
                self._replace(worker)
            self._dispatch()

    def worker_exited(self, worker: WorkerProcess) -> None:
        with self._lock:
            jobs, worker.jobs = list(worker.jobs.values()), {}
            for job in jobs:
                if job.ended:
                    continue
                reason = worker.kill_reason
                if reason and worker.culprit not in (None, job.id):
                    job.deliver(ErrorEvent(f"The {self.kind} worker had to be restarted to end another job that "
                                           "shared it, and this one ended with it. Please try again."))
                elif reason == "stopped":
                    job.deliver(DoneEvent(step=0, result=None, stopped=True))
                elif reason:
                    job.deliver(ErrorEvent(reason))
                else:
                    code = worker.process.exitcode
                    log.error("%s worker (pid %s) died with exit code %s during job %s", self.kind, worker.pid,
                              code, job.id[:8])
                    job.deliver(ErrorEvent(
                        f"The {self.kind} worker stopped unexpectedly (exit code {code}; often a lack of memory). "
                        "It has been restarted: try again, perhaps with smaller settings."))
            if worker in self.workers:
                self._replace(worker)
            self._dispatch()

    def _replace(self, worker: WorkerProcess) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        if not self._closed and (self.waiting or self.recycle or worker.kill_reason != "replaced"):
            self.workers.append(WorkerProcess(self))  # warm again at once

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self.workers = list(self.workers), []
            waiting, self.waiting = list(self.waiting), collections.deque()
        for job in waiting:
            job.deliver(ErrorEvent("The studio is shutting down."))
        for worker in workers:
            worker.kill_reason = "The studio is shutting down."
            worker.close()
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()


def is_terminal(event) -> bool:
    return isinstance(event, TERMINAL)


def wait_ready(workers: list[WorkerProcess], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(w.ready.wait(max(0.0, deadline - time.monotonic())) for w in workers)
