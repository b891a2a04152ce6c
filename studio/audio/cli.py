"""`python -m studio audio --prompt "a slow low melody" --seconds 2 --out clip.wav --json`

A person at a terminal may name any folder (`any_path`) and is the operator, so the
studio's per-visitor limits do not apply; the engine runs in this process.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from .request import CLIP_USES, EMBEDDED_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default="", help="what the music should be")
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="preset, hub id or local MusicGen folder")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip")
    parser.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance, 1 (off) to 30")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=250)
    parser.add_argument("--top-p", type=float, default=0.0)
    parser.add_argument("--samples", type=int, default=1, help="clips to make (1-4)")
    parser.add_argument("--seed", type=int, default=0, help="-1 picks one at random")
    parser.add_argument("--clip", default=None, help="an audio file to continue or to take the melody from")
    parser.add_argument("--clip-use", choices=CLIP_USES, default=None, help="default: continue when --clip is given")
    parser.add_argument("--prompt-seconds", type=float, default=2.0, help="how much of --clip is used")
    parser.add_argument("--window", type=float, default=30.0, help="longest single generate call, in seconds")
    parser.add_argument("--overlap", type=float, default=10.0, help="context carried between windows, in seconds")
    parser.add_argument("--out", type=Path, default=None,
                        help="copy the (first) WAV here; with several samples, clip-N is added to the name")


def run(args: argparse.Namespace, settings) -> dict:
    from studio.devices import set_torch_threads

    from .generate import AudioGenerator
    from .request import AudioRequest

    set_torch_threads(settings.torch_threads)
    request = AudioRequest(
        prompt=args.prompt, model=args.model, seconds=args.seconds, guidance=args.guidance,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, samples=args.samples, seed=args.seed,
        clip=args.clip, clip_use=args.clip_use or ("continue" if args.clip else "none"),
        prompt_seconds=args.prompt_seconds, window_seconds=args.window, overlap_seconds=args.overlap,
    )
    result = AudioGenerator(settings).generate(request, scope={"any_path": True})
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
