"""`python -m studio finetune`: the Fine-tune tab without the UI; `--processes N` trains with `accelerate launch`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.errors import StudioError

from .config import METHODS, SCHEDULERS, FinetuneConfig, MethodSettings, Stage, TrainingSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="sums-in-words", help="a .jsonl/.json/.csv/.txt file or an example set name")
    parser.add_argument("--model", default="embedded/text-tiny", help="preset, hub id or local model folder")
    parser.add_argument("--method", choices=METHODS, default="lora")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.05)
    parser.add_argument("--targets", default="all-linear", help="default, all-linear, or names: q_proj,v_proj")
    parser.add_argument("--quant-type", choices=("nf4", "fp4"), default="nf4")
    parser.add_argument("--lr", type=float, default=TrainingSettings.learning_rate)
    parser.add_argument("--epochs", type=float, default=TrainingSettings.epochs)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (overrides epochs)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="cosine")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--eval-steps", type=int, default=20)
    parser.add_argument("--save-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--processes", type=int, default=1,
                        help="train on N processes with accelerate launch (at most one per GPU, or per CPU core)")
    parser.add_argument("--stages", help="a JSON file with a list of curriculum stages")
    parser.add_argument("--config", help="a run's config.json: train exactly that configuration")
    parser.add_argument("--resume", metavar="RUN", help="continue a stopped run from its latest checkpoint")
    parser.add_argument("--merge", metavar="RUN", help="merge a finished run's LoRA into its base and save it")
    parser.add_argument("--export", metavar="RUN", help="write an accelerate config and launch command for a run")


def build_config(args) -> FinetuneConfig:
    if args.config:
        return FinetuneConfig.from_dict(json.loads(Path(args.config).read_text()))
    stages = []
    if args.stages:
        try:
            stages = [Stage(**s) for s in json.loads(Path(args.stages).read_text())]
        except (OSError, json.JSONDecodeError, TypeError) as err:
            raise StudioError(f"--stages {args.stages}: expected a JSON list of stages ({err}).") from None
    return FinetuneConfig(
        model=args.model, data=args.data, stages=stages,
        method=MethodSettings(method=args.method, rank=args.rank, alpha=args.alpha, dropout=args.dropout,
                              target_modules=args.targets, quant_type=args.quant_type),
        training=TrainingSettings(learning_rate=args.lr, epochs=args.epochs, max_steps=args.max_steps,
                                  batch_size=args.batch_size, grad_accumulation=args.grad_accum,
                                  scheduler=args.scheduler, max_length=args.max_length, eval_steps=args.eval_steps,
                                  save_steps=args.save_steps, seed=args.seed, processes=args.processes),
    )


def run(args, settings) -> dict:
    from .runs import RunFolder, merge_and_save
    from .session import OPERATOR, export_files, resume_to_end, train_to_end

    log = None if args.json else (lambda line: print(line, flush=True))
    if args.merge:
        return {"merged": str(merge_and_save(RunFolder.find(settings.outputs_dir, args.merge), settings, OPERATOR))}
    if args.export:
        return export_files(args.export, settings)
    if args.resume:
        result = resume_to_end(args.resume, settings, on_log=log)
    else:
        result = train_to_end(build_config(args), settings, on_log=log)
    return {k: v for k, v in vars(result).items()}
