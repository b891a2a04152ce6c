"""The playground's training loop: AdamW, warmup + schedule, accumulation, clipping, early stopping.

It reports through a run handle (`emit`, `should_stop`): a `StepEvent` at most
every `step_every` seconds (events cross a pipe to the page, which shows one
number per refresh anyway) and an `EvalEvent` per epoch, and it checks the stop
flag after every step, so Stop takes effect within one step and still returns
the best model so far. A loss that turns NaN or infinite ends the run as
failed ("diverged at step N"), never as a finished run.

Randomness is the run's own: the seed applies inside `torch.random.fork_rng`,
so training never changes the random state of the process that calls it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from studio.errors import StudioError
from studio.events import EvalEvent, LogEvent, Run, StepEvent

from .config import PlaygroundConfig
from .datasets import Split, ToyDataset, make_dataset
from .models import build_model, count_parameters, evaluating

Snapshot = Callable[[nn.Module], dict[str, Any]]


@dataclass
class EpochMetrics:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    test_loss: float
    test_accuracy: float
    learning_rate: float


@dataclass
class PlaygroundResult:
    test_accuracy: float
    test_loss: float
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    parameters: int
    stopped: bool
    early_stopped: bool
    history: list[EpochMetrics] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU time of the training process over the loop: a rate a busy machine barely moves
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "test_accuracy": round(self.test_accuracy, 4),
            "test_loss": round(self.test_loss, 4),
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "steps_per_second": round(self.steps_per_second, 1),
            "steps_per_cpu_second": round(self.steps / self.cpu_seconds, 1) if self.cpu_seconds > 0 else 0.0,
            "parameters": self.parameters,
            "stopped": self.stopped,
            "early_stopped": self.early_stopped,
        }


def schedule(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    """Learning-rate multiplier for optimizer step `s`: linear warmup, then cosine, linear or flat."""
    warmup = min(warmup, max(total - 1, 0))

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / (warmup + 1)
        progress = (s - warmup) / max(1, total - warmup)
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if kind == "linear":
            return max(0.0, 1 - progress)
        return 1.0

    return factor


class TrainingDiverged(StudioError):
    """The loss became NaN or infinite: nothing after this step means anything."""

    def __init__(self, step: int, loss: float):
        self.step = step
        super().__init__(f"failed: diverged at step {step} (the loss became {loss}). Nothing was saved. "
                         "Try a smaller learning rate, gradient clipping, or batch norm.")


def epoch_batches(order: torch.Tensor, batch_size: int, drop_single: bool) -> list[torch.Tensor]:
    """The epoch's mini-batches; with batch norm a last batch of one row is left out (its statistics are
    undefined and PyTorch refuses it), so any size of training set trains."""
    batches = list(order.split(batch_size))
    if drop_single and len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


def _forward(model: nn.Module, split: Split, index: torch.Tensor | slice) -> torch.Tensor:
    if split.lengths is None:
        return model(split.x[index])
    return model(split.x[index], split.lengths[index])


class HeldOut:
    """Splits evaluated together after every epoch (validation and test): one pass in eval mode over their
    rows joined, so an epoch pays for one mode switch and a forward or two, not per split and per batch."""

    def __init__(self, *splits: Split, batch: int = 4096):
        self.rows = Split.joined(*splits)
        self.sizes = [len(s) for s in splits]
        self.part = torch.repeat_interleave(torch.arange(len(splits)), torch.tensor(self.sizes))
        self.batch = batch

    @torch.inference_mode()
    def evaluate(self, model: nn.Module) -> list[tuple[float, float]]:
        """(mean cross-entropy, accuracy) of each split; NaNs for an empty one."""
        losses, hits = [], []
        with evaluating(model):
            for start in range(0, len(self.rows), self.batch):
                idx = slice(start, start + self.batch)
                logits, targets = _forward(model, self.rows, idx), self.rows.y[idx]
                losses.append(F.cross_entropy(logits, targets, reduction="none"))
                hits.append((logits.argmax(1) == targets).float())
        sums = torch.zeros(2, len(self.sizes))
        if losses:
            sums[0].index_add_(0, self.part, torch.cat(losses))
            sums[1].index_add_(0, self.part, torch.cat(hits))
        loss_sums, correct = sums.tolist()
        return [(l / n, c / n) if n else (math.nan, math.nan) for l, c, n in zip(loss_sums, correct, self.sizes)]


def evaluate(model: nn.Module, split: Split) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on a whole split, in eval mode."""
    return HeldOut(split).evaluate(model)[0]


