"""The job registry: every piece of heavy work, who owns it, where it runs, and how it ends.

Every tab (and the API behind it) starts work here and nowhere else:

- **ownership**: a job belongs to the owner key it was submitted with (a
  browser session, or a signed-in user); only that owner (or the admin) can
  stop it or re-attach to it after a reload;
- **limits**: one owner holds at most `max_jobs_per_owner` queued or running
  jobs, a kind's queue holds at most `max_waiting` jobs, and a job may carry a
  wall-time limit; each refusal names the limit;
- **isolation**: in `process` mode each kind of work runs in worker processes
  (`pool.py`), so a model load in one tab cannot corrupt training in another,
  imports are never raced, and a job that ignores Stop is killed;
- **stop**: cooperative first (a flag the task polls each step), then firm
  after `stop_grace_s`: the worker is killed and restarted;
- **memory**: a worker above `worker_memory_bytes` is killed, with a message
  to its owner only.

`thread` mode runs the same tasks on threads of this process: the command line
uses it (one person at a terminal needs no workers), and so can tests of tasks.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from studio.errors import StudioError
from studio.events import ErrorEvent, Run, TERMINAL

from .pool import WorkerPool, rss_bytes
from .worker import run_task

log = logging.getLogger("studio.jobs")

KINDS = ("playground", "text", "image", "audio", "finetune")
TRAINING_KINDS = frozenset({"playground", "finetune"})
# Training streams dozens of events a second, which pages redraw once a second: they cross the pipe in batches
# (`worker.Sender`). Generation streams (tokens, denoising steps) go one by one: their first event is the one
# a person waits for.
TRAINING_BATCH_S = 0.25


def is_studio_owner(owner: str) -> bool:
    """Jobs the studio submits for itself (warm-ups) carry owners like "studio:warm-up": no visitor's limits."""
    return owner.startswith("studio:")


@dataclass(frozen=True)
class Limits:
    """What one visitor and one kind of work may use; the admin can change them at run time."""

    max_jobs_per_owner: int = 2
    max_waiting: int = 24  # per kind
    stop_grace_s: float = 2.0
    worker_memory_bytes: int = 0  # 0 = no cap
    job_seconds: dict[str, float] = field(default_factory=dict)  # kind -> wall-time limit, 0 = none


class Job:
    """One piece of work: its owner, its state and the event stream the page reads."""

    def __init__(self, owner: str, kind: str, task: str, payload: Any, label: str, settings, session: str = ""):
        self.id = uuid.uuid4().hex
        self.session = session  # the page session that started it: closing that page stops it (unless training)
        self.settings = settings
        self.owner, self.kind, self.task, self.payload, self.label = owner, kind, task, payload, label
        self.run = Run(f"{kind} job")
        self.run.settings = settings
        self.state = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.ended_at: float | None = None
        self.pid: int | None = None
        self.message = ""
        self.last_event = None  # the terminal event, once there is one
        self._readers: list[Run] = []
        self._lock = threading.Lock()

    @property
    def ended(self) -> bool:
        return self.state in ("done", "stopped", "failed")

    def mark_running(self, pid: int | None = None) -> None:
        with self._lock:
            if self.state == "queued":
                self.state, self.started, self.pid = "running", time.time(), pid

    def deliver(self, event) -> None:
        """Pass an event to the page; the first terminal event ends the job (later ones are dropped)."""
        with self._lock:
            if self.ended:
                return
            if isinstance(event, TERMINAL):
                self.last_event = event
                self.ended_at = time.time()
                if isinstance(event, ErrorEvent):
                    self.state, self.message = "failed", event.message
                else:
                    self.state = "stopped" if event.stopped else "done"
        self.run.emit(event)
        for reader in list(self._readers):
            reader.emit(event)

    def follow(self) -> Run:
        """A new reader of this job's events from now on (a reloaded page re-attaching): the earlier reader
        keeps its own stream, so neither takes events from the other. A finished job's reader gets its end."""
        reader = Run(self.run.name)
        reader.settings = self.run.settings
        reader.request_stop = self.run.request_stop  # a stop through any reader stops the job
        with self._lock:
            if self.ended and self.last_event is not None:
                reader.emit(self.last_event)
            else:
                self._readers.append(reader)
        return reader

    def info(self) -> dict:
        return dict(id=self.id, owner=self.owner, kind=self.kind, label=self.label, state=self.state,
                    created=self.created, started=self.started, ended=self.ended_at, message=self.message)


