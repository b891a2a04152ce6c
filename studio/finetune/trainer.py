"""One stage of training with the transformers `Trainer`, reported on the studio's event stream.

`EventsCallback` is the only bridge: Trainer logs become `LogEvent`s (and lines
in the run's logs.jsonl and TensorBoard), evaluations become `EvalEvent`s,
every optimizer step a `StepEvent`, and the run's stop flag becomes
`control.should_training_stop` plus a checkpoint, so Resume can go on from it.
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


class EventsCallback(TrainerCallback):
    """Trainer hooks -> studio events; `offset` and `later_steps` place a stage inside the whole run."""

    def __init__(self, run: Run, log: RunLog | None, stage: str, offset: int = 0, later_steps: int = 0):
        self.run, self.log, self.stage = run, log, stage
        self.offset, self.later_steps = offset, later_steps
        self.loss: float = math.nan
        self.learning_rate: float | None = None
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        total = self.offset + state.max_steps + self.later_steps
        self.run.emit(StepEvent(self.offset + state.global_step, total, float(state.epoch or 0), self.loss,
                                self.learning_rate))
        if self.run.should_stop:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True  # the checkpoint Resume continues from
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        step = self.offset + state.global_step
        if self.log is not None:
            self.log.write(step, self.stage, values)
        if "loss" in values:
            self.loss, self.learning_rate = values["loss"], values.get("learning_rate")
            lr = f" · lr {self.learning_rate:.2e}" if self.learning_rate is not None else ""
            self.run.emit(LogEvent(step, f"[{self.stage}] step {step}: loss {self.loss:.4f}{lr}", values))
        elif "train_runtime" in values:
            summary = {k: values[k] for k in SUMMARY_KEYS if k in values}
            self.run.emit(LogEvent(step, f"[{self.stage}] trained {state.global_step} steps in "
                                         f"{values['train_runtime']:.1f}s", summary))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
        step = self.offset + state.global_step
        self.run.emit(EvalEvent(step, float(state.epoch or 0), metrics))
        if "eval_loss" in metrics:
            self.run.emit(LogEvent(step, f"[{self.stage}] step {step}: eval loss {metrics['eval_loss']:.4f}", {}))


def planned_steps(rows: int, training: TrainingSettings) -> int:
    """Optimizer steps the Trainer will take for `rows` training rows (as it counts them)."""
    if training.max_steps > 0:
        return training.max_steps
    batches = math.ceil(rows / training.batch_size)
    per_epoch = max(batches // training.grad_accumulation + int(batches % training.grad_accumulation > 0), 1)
    return math.ceil(per_epoch * training.epochs)


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
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )


@dataclass(frozen=True)
class StageOutcome:
    steps: int  # this stage's own optimizer steps
    stopped: bool
    train_loss: float | None


def train_stage(model, tokenizer, train_rows: list[dict], eval_rows: list[dict], args, callback: EventsCallback,
                resume_from: str | None = None, eval_first: bool = False) -> StageOutcome:
    """Train one stage; with `resume_from`, continue that checkpoint's steps, optimizer and schedule.

    `eval_first` evaluates before the first step, so the plot (and the measured
    improvement) starts from the model as it was.
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
    return StageOutcome(trainer.state.global_step, callback.stopped, output.metrics.get("train_loss"))
