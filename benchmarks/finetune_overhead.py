"""Does the studio slow fine-tuning down? Steps/s of a studio run as the tab runs it (a job in a worker process
of its own: events over a pipe, logs.jsonl, TensorBoard, a consumer drawing batches like the tab) over a bare
`Trainer.train()` in this process with the same model, data and arguments.

    python benchmarks/finetune_overhead.py [--steps 200] [--repeats 4]

Both sides use the Trainer's own `train_runtime` (steps over it); runs alternate so noise on the shared
machine hits both alike (`benchmarks/harness.py`). Target: studio steps/s >= 0.95 of bare.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from benchmarks.harness import alternate, report  # noqa: E402
from studio.events import DoneEvent, ErrorEvent  # noqa: E402
from studio.finetune.config import FinetuneConfig, TrainingSettings  # noqa: E402
from studio.finetune.curriculum import load_stage_data, prepare  # noqa: E402
from studio.finetune.lora import attach, load_base  # noqa: E402
from studio.finetune.requests import ModelScope, TrainRequest  # noqa: E402
from studio.finetune.trainer import training_arguments  # noqa: E402
from studio.jobs import JobRegistry  # noqa: E402
from studio.settings import Settings  # noqa: E402


def bare(config: FinetuneConfig, settings: Settings, out: Path) -> float:
    from transformers import PrinterCallback, ProgressCallback, Trainer

    from studio.finetune.format import PadCollator

    model, tokenizer, device = load_base(config.model, config.method, settings, ModelScope())
    stage = prepare(config, load_stage_data(config), tokenizer)[0]
    model, _ = attach(model, config.method)
    args = training_arguments(config.training, out, device, "full", has_eval=False)
    trainer = Trainer(model=model, args=args, train_dataset=stage.train, data_collator=PadCollator(tokenizer.pad_token_id),
                      processing_class=tokenizer)
    for printer in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(printer)
    metrics = trainer.train().metrics
    return trainer.state.global_step / metrics["train_runtime"]


def studio(config: FinetuneConfig, registry: JobRegistry) -> float:
    job = registry.submit("benchmark", "finetune", "studio.finetune.tasks:train", TrainRequest(config))
    for batch in job.run.batches(0.5, heartbeat=1.0):  # drained like the tab's relay does
        last = batch[-1] if batch else None
    if isinstance(last, ErrorEvent):
        raise SystemExit(last.message)
    assert isinstance(last, DoneEvent)
    return last.result.steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # no validation split: evaluation time would count the same on both sides and only blur the comparison
    config = FinetuneConfig(training=TrainingSettings(max_steps=args.steps, validation_fraction=0.0, logging_steps=5,
                                                      save_steps=10_000))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(outputs_dir=Path(tmp), torch_threads=args.threads)
        registry = JobRegistry(settings, mode="process")
        folders = iter(range(10**6))
        try:
            # no unrecorded round: each side starts fresh every time (a new Trainer; a new worker process)
            runs = alternate({"studio": lambda: studio(config, registry),
                              "bare": lambda: bare(config, settings, Path(tmp) / f"bare-{next(folders)}")},
                             repeats=args.repeats, warmup=0)
        finally:
            registry.close()
    report("fine-tune steps/s", runs["studio"], runs["bare"], unit="steps/s", target=0.95, steps=args.steps,
           torch_threads=args.threads)


if __name__ == "__main__":
    main()
