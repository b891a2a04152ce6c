"""Studio text generation against a bare `model.generate`, side by side in one run.

Both sides use the same loaded model, prompt and greedy settings, and generate
exactly `--tokens` tokens (end-of-text is suppressed on both sides). The studio
side is `TextEngine.generate`: streaming on a worker thread, stopping criteria,
slicing and the saved record. Runs alternate so that a busy machine slows both
sides alike; the median and the best run are reported.

    HF_HUB_OFFLINE=1 python benchmarks/text_throughput.py [--model embedded/text-tiny] [--tokens 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded/text-tiny")
    parser.add_argument("--precision", default="full")
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both sides (0: torch's choice); on a busy 2-core machine 2 threads "
                        "make small models several times slower, and unevenly between threads")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from studio.loading import LoadRequest
    from studio.settings import Settings
    from studio.text.engine import TextEngine
    from studio.text.generate import TextChunk, generation_config, prepare_inputs
    from studio.text.request import TextRequest

    engine = TextEngine(Settings(outputs_dir=Path(tempfile.mkdtemp(prefix="bench-text-"))))
    load = LoadRequest(args.model, precision=args.precision)
    loaded = engine.load(load)
    model, tokenizer = loaded.model, loaded.processor
    request = TextRequest(args.prompt, max_new_tokens=args.tokens, greedy=True, ignore_eos=True)
    config = generation_config(model, tokenizer, request)

    def studio_run() -> tuple[float, float, int, float]:
        start, cpu, first, tokens = time.perf_counter(), time.process_time(), None, 0
        for event in engine.generate(load, request):
            if isinstance(event, TextChunk) and first is None:
                first = time.perf_counter() - start
            elif hasattr(event, "stats"):
                tokens = event.stats.tokens
        return time.perf_counter() - start, first, tokens, time.process_time() - cpu

    def bare_run() -> tuple[float, float, int, float]:
        start, cpu = time.perf_counter(), time.process_time()
        inputs = tokenizer(args.prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, generation_config=config)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        tokens = out.shape[1] - inputs["input_ids"].shape[1]
        start = time.perf_counter()  # bare time to first token: the same call for one token
        one = copy_config(config, 1)
        with torch.inference_mode():
            model.generate(**tokenizer(args.prompt, return_tensors="pt").to(model.device), generation_config=one)
        return wall, time.perf_counter() - start, int(tokens), cpu

    def copy_config(cfg, n):
        import copy

        cfg = copy.deepcopy(cfg)
        cfg.max_new_tokens = n
        return cfg

    prepare_inputs(model, tokenizer, request, args.model)  # tokenizer warm-up
    studio_run(), bare_run()  # warm-up
    studio, bare = [], []
    for _ in range(args.runs):
        studio.append(studio_run())
        bare.append(bare_run())
    tokens = studio[0][2]
    assert tokens == bare[0][2] == args.tokens, (tokens, bare[0][2])
    print(f"model {args.model} ({args.precision}) on {loaded.device}, {tokens} tokens, greedy, "
          f"{args.runs} alternating runs, torch threads {torch.get_num_threads()}")
    print(f"{'':22}{'studio':>10}{'bare':>10}{'ratio':>8}")
    # The median shows typical speed; the best run is least disturbed by other work on a shared machine.
    for label, pick in (("median", statistics.median), ("best", min)):
        s_wall, b_wall = pick(r[0] for r in studio), pick(r[0] for r in bare)
        s_tps, b_tps = tokens / s_wall, tokens / b_wall
        print(f"{'tokens/s (' + label + ')':22}{s_tps:10.1f}{b_tps:10.1f}{s_tps / b_tps:8.3f}   (target >= 0.95)")
    # CPU time of the whole process (all threads) per run: the work each side does, whatever else the machine runs.
    s_cpu, b_cpu = statistics.median(r[3] for r in studio), statistics.median(r[3] for r in bare)
    print(f"{'CPU ms/run (median)':22}{s_cpu * 1000:10.1f}{b_cpu * 1000:10.1f}{s_cpu / b_cpu:8.3f}   (studio / bare)")
    for label, pick in (("median", statistics.median), ("best", min)):
        s_ttft, b_ttft = pick(r[1] for r in studio), pick(r[1] for r in bare)
        print(f"{'TTFT ms (' + label + ')':22}{s_ttft * 1000:10.1f}{b_ttft * 1000:10.1f}{s_ttft / b_ttft:8.3f}"
              "   (studio / bare)")

if __name__ == "__main__":
    main()
