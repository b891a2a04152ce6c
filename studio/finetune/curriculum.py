"""A whole fine-tuning run: stages from easiest to hardest, each continuing from the last one's weights.

A plain run is a curriculum of one stage named "train". For each stage the
run saves its checkpoints under `checkpoints/<stage name>/` and its final
weights under `stages/<stage name>/` (named after the stage, whatever order it
was given in), marks its start with a `StageEvent`, and counts steps on from
the stages before, so one loss plot covers the whole run. Resume skips the
stages already done and continues the stopped one from its latest checkpoint.

Everything that can be known without the weights (data, the step limit, the
loader's checks, the chat template on every row, tokenized lengths, the
trainable parameters) is checked first by `plan_run`, which is all that Check
runs; only then do weights load, and the run folder appears only when training
is about to start, so a refusal leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import math
import shutil

from studio.errors import StudioError
from studio.events import LogEvent, ProgressEvent, Run, StageEvent
from studio.records import make_record

from .config import FinetuneConfig, Stage
from .data import DataSet, load_data, split_rows
from .format import check_chat, generation_prompt, length_note, templated, tokenize_rows
from .limits import check_steps, job_seconds, planned_steps, stop_margin, time_limit_note
from .requests import ModelScope, RunOpened
from .runs import RunFolder, publish


@dataclass
class FinetuneResult:
    run: str
    folder: str
    steps: int
    stopped: bool
    trainable: str
    seconds: float
    steps_per_second: float
    first_eval_loss: float | None = None
    last_eval_loss: float | None = None
    final: str | None = None  # the adapter (or model) folder, only when finished
    comparison: list[dict] = field(default_factory=list)  # prompt, expected, before, after
    stop_reason: str = ""  # why a stopped run stopped, when it was not the Stop button (the wall-time limit)
    restored: str = ""  # "step N (eval loss X)" when the run ended with its best weights rather than its last


@dataclass
class PreparedStage:
    stage: Stage
    data: DataSet
    train: list  # tokenized rows
    eval: list
    compare: list[tuple[str, str]]  # (prompt, expected) from the validation split
    notes: list[str]
    templated: bool = False  # compare prompts come from the chat template (special tokens included)


@dataclass
class Plan:
    """A run as far as it can be known before any weights load."""

    datasets: dict[str, DataSet]
    steps: int
    source: object  # studio.registry.ModelSource
    device: str
    trainable: object  # lora.Trainable; None when Train skipped the count (it counts the loaded model instead)
    tokenizer: object
    stages: list[PreparedStage]
    config: FinetuneConfig | None = None

    def describe(self) -> str:
        data = " · ".join(f"{d.name}: {len(d.rows)} rows ({d.shape})" for d in self.datasets.values())
        notes = "".join(f"  \n{note}" for stage in self.stages for note in stage.notes)
        processes = self.config.training.processes if self.config else 1
        where = f"{processes} {self.device} processes" if processes > 1 else self.device
        return (f"{self.trainable.describe()}  \n{data}  \n{self.steps} steps planned on {where}; "
                f"{self.source.name} is ready to load.{notes}")


def load_stage_data(config: FinetuneConfig, uploads: dict[str, str] | None = None,
                    any_path: bool = False) -> dict[str, DataSet]:
    """Every stage's data, checked before any model loads: example sets and the request's uploads only
    (the command line, `any_path`, may name files)."""
    return {s.folder: load_data(s.data, uploads, any_path, field=f"stage {s.name} data" if config.stages else "data")
            for s in config.ordered_stages()}


def prepare(config: FinetuneConfig, datasets: dict[str, DataSet], tokenizer) -> list[PreparedStage]:
    prepared = []
    for stage in config.ordered_stages():
        training = stage.training(config.training)
        data = datasets[stage.folder]
        train_rows, eval_rows = split_rows(data.rows, training.validation_fraction, training.seed)
        notes = []
        parts = {}
        for part, rows in (("training", train_rows), ("validation", eval_rows)):
            result = tokenize_rows(rows, data.shape, tokenizer, training.max_length, training.overlong)
            note = length_note(data, part, result, training.max_length, training.overlong)
            if note:
                notes.append(note)
            parts[part] = result.examples
        if len(parts["training"]) < training.batch_size:
            raise StudioError(f"{data.name}: {len(parts['training'])} training rows are left after the validation "
                              f"split{' and the length limit' if notes else ''}, fewer than one batch of "
                              f"{training.batch_size}. Add rows or lower the batch size.")
        compare = [generation_prompt(r.values, data.shape, tokenizer) for r in eval_rows]
        prepared.append(PreparedStage(stage, data, parts["training"], parts["validation"], compare, notes,
                                      templated(data.shape)))
    return prepared


def plan_run(config: FinetuneConfig, settings, uploads: dict[str, str] | None = None,
             scope: ModelScope = ModelScope(), count_trainable: bool = True) -> Plan:
    """Check everything a run needs without loading weights: what Check shows, and Train's first step.

    Counting the trainable parameters builds the model from its config (0.14-0.18 s in a fresh fine-tune
    worker, the largest part of a run's start); Train counts them on the loaded model and skips it."""
    from .lora import check_base, load_tokenizer, preview

    datasets = load_stage_data(config, uploads, scope.any_path)
    steps = check_steps(config, datasets, settings.max_finetune_steps)
    source, device = check_base(config.model, config.method, settings, scope)
    if config.training.processes > 1:
        from .launch import check_processes

        check_processes(config.training.processes, device, config.method.method)
    tokenizer = load_tokenizer(source, settings)
    for data in datasets.values():
        check_chat(data, tokenizer, source.name)
    stages = prepare(config, datasets, tokenizer)
    trainable = preview(source, config.method, settings) if count_trainable else None
    return Plan(datasets, steps, source, device, trainable, tokenizer, stages, config)


def open_run(settings, config: FinetuneConfig, uploads: dict[str, str]) -> RunFolder:
    """A new run folder with its config and a copy of the uploaded data it uses (Resume reads the copy)."""
    folder = RunFolder.create(settings.outputs_dir)
    folder.write_json("config.json", config.to_dict())
    used = {s.data for s in config.ordered_stages()} & set(uploads)
    if used:
        (folder.path / "data").mkdir()
        copied = {}
        for number, name in enumerate(sorted(used)):
            relative = f"data/{number}-{Path(name).name}"
            shutil.copyfile(uploads[name], folder.path / relative)
            copied[name] = relative
        folder.write_json("uploads.json", copied)
    return folder


def run_finetune(config: FinetuneConfig, run: Run, settings, uploads: dict[str, str] | None = None,
                 scope: ModelScope = ModelScope(), folder: RunFolder | None = None,
                 started: float | None = None, main: bool = True) -> FinetuneResult:
    """Train all stages (or, with an existing `folder`, what is left of them) and publish the result.

    `started` (time.monotonic) is when the job began: the run stops itself with a checkpoint before the
    studio's wall-time limit for a job, so the checkpoint is complete when the limit comes. `main` is False in
    every process of a multi-process run but the first: they train alongside it and write nothing.
    """
    from .compare import COMPARE_PROMPTS, greedy_answers
    from .lora import attach, load_base
    from .trainer import agreed_stop

    started = started or time.monotonic()
    resume = folder is not None
    if resume:
        if folder.status == "finished":
            raise StudioError(f"Run {folder.name} has finished already; start a new run to train more.")
        if folder.status == "failed":
            reason = (folder.read_json("failed.json") or {}).get("reason", "it failed")
            raise StudioError(f"Run {folder.name} cannot be resumed: {reason}. Start a new run.")
        uploads = folder.uploads()
    plan = plan_run(config, settings, uploads, scope, count_trainable=False)
    for stage in plan.stages:
        for note in stage.notes:
            run.emit(LogEvent(0, note))
    run.emit(ProgressEvent(0, plan.steps, "steps", f"Loading {plan.source.name} for {config.method.method}..."))
    model, tokenizer, device = load_base(config.model, config.method, settings, scope)
    if agreed_stop(run)[0]:  # Stop while the model loaded: nothing was trained, nothing is kept
        return FinetuneResult("", "", 0, True, "", round(time.monotonic() - started, 2), 0.0)
    model, trainable = attach(model, config.method, config.training.gradient_checkpointing)
    run.emit(LogEvent(0, f"{trainable.describe()} · device {device}", {"trainable": trainable.trainable,
                                                                         "parameters": trainable.total}))
    last = plan.stages[-1]
    prompts = config.compare_prompts or [p for p, _ in last.compare[:COMPARE_PROMPTS]]
    chat_prompts = frozenset(p for p, _ in last.compare) if last.templated and not config.compare_prompts \
        else frozenset()
    expected = dict(last.compare)
    saved = folder.read_json("comparison.json") if resume else None
    before = saved["before"] if saved else \
        greedy_answers(model, tokenizer, prompts, templated=chat_prompts) if main else []

    created = folder is None
    if created:
        folder = open_run(settings, config, uploads or {})
    try:
        return _train(config, run, settings, folder, model, tokenizer, device, trainable, plan, started,
                      prompts, chat_prompts, expected, before, resume, main)
    except Exception:
        if created and not any("loss" in r for r in folder.logs()) and folder.status != "failed":
            shutil.rmtree(folder.path, ignore_errors=True)  # nothing trained: leave no half-made run behind
        raise


def _train(config, run, settings, folder, model, tokenizer, device, trainable, plan, started, prompts,
           chat_prompts, expected, before, resume, main=True) -> FinetuneResult:
    """The training part of `run_finetune`, once the run folder exists (written by the `main` process only)."""
    from .compare import greedy_answers
    from .lora import mixed_precision
    from .trainer import EventsCallback, RunLog, optimizer_name, training_arguments, train_stage

    stages = plan.stages
    mixed = mixed_precision(config.training, device)
    quantized = config.method.method == "qlora"
    run.emit(ProgressEvent(0, plan.steps, "steps", f"Run {folder.name}", preview=RunOpened(folder.name)))
    if main:
        folder.write_json("comparison.json", {"prompts": prompts, "before": before})
    if resume and main:
        (folder.path / "state.json").unlink(missing_ok=True)
    limit_s = job_seconds(settings)
    deadline = started + limit_s - stop_margin(limit_s) if limit_s else None
    log = RunLog(folder.path) if main else None
    plans = [planned_steps(len(s.train), s.stage.training(config.training)) for s in stages]
    offset, stopped, last_weights, stop_reason, restored = 0, False, None, "", ""
    final_eval = None
    try:
        for index, prep in enumerate(stages):
            name = prep.stage.folder
            done = folder.read_json(f"stages/{name}/stage.json")
            if done:  # finished before a Stop: its weights are what the next stage starts from
                offset += done["steps"]
                last_weights = folder.stage_dir(name)
                continue
            if last_weights is not None:
                load_weights(model, last_weights)
                last_weights = None
            checkpoint = folder.latest_checkpoint(name) if resume else None
            run.emit(StageEvent(offset, index, len(stages), prep.stage.name))
            run.emit(LogEvent(offset, f"Stage {index + 1}/{len(stages)} {prep.stage.name!r}: {len(prep.train)} "
                                      f"training rows ({prep.data.shape}), {len(prep.eval)} for validation"
                                      + (f"; resuming from {checkpoint.name}" if checkpoint else "")))
            training = prep.stage.training(config.training)
            args = training_arguments(training, folder.checkpoints(name), device, mixed, bool(prep.eval),
                                      optimizer_name(device, quantized))
            callback = EventsCallback(run, log, prep.stage.name, offset, sum(plans[index + 1:]), deadline)
            outcome = train_stage(model, tokenizer, prep.train, prep.eval, args, callback,
                                  str(checkpoint) if checkpoint else None, eval_first=index == 0,
                                  restore_best=training.restore_best)
            if outcome.diverged_at is not None:
                reason = (f"failed: diverged at step {outcome.diverged_at} (the loss became NaN or infinite; the "
                          f"learning rate was {training.learning_rate:g}). Lower the learning rate and start a new run")
                if main:
                    folder.write_json("failed.json", {"status": "failed", "reason": reason,
                                                      "step": outcome.diverged_at, "stage": prep.stage.name})
                raise StudioError(reason + ".")
            if outcome.stopped:
                stopped = True
                if outcome.time_limited:
                    stop_reason = f"Stopped at {time_limit_note(limit_s)}."
                if main:
                    folder.write_json("state.json", {"status": "stopped", "stage": prep.stage.name,
                                                     "step": offset + outcome.steps, "reason": stop_reason})
                offset += outcome.steps
                break
            if outcome.restored:
                step, loss = outcome.restored
                restored = f"step {step} (eval loss {loss:.4f})"
                run.emit(LogEvent(offset + outcome.steps, f"[{prep.stage.name}] ended with the weights of {restored}, "
                                                          "its lowest eval loss"))
            final_eval = outcome.eval_loss
            offset += outcome.steps
            if main:
                save_weights(model, tokenizer, folder.stage_dir(name))
                folder.write_json(f"stages/{name}/stage.json", {"name": prep.stage.name, "steps": outcome.steps,
                                                                "difficulty": prep.stage.difficulty,
                                                                "restored": outcome.restored})
    finally:
        if log is not None:
            log.close()

    evals = [r["eval_loss"] for r in folder.logs() if "eval_loss" in r and math.isfinite(r["eval_loss"])]
    seconds = time.monotonic() - started
    result = FinetuneResult(folder.name, str(folder.path), offset, stopped, trainable.describe(), round(seconds, 2),
                            0.0, evals[0] if evals else None, final_eval if final_eval is not None
                            else (evals[-1] if evals else None), stop_reason=stop_reason, restored=restored)
    state = [r for r in folder.logs() if "train_runtime" in r]
    runtime = sum(r["train_runtime"] for r in state)
    result.steps_per_second = round(offset / runtime, 3) if runtime else 0.0
    if stopped:
        run.emit(LogEvent(offset, stop_reason or f"Stopped at step {offset}; press Resume to continue from the "
                                                 "checkpoint."))
        return result
    if not main:
        return result

    after = greedy_answers(model, tokenizer, prompts, templated=chat_prompts)
    result.comparison = [{"prompt": p, "expected": expected.get(p, ""), "before": b, "after": a}
                         for p, b, a in zip(prompts, before, after)]
    tmp = folder.path / "final.tmp"
    save_weights(model, tokenizer, tmp)
    result.final = str(publish(tmp, folder.final))
    folder.write_json("comparison.json", {"prompts": prompts, "before": before, "after": after})
    folder.write_json("record.json", make_record("finetune", config, result=result))  # last: the run is finished
    return result


def save_weights(model, tokenizer, target: Path) -> None:
    """An adapter (LoRA) or a whole model (full), with the tokenizer, loadable by `from_pretrained(target)`."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def load_weights(model, source: Path) -> None:
    """Load a stage's saved weights into the model being trained (adapter weights only, for LoRA)."""
    from safetensors.torch import load_file

    source = Path(source)
    if (source / "adapter_model.safetensors").is_file():
        from peft.utils import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(source / "adapter_model.safetensors"))
    else:
        model.load_state_dict(load_file(source / "model.safetensors"), strict=False)
