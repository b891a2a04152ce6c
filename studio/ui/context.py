"""The studio as the page process sees it: settings, the job registry, and who is asking.

Built once in `build_app` and handed to every tab. The page process does no
tensor work: tabs turn widgets into a request, `submit` it here as a job of
the visitor's, and relay its events (`relay.py`). Settings that the admin may
change while the studio runs are read from here at each call, never captured
when a tab is built.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import gradio as gr

from studio.jobs import Job, JobRegistry, Limits
from studio.jobs.pool import start_fork_server, wait_ready
from studio.jobs.registry import TRAINING_KINDS
from studio.ownership import owner_outputs, settings_for
from studio.settings import Settings

from .visitor import identities, owner_of, session_of

WARM_UP_YIELD_S = 0.2  # how often a warm-up that waits for visitors' jobs looks again


def limits_from(settings: Settings) -> Limits:
    minutes = settings.max_job_minutes
    return Limits(
        max_jobs_per_owner=settings.max_jobs_per_visitor,
        stop_grace_s=settings.stop_grace_s,
        worker_memory_bytes=int(settings.worker_memory_gb * 2**30),
        job_seconds={kind: minutes * 60 for kind in ("playground", "text", "image", "audio", "finetune")}
        if minutes else {},
    )


def pool_sizes(settings: Settings) -> dict[str, int]:
    """Worker processes per kind: training runs at once, and copies of each generation tab's model."""
    models = settings.model_workers
    return {"playground": settings.playground_workers, "finetune": settings.finetune_workers,
            "text": models, "image": models, "audio": models}


class Studio:
    def __init__(self, settings: Settings, jobs: JobRegistry | None = None):
        self._settings = settings
        self.jobs = jobs or JobRegistry(settings, mode=settings.workers, limits=limits_from(settings),
                                        pool_sizes=pool_sizes(settings),
                                        capacities={"text": settings.text_batch})
        self._lock = threading.Lock()
        self.warm_tasks: dict[str, str] = {}

    # ---- settings (the admin may change limits while the studio runs) ---------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, **changes) -> Settings:
        with self._lock:
            self._settings = dataclasses.replace(self._settings, **changes)
            self.jobs.limits = limits_from(self._settings)
            return self._settings

    # ---- per-visitor views ----------------------------------------------------------------------
    def settings_for(self, request: gr.Request | None) -> Settings:
        """Settings whose outputs folder is the visitor's own."""
        return settings_for(self._settings, owner_of(request))

    def settings_for_owner(self, owner: str) -> Settings:
        return settings_for(self._settings, owner)

    def outputs_of(self, request: gr.Request | None):
        return owner_outputs(self._settings.outputs_dir, owner_of(request))

    def model_scope(self, request: gr.Request | None) -> dict:
        """What a visitor's LoadRequest may name: their own outputs and the operator's allow-listed folders."""
        roots = (str(self.outputs_of(request)), *(str(p) for p in self._settings.local_models))
        return dict(local_roots=roots, presets_only=self._settings.locked)

    # ---- jobs -----------------------------------------------------------------------------------
    def submit(self, request: gr.Request | None, kind: str, task: str, payload, label: str = "") -> Job:
        owner = owner_of(request)
        return self.jobs.submit(owner, kind, task, payload, label, settings=settings_for(self._settings, owner),
                                session=session_of(request))

    def attach(self, request: gr.Request | None, kind: str) -> Job | None:
        for key in identities(request):
            job = self.jobs.attach(key, kind)
            if job is not None:
                return job
        return None

    def stop(self, request: gr.Request | None, kind: str) -> int:
        """Stop this visitor's jobs of one kind (never anybody else's)."""
        return sum(self.jobs.stop_owner(key, kind) for key in identities(request))

    def page_closed(self, request: gr.Request | None) -> None:
        """A page went away: its generation and Playground jobs stop; a fine-tune keeps going to re-attach."""
        self.jobs.stop_session(session_of(request), kinds=("playground", "text", "image", "audio"))

    def warm_up_with(self, kind: str, task: str) -> None:
        """A tab names the task that loads its default model and runs a first tiny pass (`warm` runs it).

        Training kinds get a fresh process for every run: there the task runs in each new worker before it
        takes a job, so every run, not only the first, starts in a process that has done a run already."""
        self.warm_tasks[kind] = task
        if kind in TRAINING_KINDS:
            self.jobs.prepare_with(kind, task)

    def warm(self, wait: bool = False) -> threading.Thread:
        """Warm the studio in the background, one kind at a time, in the order of the tabs.

        First the fork server (it imports torch once for every worker), then for each tab its worker
        and its warm-up task (imports, the embedded model, a first tiny pass). One at a time, because on
        a small machine five warm-ups at once starve each other and the page: a click that arrives
        meanwhile waits only for its own kind's warm-up, or does that work itself if it comes first.
        The next warm-up waits while a visitor's job waits or runs, so that it never slows work a person has
        started (on two cores it took half the machine from their first click). Warm-up jobs belong to the
        studio itself, not to a visitor."""

        def run() -> None:
            if self.jobs.mode == "process":
                start_fork_server()  # app.py has started it already; tests and other hosts may not have
            for kind, task in list(self.warm_tasks.items()):
                while self.jobs.visitor_jobs() and not self.jobs.closed:
                    time.sleep(WARM_UP_YIELD_S)
                if self.jobs.closed:
                    return
                if kind in TRAINING_KINDS:  # the worker prepares itself; one warm-up at a time all the same
                    if self.jobs.mode == "process":
                        self.jobs.warm([kind])
                        wait_ready(self.jobs.pools[kind].workers, timeout=120)
                    continue
                try:
                    job = self.jobs.submit("studio:warm-up", kind, task, None, label="warm-up",
                                           settings=self._settings)
                except Exception:  # warming is a courtesy; a failure shows up on the first real click
                    continue
                for _ in job.run:  # until it ends
                    pass

        thread = threading.Thread(target=run, name="studio-warm-up", daemon=True)
        thread.start()
        if wait:
            thread.join()
        return thread

    def close(self) -> None:
        self.jobs.close()