def sum_correct(answers: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
    """How many of an epoch's training answers were right: one count over the whole epoch, since per-step
    counting (argmax, compare, sum, add) cost more than a step of a small network's optimiser."""
    if not answers:
        return 0
    logits, targets = zip(*answers)
    return int((torch.cat(logits).argmax(1) == torch.cat(targets)).sum())


def _hold_out(train: Split, fraction: float, generator: torch.Generator) -> tuple[Split, Split]:
    order = torch.randperm(len(train), generator=generator)
    n_val = int(len(train) * fraction)
    return train.subset(order[n_val:]), train.subset(order[:n_val])


class SnapshotsBeside:
    """Snapshots taken on a thread of their own, from a copy of the weights, while training goes on.

    Why: a snapshot is a forward pass over the 72x72 grid plus painting, 12-18 ms for the default MLP on a
    2-core host, about once a second: 1.4-2 % of the training loop's time when taken in the loop. Torch lets go
    of the interpreter lock inside its ops, so on the thread beside it the pass costs the loop little. A
    picture then belongs to the weights of the epoch it was asked at and reaches the page with a later epoch's
    event (one epoch, tens of milliseconds, later); the first and the last are taken in the loop (`now`)."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.shadow: nn.Module | None = None  # the model's copy, made at the first ask
        self.pending: Future | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="snapshots")

    @property
    def busy(self) -> bool:
        return self.pending is not None and not self.pending.done()

    def ask(self, model: nn.Module) -> None:
        if self.shadow is None:
            self.shadow = copy.deepcopy(model)
        with torch.no_grad():
            for mine, theirs in zip(self.shadow.state_dict().values(), model.state_dict().values()):
                mine.copy_(theirs)
        self.pending = self.pool.submit(self.snapshot, self.shadow)

    def taken(self) -> dict[str, Any]:
        """The pictures finished since the last call (none when there are none)."""
        if self.pending is None or not self.pending.done():
            return {}
        pending, self.pending = self.pending, None
        return pending.result()

    def now(self, model: nn.Module) -> dict[str, Any]:
        """Pictures of these weights, taken in the loop (one still being taken beside it is waited for and
        dropped): the first ones, which the page shows with the run's first epoch, and the final ones."""
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        return self.snapshot(model)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def train_playground(
    config: PlaygroundConfig,
    run: Run | None = None,
    data: ToyDataset | None = None,
    snapshot: Snapshot | None = None,
    snapshot_every: float = 0.3,
    step_every: float = 0.1,
) -> PlaygroundResult:
    """Train the network a config describes. Same config and seed give the same numbers.

    `snapshot(model)` is called after an epoch (at most every `snapshot_every`
    seconds, on a copy of the weights beside the loop: `SnapshotsBeside`; and after
    the last, in the loop) to attach pictures of what the model does to an epoch's
    `EvalEvent`. Raises `TrainingDiverged` when the loss stops being finite.
    """
    data = data or make_dataset(config)
    beside = SnapshotsBeside(snapshot) if snapshot else None
    try:
        with torch.random.fork_rng(devices=[]):  # dropout and initial weights draw from this run's seed only
            torch.manual_seed(config.seed)
            return _train(config, run, data, beside, snapshot_every, step_every)
    finally:
        if beside is not None:
            beside.close()


def _train(config: PlaygroundConfig, run, data: ToyDataset, beside: SnapshotsBeside | None, snapshot_every: float,
           step_every: float) -> PlaygroundResult:
    generator = torch.Generator().manual_seed(config.seed)
    train, val = _hold_out(data.train, config.val_fraction, generator)
    model = build_model(config, data)
    params = count_parameters(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    drop_single = config.uses_batch_norm
    batches_per_epoch = len(epoch_batches(torch.arange(len(train)), config.batch_size, drop_single))
    steps_per_epoch = math.ceil(batches_per_epoch / config.accumulation)  # a last partial window still steps
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(config.scheduler, config.warmup_steps, total_steps))
    emit = run.emit if run else (lambda event: None)
    should_stop = (lambda: run.should_stop) if run else (lambda: False)
    if run:
        emit(LogEvent(0, f"{config.model} with {params:,} parameters on {config.dataset}: "
                         f"{len(train)} train / {len(val)} validation / {len(data.test)} test examples",
                      {"parameters": float(params), "total_steps": float(total_steps)}))

    held_out = HeldOut(val, data.test)
    best_loss, best_state, best_epoch, bad_epochs = math.inf, None, 0, 0
    history: list[EpochMetrics] = []
    step, stopped, early = 0, False, False
    last_snapshot = last_step_event = -math.inf
    started, cpu_started = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(1, config.epochs + 1):
        batches = epoch_batches(torch.randperm(len(train), generator=generator), config.batch_size, drop_single)
        seen, loss_sum = 0, 0.0
        answers: list[tuple[torch.Tensor, torch.Tensor]] = []  # (logits, targets): scored once per epoch
        for window_start in range(0, len(batches), config.accumulation):
            window_index = batches[window_start:window_start + config.accumulation]
            window_size = sum(len(i) for i in window_index)
            window_loss = 0.0
            for index in window_index:
                targets = train.y[index]
                logits = _forward(model, train, index)
                loss = F.cross_entropy(logits, targets)
                # Weight each micro-batch by its share of the window, so a partial window is a true mean.
                (loss if len(window_index) == 1 else loss * (len(index) / window_size)).backward()
                window_loss += loss.item() * len(index)
                answers.append((logits.detach(), targets))
            step += 1
            if not math.isfinite(window_loss):
                raise TrainingDiverged(step, window_loss / window_size)
            if config.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            seen += window_size
            loss_sum += window_loss
            now = time.perf_counter()
            if now - last_step_event >= step_every or step == total_steps:
                last_step_event = now
                emit(StepEvent(step, total_steps, epoch - 1 + seen / len(train), window_loss / window_size,
                               scheduler.get_last_lr()[0]))
            if should_stop():
                stopped = True
                break
        if stopped and history:
            break  # the worker has a short grace period after a Stop: keep the best full epoch, skip the rest

        correct = sum_correct(answers)
        (val_loss, val_acc), (test_loss, test_acc) = held_out.evaluate(model)
        if not len(val):  # no validation rows held out: the epoch's training numbers stand in
            val_loss, val_acc = loss_sum / max(seen, 1), correct / max(seen, 1)
        if not math.isfinite(val_loss):  # e.g. the weights overflowed although the batch losses did not
            raise TrainingDiverged(step, val_loss)
        metrics = EpochMetrics(epoch, step, loss_sum / max(seen, 1), correct / max(seen, 1),
                               val_loss, val_acc, test_loss, test_acc, scheduler.get_last_lr()[0])
        history.append(metrics)
        if val_loss < best_loss:
            best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        else:
            bad_epochs += 1
        early = config.patience > 0 and bad_epochs >= config.patience
        last = stopped or early or epoch == config.epochs
        extras = {}
        if beside is not None and not stopped:
            if last or last_snapshot == -math.inf:  # the first pictures at once, the last of the final weights
                extras = beside.now(model)
                last_snapshot = time.perf_counter()
            else:
                extras = beside.taken()
                if not beside.busy and time.perf_counter() - last_snapshot >= snapshot_every:
                    beside.ask(model)
                    last_snapshot = time.perf_counter()
        emit(EvalEvent(step, float(epoch), {k: v for k, v in vars(metrics).items() if k not in {"epoch", "step"}}, extras))
        if last:
            break

    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    test_loss, test_acc = evaluate(model, data.test)
    if run:
        why = "stopped by the user" if stopped else "stopped early: no better validation loss" if early else "finished"
        emit(LogEvent(step, f"{why} after {len(history)} epochs; restored epoch {best_epoch}: "
                            f"test accuracy {test_acc:.3f}"))
    return PlaygroundResult(test_acc, test_loss, best_epoch, len(history), step, seconds, params,
                            stopped, early and not stopped, history, model=model, cpu_seconds=cpu_seconds)
