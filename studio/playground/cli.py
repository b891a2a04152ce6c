"""`python -m studio playground`: train one playground network and print its summary."""

from __future__ import annotations

import argparse

from studio.settings import Settings

from .config import DATASETS_FOR_MODEL, MODELS, defaults_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=list(MODELS), default="mlp")
    parser.add_argument("--dataset", choices=sorted({d for ds in DATASETS_FOR_MODEL.values() for d in ds}),
                        help="defaults to the model's usual data set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="defaults to the model's preset")
    parser.add_argument("--setup", help="a share string from the Playground tab; overrides the options above")
    parser.add_argument("--save", action="store_true", help="write the run's record under the outputs folder")


def run(args: argparse.Namespace, settings: Settings) -> dict:
    from studio.devices import set_torch_threads

    from .saving import save_run
    from .share import decode, encode
    from .training import train_playground

    if args.setup:
        config = decode(args.setup)
    else:
        overrides = {"seed": args.seed}
        if args.dataset:
            overrides["dataset"] = args.dataset
        if args.epochs:
            overrides["epochs"] = args.epochs
        config = defaults_for(args.model, **overrides)
    # Tiny networks train fastest on one thread; an explicit setting wins.
    set_torch_threads(settings.torch_threads or 1)
    result = train_playground(config)
    summary = {"model": config.model, "dataset": config.dataset, "seed": config.seed, **result.summary(),
               "setup": encode(config)}
    if args.save:
        summary["record"] = str(save_run(config, result, settings.outputs_dir) / "record.json")
    return summary
