"""`python -m studio embedded build [name ...]`: rebuild embedded models into assets/embedded/.

Builders are looked up by name, so other modalities add one line to
`BUILDERS`; heavy imports happen only inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from . import EMBEDDED_DIR

# name -> (module, function(out_dir, steps=None) -> metrics dict, folder under assets/embedded)
BUILDERS = {
    "text": ("studio.embedded.text", "build_cli", "text-tiny"),
    "image": ("studio.embedded.image_model", "build", "image-shapes"),
    "audio": ("studio.embedded.audio_model", "build_cli", "musicgen-tiny"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["build"], help="build (and train) the embedded models")
    parser.add_argument("names", nargs="*", help=f"which models (default all): {', '.join(BUILDERS)}")
    parser.add_argument("--out", type=Path, default=EMBEDDED_DIR, help="folder that receives one sub-folder per model")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: each model's own)")


def run(args: argparse.Namespace, settings) -> dict:
    from studio.errors import ConfigError

    names = args.names or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ConfigError("names", unknown, f"choose from {', '.join(BUILDERS)}")
    summary = {}
    for name in names:
        module, function, folder = BUILDERS[name]
        build = getattr(importlib.import_module(module), function)
        summary[name] = build(args.out / folder, steps=args.steps)
    return summary
