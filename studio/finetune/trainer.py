"""One stage of training with the transformers `Trainer`, reported on the studio's event stream.

`EventsCallback` is the only bridge: Trainer logs become `LogEvent`s (and lines
in the run's logs.jsonl and TensorBoard), evaluations become `EvalEvent`s,
every optimizer step a `StepEvent`, and the run's stop flag becomes
`control.should_training_stop` plus a checkpoint, so Resume can go on from it.
The same callback ends a stage when the loss stops being a number (diverged:
no checkpoint, the run fails), when the job's wall-time limit is near (a
checkpoint, like Stop), and keeps the weights of the lowest eval loss so the
stage can end with them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from studio.events import EvalEvent, LogEvent, Run, StepEvent

from .config import TrainingSettings
from .format import PadCollator
from .limits import planned_steps  # noqa: F401  (re-exported: older callers import it from here)

SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")


class RunLog:
    """Appends every Trainer log to logs.jsonl and TensorBoard, with steps counted across stages."""

    def __init__(self, folder: Path, tensorboard: bool = True):
        self.path = Path(folder) / "logs.jsonl"
        self._file = self.path.open("a", buffering=1)  # line-buffered: a crash loses at most the line being written
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(folder) / "tensorboard"))

    def write(self, step: int, stage: str, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, "stage": stage, "time": round(time.time(), 3), **values}) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                group = "eval" if key.startswith("eval_") else "train"
                self._tb.add_scalar(f"{group}/{key.removeprefix('eval_')}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


class BestWeights:
    """A CPU copy of the trainable weights at the lowest eval loss seen (adapters are small; a full fine-tune is
    limited to small models), so a stage can end with its best weights instead of its last."""

    def __init__(self):
        self.loss = math.inf
        self.step: int | None = None
        self._weights: dict | None = None

    def offer(self, model, step: int, loss: float) -> None:
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.step = loss, step
            self._weights = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()
                             if p.requires_grad}

    def restore(self, model) -> None:
        import torch

        with torch.no_grad():
            for name, param in model.named_parameters():
                if self._weights and name in self._weights:
                    param.copy_(self._weights[name].to(param.device))


def agreed_stop(run: Run, late: bool = False) -> tuple[bool, bool]:
    """(stop, late) as every process of a run sees it: a multi-process run's ranks must end at the same step (a
    rank that stops alone leaves the others waiting for it in the next gradient exchange), so a run that can
    `agree` (studio.finetune.distributed) combines what each rank saw; one process answers alone."""
    agree = getattr(run, "agree", None)
    return agree(run.should_stop, late) if agree is not None else (run.should_stop, late)


class EventsCallback(TrainerCallback):
    """Trainer hooks -> studio events; `offset` and `later_steps` place a stage inside the whole run.

    `deadline` (time.monotonic) ends the stage with a checkpoint, as Stop does, before the job's wall-time limit.
    """

    def __init__(self, run: Run, log: RunLog | None, stage: str, offset: int = 0, later_steps: int = 0,
                 deadline: float | None = None):
        self.run, self.log, self.stage = run, log, stage
        self.offset, self.later_steps = offset, later_steps
        self.deadline = deadline
        self.loss: float = math.nan
        self.learning_rate: float | None = None
        self.stopped = False
        self.time_limited = False
        self.diverged_at: int | None = None  # run step where the loss stopped being a finite number
        self.best = BestWeights()
        self.last_eval: tuple[int, float] | None = None  # (run step, eval loss) of the latest evaluation

    def on_step_end(self, args, state, control, **kwargs):
        total = self.offset + state.max_steps + self.later_steps
        self.run.emit(StepEvent(self.offset + state.global_step, total, float(state.epoch or 0), self.loss,
                                self.learning_rate))
        stop, late = agreed_stop(self.run, self.deadline is not None and time.monotonic() >= self.deadline)
        if (stop or late) and self.diverged_at is None:
            self.stopped = True
            self.time_limited = late and not stop
            if self.time_limited and hasattr(self.run, "request_stop"):
                self.run.request_stop()  # the job ends as stopped, as when the registry stops it at the limit
            control.should_training_stop = True
            control.should_save = True  # the checkpoint Resume continues from
        return control

    def _diverge(self, step: int, control) -> None:
        if self.diverged_at is None:
            self.diverged_at = step
        control.should_training_stop = True
        control.should_save = False  # weights full of NaN are not worth resuming from

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        step = self.offset + state.global_step
        if self.log is not None:
            self.log.write(step, self.stage, {k: v for k, v in values.items() if math.isfinite(v)})
        if not all(math.isfinite(values[k]) for k in ("loss", "grad_norm") if k in values):
            self._diverge(step, control)
            self.run.emit(LogEvent(step, f"[{self.stage}] step {step}: the loss is no longer a number (loss "
                                         f"{values.get('loss')}, gradient norm {values.get('grad_norm')})", {}))
        elif "loss" in values:
            self.loss, self.learning_rate = values["loss"], values.get("learning_rate")
            lr = f" · lr {self.learning_rate:.2e}" if self.learning_rate is not None else ""
            self.run.emit(LogEvent(step, f"[{self.stage}] step {step}: loss {self.loss:.4f}{lr}", values))
        elif "train_runtime" in values:
            summary = {k: values[k] for k in SUMMARY_KEYS if k in values}
            self.run.emit(LogEvent(step, f"[{self.stage}] trained {state.global_step} steps in "
                                         f"{values['train_runtime']:.1f}s", summary))
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
        step = self.offset + state.global_step
        self.run.emit(EvalEvent(step, float(state.epoch or 0), metrics))
        if "eval_loss" in metrics:
            if not math.isfinite(metrics["eval_loss"]):
                self._diverge(step, control)
                return control
            self.last_eval = (step, metrics["eval_loss"])
            if state.global_step > 0 and kwargs.get("model") is not None:  # not the evaluation before training
                self.best.offer(kwargs["model"], step, metrics["eval_loss"])
            self.run.emit(LogEvent(step, f"[{self.stage}] step {step}: eval loss {metrics['eval_loss']:.4f}", {}))
        return control


def optimizer_name(device: str, quantized: bool) -> str:
    """Paged 8-bit AdamW where bitsandbytes and CUDA allow it (it saves optimizer memory for QLoRA); AdamW otherwise."""
    import importlib.util

    if quantized and device == "cuda" and importlib.util.find_spec("bitsandbytes") is not None:
        return "paged_adamw_8bit"
    return "adamw_torch"


def training_arguments(training: TrainingSettings, output_dir: Path, device: str, mixed: str, has_eval: bool,
                       optim: str = "adamw_torch"):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        learning_rate=training.learning_rate,
        num_train_epochs=training.epochs,
        max_steps=training.max_steps if training.max_steps > 0 else -1,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.batch_size,
        gradient_accumulation_steps=training.grad_accumulation,
        warmup_steps=training.warmup_steps,
        lr_scheduler_type=training.scheduler,
        weight_decay=training.weight_decay,
        logging_steps=training.logging_steps,
        logging_first_step=True,  # a point on the plot at once
        eval_strategy="steps" if has_eval else "no",  # no evaluation settings without an evaluation set
        eval_steps=training.eval_steps,
        save_strategy="steps",
        save_steps=training.save_steps,
        save_total_limit=2,
        seed=training.seed,
        data_seed=training.seed,
        bf16=mixed == "bf16",
        fp16=mixed == "fp16",
        use_cpu=device == "cpu",
        optim=optim,
        report_to="none",  # TensorBoard is written by RunLog, with steps that continue across stages
        disable_tqdm=True,
        logging_nan_inf_filter=False,  # a NaN loss must reach the callback (the filter logs 0.0 in its place)
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )


@dataclass(frozen=True)
class StageOutcome:
    steps: int  # this stage's own optimizer steps
    stopped: bool
    train_loss: float | None
    diverged_at: int | None = None  # run step where the loss became NaN/inf
    time_limited: bool = False  # stopped by the wall-time limit rather than by Stop
    restored: tuple[int, float] | None = None  # (run step, eval loss) of the best weights, when they were restored
    eval_loss: float | None = None  # eval loss of the weights the stage ends with


def train_stage(model, tokenizer, train_rows: list[dict], eval_rows: list[dict], args, callback: EventsCallback,
                resume_from: str | None = None, eval_first: bool = False, restore_best: bool = True) -> StageOutcome:
    """Train one stage; with `resume_from`, continue that checkpoint's steps, optimizer and schedule.

    `eval_first` evaluates before the first step, so the plot (and the measured
    improvement) starts from the model as it was. A stage that ends normally is
    evaluated at its last step too (unless that step was just evaluated), and with
    `restore_best` it ends with the weights of its lowest eval loss.
    """
    from transformers import PrinterCallback, ProgressCallback, Trainer

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows or None,
                      data_collator=PadCollator(pad), processing_class=tokenizer, callbacks=[callback])
    for printer in (PrinterCallback, ProgressCallback):  # progress goes to the event stream, not to stdout
        trainer.remove_callback(printer)
    if eval_first and eval_rows and resume_from is None:
        trainer.evaluate()
    output = trainer.train(resume_from_checkpoint=resume_from)
    step = trainer.state.global_step
    outcome = dict(steps=step, stopped=callback.stopped, train_loss=output.metrics.get("train_loss"),
                   diverged_at=callback.diverged_at, time_limited=callback.time_limited)
    if callback.stopped or callback.diverged_at is not None or not eval_rows:
        return StageOutcome(**outcome)
    last = callback.offset + step
    final_loss = callback.last_eval[1] if callback.last_eval and callback.last_eval[0] == last else None
    if final_loss is None:  # the last step was not evaluated: do it now, so "best" compares with the end
        final_loss = trainer.evaluate().get("eval_loss")
        if callback.diverged_at is not None:
            return StageOutcome(**(outcome | dict(diverged_at=callback.diverged_at)))
    best = callback.best
    if restore_best and best.step is not None and best.step != last and final_loss is not None \
            and best.loss < final_loss:
        best.restore(model)
        return StageOutcome(**outcome, restored=(best.step, best.loss), eval_loss=best.loss)
    return StageOutcome(**outcome, eval_loss=final_loss)