class JobRegistry:
    def __init__(self, settings, mode: str = "process", limits: Limits | None = None,
                 pool_sizes: dict[str, int] | None = None, capacities: dict[str, int] | None = None):
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be process or thread, not {mode!r}")
        self.settings, self.mode = settings, mode
        self.limits = limits or Limits()
        self._jobs: dict[str, Job] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._lock = threading.RLock()
        self._closed = False
        sizes = {kind: 1 for kind in KINDS} | (pool_sizes or {})
        capacities = capacities or {}  # jobs one worker holds at once (text batches them)
        self.pools = {kind: WorkerPool(kind, settings, size=sizes[kind], recycle=kind in TRAINING_KINDS,
                                       capacity=capacities.get(kind, 1),
                                       batch_s=TRAINING_BATCH_S if kind in TRAINING_KINDS else 0.0)
                      for kind in KINDS} if mode == "process" else {}
        self._watchdog = threading.Thread(target=self._watch, name="studio-job-watchdog", daemon=True)
        self._watchdog.start()

    # ---- starting ----------------------------------------------------------------------------------
    def submit(self, owner: str, kind: str, task: str, payload: Any, label: str = "", settings=None,
               session: str = "") -> Job:
        """Queue `task(payload, run)` for `owner`; refuses, with the limit named, when the owner or queue is full."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        with self._lock:
            if self._closed:
                raise StudioError("The studio is shutting down; try again in a minute.")
            mine = [j for j in self._jobs.values() if j.owner == owner and not j.ended]
            if not is_studio_owner(owner) and len(mine) >= self.limits.max_jobs_per_owner:
                raise StudioError(
                    f"You already have {len(mine)} job(s) running or waiting (the limit is "
                    f"{self.limits.max_jobs_per_owner} per visitor). Wait for one to finish, or press Stop.")
            waiting = [j for j in self._jobs.values() if j.kind == kind and j.state == "queued"]
            if len(waiting) >= self.limits.max_waiting:
                raise StudioError(f"The {kind} queue is full ({len(waiting)} waiting, the limit is "
                                  f"{self.limits.max_waiting}). Try again in a minute.")
            job = Job(owner, kind, task, payload, label or kind, settings or self.settings, session)
            self._jobs[job.id] = job
        if self.mode == "process":
            self.pools[kind].submit(job)
        else:
            job.mark_running()
            threading.Thread(target=run_task, args=(task, payload, _ThreadRun(job)), daemon=True,
                             name=f"studio-{kind}").start()
        return job

    # ---- finding -----------------------------------------------------------------------------------
    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job with this id; with `owner`, only when it is theirs (ids of others are as good as absent)."""
        job = self._jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner):
            return None
        return job

    def attach(self, owner: str, kind: str) -> Job | None:
        """The owner's latest unfinished job of this kind: what a reloaded page re-attaches to."""
        with self._lock:
            live = [j for j in self._jobs.values() if j.owner == owner and j.kind == kind and not j.ended]
        return max(live, key=lambda j: j.created) if live else None

    def jobs(self, owner: str | None = None) -> list[dict]:
        """Every job (admin) or one owner's, newest first."""
        with self._lock:
            chosen = [j for j in self._jobs.values() if owner is None or j.owner == owner]
        return [j.info() for j in sorted(chosen, key=lambda j: j.created, reverse=True)]

    def visitor_jobs(self) -> int:
        """How many jobs of visitors (not the studio's own, such as warm-ups) are waiting or running."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if not j.ended and not is_studio_owner(j.owner))

    def position(self, job: Job) -> int:
        return self.pools[job.kind].position(job) if self.mode == "process" else 0

    # ---- stopping ----------------------------------------------------------------------------------
    def stop(self, job: Job, reason: str = "stopped") -> None:
        """Stop one job: the flag now, the worker killed if the job is still running after the grace period."""
        if job.ended:
            return
        job.run.request_stop()
        if self.mode == "process":
            self.pools[job.kind].stop(job, self.limits.stop_grace_s, reason)

    def stop_owner(self, owner: str, kind: str | None = None) -> int:
        """Stop everything this owner runs (of one kind); returns how many jobs were asked to stop."""
        with self._lock:
            mine = [j for j in self._jobs.values()
                    if j.owner == owner and not j.ended and (kind is None or j.kind == kind)]
        for job in mine:
            self.stop(job)
        return len(mine)

    def stop_session(self, session: str, kinds=KINDS) -> int:
        """A page was closed: stop the jobs it started (the kinds given; training may be left to re-attach)."""
        with self._lock:
            theirs = [j for j in self._jobs.values() if j.session == session and not j.ended and j.kind in kinds]
        for job in theirs:
            self.stop(job)
        return len(theirs)

    def finished(self, job: Job) -> None:
        """Forget finished jobs beyond the most recent 500 (the admin view lists those)."""
        with self._lock:
            self._finished.append(job.id)
            while len(self._finished) > 500:
                self._jobs.pop(self._finished.popleft(), None)

    # ---- warming and watching -------------------------------------------------------------------------
    def prepare_with(self, kind: str, task: str) -> None:
        """Every new worker of `kind` runs `task` before it takes a job (see `worker.prepare_worker`)."""
        if kind in self.pools:
            self.pools[kind].prepare = task

    def warm(self, kinds=KINDS) -> None:
        """Start the worker processes now (imports of torch happen in the fork server, not here)."""
        for kind in kinds:
            if kind in self.pools:
                self.pools[kind].warm()

    def _watch(self) -> None:
        """Once a second: wall-time limits, memory caps and forgetting finished jobs."""
        while not self._closed:
            time.sleep(1.0)
            now = time.time()
            with self._lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                if job.ended:
                    if job.id not in self._finished:
                        self.finished(job)
                    continue
                limit = self.limits.job_seconds.get(job.kind, 0)
                if limit and job.started and now - job.started > limit and not job.run.should_stop:
                    log.info("%s job %s reached its %.0f s limit", job.kind, job.id[:8], limit)
                    self.stop(job)
            if self.mode == "process" and self.limits.worker_memory_bytes:
                for pool in self.pools.values():
                    for worker in pool.busy():
                        if worker.pid and rss_bytes(worker.pid) > self.limits.worker_memory_bytes:
                            gb = self.limits.worker_memory_bytes / 2**30
                            worker.kill(f"The job used more than {gb:.1f} GB of memory (the studio's limit per "
                                        "worker) and was ended. Try smaller settings.")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for pool in self.pools.values():
            pool.close()


class _ThreadRun:
    """Thread mode: the task's view of a job (emit, should_stop, settings) over the job's own Run."""

    def __init__(self, job: Job):
        self._job = job
        self.settings = job.run.settings
        self.job_id = job.id

    def emit(self, event) -> None:
        self._job.deliver(event)

    @property
    def should_stop(self) -> bool:
        return self._job.run.should_stop

    def request_stop(self) -> None:
        self._job.run.request_stop()
