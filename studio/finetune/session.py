"""Fine-tuning from the command line: the same tasks as the tab, in this process, on a thread.

A person at a terminal is the operator: they may name any data file or model folder, and the
per-visitor bounds (steps, wall time) do not apply. Ctrl-C stops the run with a checkpoint, like the
tab's Stop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, LogEvent

from .config import FinetuneConfig
from .requests import ModelScope, RunRequest, TrainRequest

OPERATOR = ModelScope(any_path=True)


def run_to_end(task: str, payload, settings, on_log: Callable[[str], None] | None = None):
    """Run `studio.finetune.tasks:<task>` on a thread and return its result (a `StudioError` when it fails)."""
    from studio.jobs import JobRegistry

    settings = dataclasses.replace(settings, max_job_minutes=0, max_finetune_steps=0)
    registry = JobRegistry(settings, mode="thread")
    job = registry.submit("cli", "finetune", f"studio.finetune.tasks:{task}", payload)
    try:
        for event in job.run:
            if isinstance(event, LogEvent) and on_log:
                on_log(event.message)
            elif isinstance(event, ErrorEvent):
                raise StudioError(event.message)
            elif isinstance(event, DoneEvent):
                return event.result
    except KeyboardInterrupt:
        registry.stop(job)  # Ctrl-C saves a checkpoint, like the tab's Stop
        for event in job.run:
            if isinstance(event, (DoneEvent, ErrorEvent)):
                break
        raise
    finally:
        registry.close()
    raise StudioError("The training ended without a result.")


def train_to_end(config: FinetuneConfig, settings, on_log: Callable[[str], None] | None = None):
    """Train a new run in the foreground; returns the `FinetuneResult`."""
    return run_to_end("train", TrainRequest(config, scope=OPERATOR), settings, on_log)


def resume_to_end(run: str, settings, on_log: Callable[[str], None] | None = None):
    return run_to_end("resume", RunRequest(run, OPERATOR), settings, on_log)


def export_files(run: str, settings) -> dict:
    """The run's accelerate config file and the command the studio runs it with."""
    return run_to_end("export", RunRequest(run, OPERATOR), settings)
