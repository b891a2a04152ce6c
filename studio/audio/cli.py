"""`python -m studio audio --prompt "a slow low melody" --seconds 2 --out clip.wav --json`

A person at a terminal may name any folder (`any_path`) and is the operator, so the
studio's per-visitor limits do not apply; the engine runs in this process.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from studio.forms import Field

from .form import FIELDS, parse_form

SCOPE = {"any_path": True}  # a person at a terminal may name any folder on their machine


def flagged() -> list[Field]:
    return [f for f in FIELDS.values() if f.cli]


def _flag(parser: argparse.ArgumentParser, field: Field) -> None:
    """A flag whose type, default, choices and help come from the form's declaration."""
    help_text = field.cli_help()
    if field.choices:
        help_text += f" Used when --clip is given; default {field.default}."
    parser.add_argument(field.cli_flag, dest=field.name, type=field.cli_type, default=field.default,
                        choices=field.choices or None, help=help_text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field in flagged():
        _flag(parser, field)
    parser.add_argument("--out", type=Path, default=None,
                        help="copy the (first) WAV here; with several samples, clip-N is added to the name")


def run(args: argparse.Namespace, settings) -> dict:
    from studio.devices import set_torch_threads

    from .generate import AudioGenerator

    set_torch_threads(settings.torch_threads)
    request = parse_form({f.name: getattr(args, f.name) for f in flagged()})
    result = AudioGenerator(settings).generate(request, scope=SCOPE)
    copies = []
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(result.paths, start=1):
            target = args.out if len(result.paths) == 1 else args.out.with_name(f"{args.out.stem}-{i}{args.out.suffix}")
            shutil.copyfile(path, target)
            copies.append(str(target))
    return {
        "files": copies or [str(p) for p in result.paths],
        "record": str(result.record_path),
        "sample_rate": result.sample_rate,
        "channels": result.channels,
        "seconds_per_clip": round(result.audio_seconds, 3),
        "generate_seconds": round(result.generate_seconds, 3),
        "real_time_factor": round(result.real_time_factor, 3),
        "seed": result.seed,
        "windows": result.windows,
        "notes": result.notes,
    }
