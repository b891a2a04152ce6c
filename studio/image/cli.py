"""`python -m studio image --prompt ... --seed ... --out ... --json`: make pictures without the UI."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from .request import REFINER_MODES, SCHEDULERS, ImageRequest, LoraChoice


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ImageRequest(prompt="")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--model", default=defaults.model, help="preset, hub id or local pipeline folder")
    parser.add_argument("--width", type=int, default=defaults.width, help="pixels; 0: the model's own size")
    parser.add_argument("--height", type=int, default=defaults.height, help="pixels; 0: the model's own size")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--guidance", type=float, default=defaults.guidance)
    parser.add_argument("--scheduler", choices=SCHEDULERS, default=defaults.scheduler)
    parser.add_argument("--images", type=int, default=1, help="pictures in the batch; picture i uses seed + i")
    parser.add_argument("--seed", type=int, default=0, help="-1 picks one at random (it is printed)")
    parser.add_argument("--init-image", type=Path, help="a local picture: switches to img2img")
    parser.add_argument("--strength", type=float, default=defaults.strength, help="img2img strength")
    parser.add_argument("--refiner", choices=REFINER_MODES, default="none")
    parser.add_argument("--refiner-model", default=defaults.refiner_model)
    parser.add_argument("--refiner-fraction", type=float, default=defaults.refiner_fraction)
    parser.add_argument("--refiner-strength", type=float, default=defaults.refiner_strength)
    parser.add_argument("--lora", action="append", default=[], metavar="PATH[=SCALE]",
                        help="a LoRA .safetensors file or folder, optionally with a scale; repeatable")
    parser.add_argument("--low-memory", action="store_true", help="attention slicing and VAE tiling")
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
    request = ImageRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, model=args.model,
        mode="img2img" if args.init_image else "text2img", width=args.width, height=args.height, steps=args.steps,
        guidance=args.guidance, strength=args.strength, scheduler=args.scheduler, images=args.images, seed=args.seed,
        refiner=args.refiner, refiner_model=args.refiner_model, refiner_fraction=args.refiner_fraction,
        refiner_strength=args.refiner_strength, loras=tuple(choices),
        init_image=str(args.init_image) if args.init_image else None, low_memory=args.low_memory,
    )
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
