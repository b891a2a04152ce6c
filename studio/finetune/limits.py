"""The operator's bounds on one fine-tune: steps a run may take and the wall time of one job.

Both are read from the settings at call time (the admin may change them while
the studio runs) and each refusal names its setting. Nothing here imports
torch: the page checks a form with it before a job is submitted, and the task
checks again with the same function.
"""

from __future__ import annotations

import math

from studio.errors import StudioError

from .config import FinetuneConfig, TrainingSettings
from .data import DataSet, held_out


def planned_steps(rows: int, training: TrainingSettings) -> int:
    """Optimizer steps the Trainer takes for `rows` training rows (as it counts them): with several processes each
    takes its share of the rows (the distributed sampler pads the last share), so an epoch has fewer steps."""
    if training.max_steps > 0:
        return training.max_steps
    batches = math.ceil(math.ceil(rows / training.processes) / training.batch_size)
    per_epoch = max(batches // training.grad_accumulation + int(batches % training.grad_accumulation > 0), 1)
    return math.ceil(per_epoch * training.epochs)


def run_steps(config: FinetuneConfig, datasets: dict[str, DataSet]) -> int:
    """Steps of the whole run: every stage's planned steps on its training split."""
    total = 0
    for stage in config.ordered_stages():
        training = stage.training(config.training)
        rows = len(datasets[stage.folder].rows)
        total += planned_steps(rows - held_out(rows, training.validation_fraction), training)
    return total


def check_steps(config: FinetuneConfig, datasets: dict[str, DataSet], max_steps: int) -> int:
    """The run's planned steps, or a refusal that names `max_finetune_steps` and what to lower."""
    total = run_steps(config, datasets)
    if max_steps and total > max_steps:
        raise StudioError(f"This run would take {total} steps, more than this studio allows a run "
                          f"({max_steps} steps, max_finetune_steps). Lower max steps or epochs, or use fewer rows.")
    return total


def job_seconds(settings) -> float:
    """Wall time one fine-tune job may take (0 = no limit); the registry stops a job at this limit."""
    return float(getattr(settings, "max_job_minutes", 0) or 0) * 60


def stop_margin(limit_s: float) -> float:
    """How long before the registry's limit a run stops on its own, so its checkpoint is written in time."""
    return min(30.0, 0.1 * limit_s)


def time_limit_note(limit_s: float) -> str:
    return (f"the studio's limit of {limit_s / 60:g} minutes a job (max_job_minutes); a checkpoint was saved: "
            "press Resume to continue")
