"""Studio audio generation against a bare `model.generate`, side by side in one run.

Both sides use the same loaded weights, prompt, length, guidance and seed. The
bare side is the processor plus `MusicgenForConditionalGeneration.generate`; the
studio side is `AudioGenerator.generate` without saving: request checks, the
window plan, the per-step progress and Stop watcher, and the arrays handed
back. Saving (WAV, pictures, record) is timed separately, since a bare call
writes nothing. Runs alternate so a busy machine slows both sides alike;
medians are reported.

    HF_HUB_OFFLINE=1 python benchmarks/audio_speed.py [--model embedded/musicgen-tiny] [--seconds 2] [--runs 7]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded/musicgen-tiny")
    parser.add_argument("--prompt", default="a fast high melody")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides (0: torch's choice)")
    args = parser.parse_args()

    import torch

    from studio.audio.generate import AudioGenerator
    from studio.audio.request import AudioRequest
    from studio.settings import Settings

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = AudioGenerator(Settings(outputs_dir=Path(tempfile.mkdtemp(prefix="audio-bench-"))))
    request = AudioRequest(prompt=args.prompt, model=args.model, seconds=args.seconds, guidance=args.guidance, seed=0)
    loaded = engine.load(request.model)
    music = loaded.model
    max_new_tokens = int(round(args.seconds * music.frame_rate)) + music.delay

    def bare() -> float:
        start = time.perf_counter()
        torch.manual_seed(0)
        inputs = music.processor(text=[args.prompt], padding=True, return_tensors="pt")
        with torch.inference_mode():
            music.model.generate(**inputs, do_sample=True, guidance_scale=args.guidance, temperature=1.0,
                                 top_k=request.top_k, top_p=1.0, max_new_tokens=max_new_tokens)
        return time.perf_counter() - start

    def studio() -> float:
        start = time.perf_counter()
        engine.generate(request, on_progress=lambda p: None, should_stop=lambda: False, save=False)
        return time.perf_counter() - start

    bare(), studio()  # warm up both paths
    bare_times, studio_times, save_times = [], [], []
    for _ in range(args.runs):
        bare_times.append(bare())
        studio_times.append(studio())
    for _ in range(2):
        result = engine.generate(request, save=False)
        start = time.perf_counter()
        engine.save(result, request, loaded)
        save_times.append(time.perf_counter() - start)
    bare_s, studio_s = statistics.median(bare_times), statistics.median(studio_times)
    summary = {
        "model": args.model, "seconds_of_audio": args.seconds, "runs": args.runs, "threads": torch.get_num_threads(),
        "bare_generate_s": round(bare_s, 4), "studio_generate_s": round(studio_s, 4),
        "ratio_studio_over_bare": round(studio_s / bare_s, 3),
        "real_time_factor": round(studio_s / args.seconds, 3),
        "saving_wav_plots_record_s": round(statistics.median(save_times), 3),
    }
    print(f"{'bare model.generate':<24}{bare_s:8.3f} s")
    print(f"{'studio generate':<24}{studio_s:8.3f} s   ratio {studio_s / bare_s:.3f} (target <= 1.05)")
    print(f"{'studio saving':<24}{summary['saving_wav_plots_record_s']:8.3f} s   (WAV, waveform, spectrogram, record)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
