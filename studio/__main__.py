"""Command line: `python -m studio <command> [--json]` runs each capability without the UI.

Each command lives in its own module with `add_arguments(parser)` and
`run(args, settings) -> dict`; the dict is printed as JSON with `--json`, or as
`key: value` lines otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from .errors import StudioError
from .settings import load_settings

COMMANDS = {
    "playground": ("studio.playground.cli", "train a playground network on a toy dataset"),
    "embedded": ("studio.embedded.cli", "rebuild the embedded offline models into assets/embedded/"),
    "text": ("studio.text.cli", "generate text with a preset, hub id or local model folder"),
    "image": ("studio.image.cli", "make pictures with the embedded model, a hub id or a local pipeline folder"),
    "finetune": ("studio.finetune.cli", "fine-tune a text model with LoRA, QLoRA or full training, or resume a run"),
    "audio": ("studio.audio.cli", "make music with the embedded MusicGen, a hub id or a local folder; continue a clip"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio", description="GenAI Studio without the UI.")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--json", action="store_true", help="print one JSON object as the summary")
        # Command modules keep heavy imports inside `run`, so importing all of them is cheap.
        modules[name] = importlib.import_module(module_name)
        modules[name].add_arguments(cmd)
    args = parser.parse_args(argv)
    try:
        summary = modules[args.command].run(args, load_settings())
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one clear line, the details only with STUDIO_DEBUG=1
        if os.environ.get("STUDIO_DEBUG"):
            raise
        print(f"error: {args.command} failed with an internal error ({type(err).__name__}: "
              f"{str(err).splitlines()[0][:200] if str(err) else ''}). Run again with STUDIO_DEBUG=1 for details.",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
