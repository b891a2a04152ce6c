"""Studio audio against a bare `model.generate`: click to result through the app, and the pictures' share.

Three measures, one run:
1. **click to result**: `gradio_client` asks the running app for a clip (the audio worker generates, writes
   the WAV, draws the waveform and spectrogram, writes the record; the page relays it; the client takes the
   files' references, as a page does, instead of downloading them) against the bare
   tokenizer plus `MusicgenForConditionalGeneration.generate` in this process, at the same seed and settings;
2. **engine**: the studio's `AudioGenerator.generate` as the audio worker's task calls it (its progress
   reporter pickling each event as the pipe would, its Stop check) but without writing files, against the same
   bare call (target <= 1.05; the files and pictures have their own target, 3.);
3. **pictures over generation**: the worker's own times from each clip's record (target under 0.1).
Runs alternate so a busy machine slows both sides alike; medians are reported. Both sides use one torch
thread (the worker's default on two cores).

    HF_HUB_OFFLINE=1 python benchmarks/audio_speed.py [--seconds 2] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import alternate, free_port, report, summary, TaskRun  # noqa: E402

MODEL = "embedded/musicgen-tiny"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a fast high melody")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import torch
    from gradio_client import Client

    from studio.audio.generate import AudioGenerator
    from studio.audio.request import AudioRequest
    from studio.audio.tasks import progress_reporter
    from studio.settings import Settings
    from studio.ui.app import build_app, launch_kwargs

    torch.set_num_threads(1)
    settings = Settings(outputs_dir=Path(tempfile.mkdtemp(prefix="audio-bench-")), port=free_port(), torch_threads=1)
    request = AudioRequest(prompt=args.prompt, model=MODEL, seconds=args.seconds, guidance=args.guidance, seed=0)
    engine = AudioGenerator(settings)
    music = engine.load(MODEL).model
    max_new_tokens = int(round(args.seconds * music.frame_rate)) + music.delay
    inputs = music.processor.tokenizer([args.prompt], padding=True, return_tensors="pt")

    def bare() -> float:
        start = time.perf_counter()
        torch.manual_seed(0)
        with torch.inference_mode():
            music.model.generate(**inputs, do_sample=True, guidance_scale=args.guidance, temperature=1.0,
                                 top_k=request.top_k, max_new_tokens=max_new_tokens)
        return time.perf_counter() - start

    run = TaskRun(settings)

    def engine_only() -> float:
        start = time.perf_counter()
        engine.generate(request, on_progress=progress_reporter(run.start()), should_stop=lambda: run.should_stop,
                        save=False)
        return time.perf_counter() - start

    demo = build_app(settings)
    demo.launch(**(launch_kwargs(settings) | dict(prevent_thread_lock=True, quiet=True)))
    try:
        # A page fetches the clip and pictures when it shows them; gradio_client would download all seven files
        # before returning, which measures the client. Its file references come back instead.
        client = Client(f"http://127.0.0.1:{settings.port}/", verbose=False, download_files=False)
        form = dict(prompt=args.prompt, model=MODEL, custom_model="", seconds=args.seconds, guidance=args.guidance,
                    temperature=1.0, top_k=request.top_k, top_p=0.0, samples=1, seed=0, clip=None,
                    clip_use="continue", prompt_seconds=0.5, window_seconds=30.0, overlap_seconds=10.0)
        records = []

        def click() -> float:
            start = time.perf_counter()
            *_, downloads, _ = client.predict(**form, api_name="/audio_generate")
            elapsed = time.perf_counter() - start
            paths = [d["path"] if isinstance(d, dict) else d for d in downloads]  # Gradio's copies, on this machine
            records.append(json.loads(Path(next(p for p in paths if p.endswith(".json"))).read_text()))
            return elapsed

        runs = alternate({"studio": click, "bare": bare}, repeats=args.runs)  # the first round warms the worker
        records = records[1:]
        report("audio click to result", runs["studio"], runs["bare"], unit="s", higher_is_better=False,
               seconds_of_audio=args.seconds)
        engine_runs = alternate({"studio": engine_only, "bare": bare}, repeats=args.runs)
        report("audio engine generate", engine_runs["studio"], engine_runs["bare"], unit="s", target=1.05,
               higher_is_better=False)
        shares = [r["picture_seconds"] / r["generate_seconds"] for r in records]
        summary("audio pictures over generation",
                median_ratio=round(statistics.median(shares), 4), target="< 0.1",
                met=statistics.median(shares) < 0.1,
                picture_ms=round(1000 * statistics.median(r["picture_seconds"] for r in records), 2),
                generate_ms=round(1000 * statistics.median(r["generate_seconds"] for r in records), 2))
    finally:
        demo.close()
        demo.studio.close()


if __name__ == "__main__":
    main()
