"""A fine-tune on several processes, from the job's side: check, open the run, launch, follow, end.

Everything a refusal needs happens here first, in the job's own process, exactly as for one process
(`plan_run`, with the process count bounded by the machine); then the run folder is opened, the launch files
are written and the ranks start (`launch.run_processes`). The result is what the first rank wrote; a refusal
inside the ranks (e.g. a diverged loss) comes back as the same `StudioError`; a Stop returns a stopped result
whether the ranks ended together or had to be killed.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

from studio.errors import StudioError
from studio.events import LogEvent, ProgressEvent

from .config import FinetuneConfig
from .curriculum import FinetuneResult, open_run, plan_run
from .launch import (LOG_FILE, available_processes, launch_env, run_processes, stop_grace, write_launch)
from .requests import ModelScope, RunOpened
from .runs import RunFolder

RESULT_FILES = ("result.json", "error.json")


def launch_files(folder: RunFolder, settings, scope: ModelScope, config: FinetuneConfig, device: str) -> dict:
    """The run's accelerate config and command, as the studio runs them (Export shows the same)."""
    from .lora import mixed_precision

    return write_launch(folder.path, settings, scope, config.training.processes, device,
                        mixed_precision(config.training, device))


def train_processes(config: FinetuneConfig, run, settings, uploads: dict[str, str] | None = None,
                    scope: ModelScope = ModelScope(), folder: RunFolder | None = None,
                    started: float | None = None) -> FinetuneResult:
    """`run_finetune` on `config.training.processes` processes; with `folder`, continue that run."""
    started = started or time.monotonic()
    processes = config.training.processes
    if folder is not None:
        if folder.status in ("finished", "failed"):
            raise StudioError(f"Run {folder.name} is {folder.status}; start a new run to train more.")
        uploads = folder.uploads()
    plan = plan_run(config, settings, uploads, scope)
    created = folder is None
    if created:
        folder = open_run(settings, config, uploads or {})
    for name in RESULT_FILES:
        (folder.path / name).unlink(missing_ok=True)
    files = launch_files(folder, settings, scope, config, plan.device)
    run.emit(ProgressEvent(0, plan.steps, "steps", f"Starting {processes} {plan.device} processes for run "
                                                   f"{folder.name}...", preview=RunOpened(folder.name)))
    run.emit(LogEvent(0, f"$ {files['command']}"))
    threads = max(1, available_processes("cpu") // processes)
    outcome = run_processes(folder.path, files["argv"], run, stop_grace(settings),
                            env=launch_env(threads, time.time() - (time.monotonic() - started)))
    seconds = round(time.monotonic() - started, 2)
    error = folder.read_json("error.json")
    result = folder.read_json("result.json")
    trained = any("loss" in r for r in folder.logs())
    if created and not trained and (error or outcome.stopped or not result):
        shutil.rmtree(folder.path, ignore_errors=True)  # nothing trained: leave no half-made run behind
    if error:
        raise StudioError(error["message"])
    if result:  # the ranks finished their part (a kill after that only hurried their exit)
        return FinetuneResult(**result)
    if outcome.stopped:
        return stopped_result(folder, run, plan.trainable.describe(), seconds, trained)
    raise StudioError(f"The {processes}-process training ended (exit code {outcome.returncode}) before it finished"
                      f"{last_error(folder.path / LOG_FILE)}.")


def stopped_result(folder: RunFolder, run, trainable: str, seconds: float, trained: bool) -> FinetuneResult:
    """The result of ranks that were killed after a Stop: the run is stopped at its last logged step, and Resume
    continues from its latest complete checkpoint (or from the start)."""
    if not trained:
        run.emit(LogEvent(0, "Stopped before training began; nothing was saved."))
        return FinetuneResult("", "", 0, True, trainable, seconds, 0.0)
    logs = folder.logs()
    step = max((r["step"] for r in logs), default=0)
    if folder.status not in ("finished", "failed", "stopped"):
        folder.write_json("state.json", {"status": "stopped", "step": step, "reason": ""})
    evals = [r["eval_loss"] for r in logs if "eval_loss" in r and math.isfinite(r["eval_loss"])]
    run.emit(LogEvent(step, f"Stopped at step {step}; press Resume to continue from the latest checkpoint."))
    return FinetuneResult(folder.name, str(folder.path), step, True, trainable, seconds, 0.0,
                          evals[0] if evals else None, evals[-1] if evals else None)


def last_error(log: Path) -> str:
    """The last line of the ranks' output that looks like an error, for the message (': ...'), or ''."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if "Error" in line or "error:" in line]
    return f": {errors[-1][:300]}" if errors else ""
