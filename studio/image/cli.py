"""`python -m studio image --prompt ... --seed ... --out ... --json`: make pictures without the UI."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from studio.forms import Field

from .form import FIELDS
from .request import ImageRequest, LoraChoice

def flagged() -> list[Field]:
    """The form fields that are flags, each named after the request's field."""
    return [f for f in FIELDS.values() if f.cli]


def _flag(parser: argparse.ArgumentParser, field: Field) -> None:
    """A flag whose type, default, choices and help come from the form's declaration."""
    flag, help_text = field.cli_flag, field.cli_help()
    if field.ui == "checkbox":
        parser.add_argument(flag, action="store_true", help=help_text)
    elif field.name == "prompt":
        parser.add_argument(flag, required=True, help=help_text)
    else:
        parser.add_argument(flag, type=field.cli_type, default=field.default, choices=field.choices or None,
                            help=help_text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field in flagged():
        _flag(parser, field)
    parser.add_argument("--init-image", type=Path, help="a local picture: switches to img2img")
    parser.add_argument("--lora", action="append", default=[], metavar="PATH[=SCALE]",
                        help="a LoRA .safetensors file or folder, optionally with a scale; repeatable")
    parser.add_argument("--out", type=Path, help="copy the pictures here too (a folder)")


SCOPE = {"any_path": True}  # a person at a terminal may name any folder on their machine


def run(args: argparse.Namespace, settings) -> dict:
    """In this process (no workers): one person, one generation."""
    from studio.devices import set_torch_threads

    from .generate import ImageGenerator

    set_torch_threads(settings.torch_threads)
    generator = ImageGenerator(settings)
    choices = []
    for spec in args.lora:
        path, _, scale = spec.partition("=")
        name = generator.load_lora(args.model, Path(path), scope=SCOPE)
        choices.append(LoraChoice(name, float(scale) if scale else 1.0))
    request = ImageRequest(**{f.key: getattr(args, f.key) for f in flagged()}, loras=tuple(choices),
                           mode="img2img" if args.init_image else "text2img",
                           init_image=str(args.init_image) if args.init_image else None)
    result = generator.generate(request, scope=SCOPE)
    files = [str(p) for p in result.paths]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        files = [str(shutil.copy2(p, args.out / p.name)) for p in result.paths]
    return {
        "files": files,
        "seeds": result.seeds,
        "record": str(result.folder / "record.json") if result.folder else None,
        "seconds": round(result.seconds, 3),
        "steps_per_second": round(result.steps_per_second, 2),
        "notes": result.notes,
        "size": [result.request.width, result.request.height],
    }
