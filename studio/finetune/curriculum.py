"""A whole fine-tuning run: stages from easiest to hardest, each continuing from the last one's weights.

A plain run is a curriculum of one stage named "train". For each stage the
run saves its checkpoints under `checkpoints/<stage name>/` and its final
weights under `stages/<stage name>/` (named after the stage, whatever order it
was given in), marks its start with a `StageEvent`, and counts steps on from
the stages before, so one loss plot covers the whole run. Resume skips the
stages already done and continues the stopped one from its latest checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import StudioError
from studio.events import LogEvent, Run, StageEvent
from studio.records import make_record

from .config import FinetuneConfig, Stage
from .data import DataSet, load_data, split_rows
from .format import generation_prompt, length_note, tokenize_rows
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


@dataclass
class PreparedStage:
    stage: Stage
    data: DataSet
    train: list  # tokenized rows
    eval: list
    compare: list[tuple[str, str]]  # (prompt, expected) from the validation split
    notes: list[str]


def load_stage_data(config: FinetuneConfig, uploads: dict[str, str] | None = None) -> dict[str, DataSet]:
    """Every stage's data, checked before any model loads. `uploads` maps a path to the name the user knows."""
    uploads = uploads or {}
    return {s.folder: load_data(s.data, uploads.get(s.data)) for s in config.ordered_stages()}


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
        prepared.append(PreparedStage(stage, data, parts["training"], parts["validation"], compare, notes))
    return prepared


def run_finetune(config: FinetuneConfig, run: Run, folder: RunFolder, settings, resume: bool = False,
                 uploads: dict[str, str] | None = None) -> FinetuneResult:
    """Train all stages (or what is left of them, when resuming) and publish the result."""
    from studio.devices import set_torch_threads

    from .compare import COMPARE_PROMPTS, greedy_answers
    from .lora import attach, load_base, mixed_precision
    from .trainer import EventsCallback, RunLog, optimizer_name, planned_steps, training_arguments, train_stage

    started = time.monotonic()
    datasets = load_stage_data(config, uploads)  # bad data fails before the model loads
    set_torch_threads(settings.torch_threads)
    run.emit(LogEvent(0, f"Loading {config.model} for {config.method.method}..."))
    model, tokenizer, device = load_base(config.model, config.method, settings, config.trust_remote_code)
    stages = prepare(config, datasets, tokenizer)
    for stage in stages:
        for note in stage.notes:
            run.emit(LogEvent(0, note))
    model, trainable = attach(model, config.method, config.training.gradient_checkpointing)
    run.emit(LogEvent(0, f"{trainable.describe()} · device {device}", {"trainable": trainable.trainable,
                                                                         "parameters": trainable.total}))
    mixed = mixed_precision(config.training, device)
    quantized = config.method.method == "qlora"

    prompts = config.compare_prompts or [p for p, _ in stages[-1].compare[:COMPARE_PROMPTS]]
    expected = dict(stages[-1].compare)
    saved = folder.read_json("comparison.json") if resume else None
    before = saved["before"] if saved else greedy_answers(model, tokenizer, prompts, seed=config.training.seed)
    folder.write_json("comparison.json", {"prompts": prompts, "before": before})

    if resume:
        (folder.path / "state.json").unlink(missing_ok=True)
    log = RunLog(folder.path)
    plans = [planned_steps(len(s.train), s.stage.training(config.training)) for s in stages]
    offset, stopped, last_weights = 0, False, None
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
            callback = EventsCallback(run, log, prep.stage.name, offset, sum(plans[index + 1:]))
            outcome = train_stage(model, tokenizer, prep.train, prep.eval, args, callback,
                                  str(checkpoint) if checkpoint else None, eval_first=index == 0)
            if outcome.stopped:
                stopped = True
                folder.write_json("state.json", {"status": "stopped", "stage": prep.stage.name,
                                                 "step": offset + outcome.steps})
                offset += outcome.steps
                break
            save_weights(model, tokenizer, folder.stage_dir(name))
            offset += outcome.steps
            folder.write_json(f"stages/{name}/stage.json", {"name": prep.stage.name, "steps": outcome.steps,
                                                            "difficulty": prep.stage.difficulty})
    finally:
        log.close()

    evals = [r["eval_loss"] for r in folder.logs() if "eval_loss" in r]
    seconds = time.monotonic() - started
    result = FinetuneResult(folder.name, str(folder.path), offset, stopped, trainable.describe(), round(seconds, 2),
                            0.0, evals[0] if evals else None, evals[-1] if evals else None)
    state = [r for r in folder.logs() if "train_runtime" in r]
    runtime = sum(r["train_runtime"] for r in state)
    result.steps_per_second = round(offset / runtime, 3) if runtime else 0.0
    if stopped:
        run.emit(LogEvent(offset, f"Stopped at step {offset}; press Resume to continue from the checkpoint."))
        return result

    after = greedy_answers(model, tokenizer, prompts, seed=config.training.seed)
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
