"""Fine-tune work as jobs: what a worker process runs for the tab (and the command line, on a thread).

Each task is `fn(payload, run)`: `run.settings` are the owner's settings, so every run folder is made, found and
listed under the owner's own outputs folder, and a run name of anybody else's is "no such run". The registry's
"finetune" pool gives each training job a fresh process, so nothing of one run (a model, CUDA memory, torch
state) outlives it; `check` and `merge` are short jobs that the page sends to a warm pool.
"""

from __future__ import annotations

import time
from pathlib import Path

from studio.events import LogEvent, ProgressEvent

from .config import FinetuneConfig
from .curriculum import FinetuneResult, plan_run, run_finetune
from .multiprocess import train_processes
from .requests import RunRequest, TrainRequest
from .runs import RunFolder, merge_and_save


def train(payload: TrainRequest, run) -> FinetuneResult | str:
    """A new run; with `payload.check_only`, the Check report (everything but loading weights) instead."""
    started = time.monotonic()
    if payload.check_only:
        return check(payload, run)
    if payload.config.training.processes > 1:  # `accelerate launch` on N processes, followed from here
        return train_processes(payload.config, run, run.settings, payload.uploads, payload.scope, started=started)
    return run_finetune(payload.config, run, run.settings, payload.uploads, payload.scope, started=started)


def resume(payload: RunRequest, run) -> FinetuneResult:
    """Continue one of the owner's stopped runs from its latest checkpoint, with its own copy of the data."""
    started = time.monotonic()
    folder = RunFolder.find(run.settings.outputs_dir, payload.run)
    config = FinetuneConfig.from_dict(folder.read_json("config.json"))
    run.emit(LogEvent(0, f"Resuming run {folder.name}"))
    if config.training.processes > 1:
        return train_processes(config, run, run.settings, scope=payload.scope, folder=folder, started=started)
    return run_finetune(config, run, run.settings, scope=payload.scope, folder=folder, started=started)


def check(payload: TrainRequest, run) -> str:
    """What Train would do, said before anything heavy loads: the loader's checks, the data through the
    tokenizer and chat template, the step limit, the trainable parameters. Markdown for the status line."""
    run.emit(ProgressEvent(0, 0, "steps", "Checking the data, the model and the settings..."))
    return "**Check: OK.** " + plan_run(payload.config, run.settings, payload.uploads, payload.scope).describe()


def merge(payload: RunRequest, run) -> str:
    """Fold a finished LoRA run into its base (loaded through the loader, within the owner's scope)."""
    folder = RunFolder.find(run.settings.outputs_dir, payload.run)
    run.emit(ProgressEvent(0, 0, "steps", f"Merging run {folder.name}..."))
    merge_and_save(folder, run.settings, payload.scope)
    return folder.name


def export(payload: RunRequest, run) -> dict:
    """The run's accelerate config and launch command, written into its folder: the very files and command a
    multi-process run is started with (for a one-process run, the same for `--num_processes 1`)."""
    from studio.devices import pick_device

    from .multiprocess import launch_files

    folder = RunFolder.find(run.settings.outputs_dir, payload.run)
    config = FinetuneConfig.from_dict(folder.read_json("config.json"))
    files = launch_files(folder, run.settings, payload.scope, config, pick_device(run.settings.device))
    return {"config_file": files["config_file"], "command": files["command"]}


def warm(payload, run) -> int:
    """A one-step run of the tab's defaults in a folder that is deleted after: each fresh fine-tune worker does
    it before its job (`WorkerPool.prepare`), so a visitor's run starts in a process that has loaded, evaluated,
    trained and generated once already (the first run in a process took 0.4 s longer, measured)."""
    import dataclasses
    import tempfile

    from .form import defaults, parse_form

    values = defaults() | {"max_steps": 1, "logging_steps": 1, "eval_steps": 1}
    config, _ = parse_form(values)
    with tempfile.TemporaryDirectory(prefix="studio-warm-") as folder:
        settings = dataclasses.replace(run.settings, outputs_dir=Path(folder))
        return run_finetune(config, run, settings, started=time.monotonic()).steps
