"""Studio text generation against a bare `model.generate`: tokens/s and time to first token, in one run.

The studio side is the text worker's task, `studio.text.tasks:generate`, called in this process with a
`TaskRun` (its events pickled as the worker's pipe would): the loaded-model check, the prompt and its
limits, streaming on a helper thread, stopping criteria, events grouped into frames, and the answer
and its record written to disk. The bare side is `tokenizer(...)` plus `model.generate` on the same
loaded model. Both make exactly `--tokens` greedy tokens (end-of-text suppressed on both sides) with
the worker's torch threads, alternating so a busy machine slows both alike.

- tokens/s: `--tokens` over the whole call's wall time (the studio's includes writing the answer);
- time to first token: the studio's from the task call to its first event carrying text, the bare one
  `model.generate` for one new token (prompt encoding included on both sides).

The tokens/s JSON line also carries the ratio of process CPU time (bare over studio, all threads): the
work each side does, whatever else the shared machine runs.

A third side, "engine", is `TextEngine.generate` alone: the single path a request alone takes inside the
task, without the worker's batcher (`batching.py`) in front of it.

What was in the way (py-spy over 40 task calls of 200 tokens, then each piece timed alone, one torch thread;
before: tokens/s 0.85, time to first token 1.5x):
- a thread switch per token. The streamer queued every token's text, waking the reading thread, which then
  fought the generating thread for the interpreter lock between torch ops. Medians of 9 alternating runs of
  200 tokens: bare 320 ms; the same streamer read after the end 334 ms (decoding each token: +4%); read by
  a second thread 357 ms (+7% more); `stream_text` 372 ms. Now the first text goes at once and later text
  at most every 20 ms (`decoding.STREAM_EVERY_S`, the ids gathered meanwhile decoded in one call), and
  generation waits at each hand-over until the reader has handled the piece: `stream_text` 339 ms against
  bare 334 ms (0.987), the task 0.986.
- the hand-over of the first token: the reader, woken while the generating thread ran on, waited a median
  1.8 ms for the interpreter lock (up to the 5 ms switch interval). With the hand-over above: 0.1-0.4 ms.
- before the first forward pass, 0.31 ms: the prompt 0.16 ms (the same tokenizer call the bare side makes),
  the generation config 0.06 ms (a deep copy, though `generate` deep-copies it again; now a shallow copy,
  0.003 ms), the stopping criteria and sampling processors 0.1 ms (classes made anew for every answer; now
  made once, 0.01 ms). Starting a thread per answer costs 0.03 ms: a pooled thread measured 1.112x against
  1.113x (200 paired runs), not worth keeping threads alive. `generate`'s own set-up with the studio's
  streamer, criteria and processors timed as the bare call's (2.86 ms against 2.83 ms, 300 alternating
  one-token calls). What is left is the two hand-overs between threads (to the generating thread, and the
  first text back) and the set-up above: time to first token of `stream_text` 1.11x bare when it runs right
  after the bare call, 1.17-1.30x in this benchmark's alternation (on a 3 ms first token, 0.6 ms is 1.2x).
- the worker's batcher: a request that arrives within 1 s of the one before (`Batcher.busy_s`) waits
  `window_s` (40 ms) for others to batch with, so one client's back-to-back requests each get their first
  token 40 ms late. Here that is every other round (the order reverses, so the task runs twice in a row):
  time to first token 4.0 ms and 45 ms in turn, tokens/s 600 and 530 in turn (bare 620). With the batcher
  waiting only when a request is already queued or being served, the task measured tokens/s 0.952 and time
  to first token 1.25x (the hop to the batcher's thread adds about 0.2 ms to the engine's).

    HF_HUB_OFFLINE=1 python benchmarks/text_throughput.py [--model embedded/text-tiny] [--tokens 200] [--runs 15]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import alternate, column, report, TaskRun  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded/text-tiny")
    parser.add_argument("--precision", default="full")
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the worker's own choice)")
    args = parser.parse_args()

    import torch

    from studio.events import ProgressEvent
    from studio.jobs.worker import configure_process
    from studio.loading import LoadRequest
    from studio.settings import Settings
    from studio.text import tasks
    from studio.text.generate import generation_config, TextChunk
    from studio.text.request import TextRequest

    settings = Settings(outputs_dir=Path(tempfile.mkdtemp(prefix="bench-text-")), torch_threads=args.threads)
    configure_process(settings, nice=0, kind="text")  # as the text worker: its torch threads, for both sides
    job = tasks.TextJob(LoadRequest(args.model, precision=args.precision),
                        TextRequest(args.prompt, max_new_tokens=args.tokens, greedy=True, ignore_eos=True))
    run = TaskRun(settings)
    text_engine = tasks.engine_for(settings)
    loaded = text_engine.load(job.load)
    model, tokenizer = loaded.model, loaded.processor
    config = generation_config(model, tokenizer, job.request)
    first_token = copy.deepcopy(config)
    first_token.max_new_tokens = 1

    def studio() -> dict:
        cpu = time.process_time()
        run.start()
        result = tasks.generate(job, run)
        wall = time.perf_counter() - run.started
        ttft = next(t for t, e in run.events if isinstance(e, ProgressEvent) and e.preview and e.preview.chunks)
        assert result.steps == args.tokens, result.steps
        return {"tokens_per_s": args.tokens / wall, "ttft_ms": 1000 * ttft, "cpu_s": time.process_time() - cpu}

    def engine_alone() -> dict:  # the single path a request alone takes inside the task, without the task around it
        cpu, start = time.process_time(), time.perf_counter()
        events = text_engine.generate(job.load, job.request, stop=run, outputs_dir=settings.outputs_dir,
                                      limits=tasks.limits_of(settings))
        ttft = next(time.perf_counter() for e in events if isinstance(e, TextChunk)) - start
        for _ in events:
            pass
        return {"tokens_per_s": args.tokens / (time.perf_counter() - start), "ttft_ms": 1000 * ttft,
                "cpu_s": time.process_time() - cpu}

    def bare_generate(generation) -> tuple[float, int]:
        start = time.perf_counter()
        inputs = tokenizer(args.prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, generation_config=generation)
        return time.perf_counter() - start, out.shape[1] - inputs["input_ids"].shape[1]

    def bare() -> dict:
        cpu = time.process_time()
        wall, tokens = bare_generate(config)
        cpu = time.process_time() - cpu
        assert tokens == args.tokens, tokens
        return {"tokens_per_s": args.tokens / wall, "ttft_ms": 1000 * bare_generate(first_token)[0], "cpu_s": cpu}

    runs = alternate({"studio": studio, "engine": engine_alone, "bare": bare}, repeats=args.runs)
    setup = dict(model=args.model, device=str(loaded.device), tokens=args.tokens, torch_threads=torch.get_num_threads())
    speed, cpu = column(runs, "tokens_per_s"), column(runs, "cpu_s")
    report("text tokens/s", speed["studio"], speed["bare"], unit="tokens/s", target=0.95, **setup,
           cpu_ratio=round(statistics.median(cpu["bare"]) / statistics.median(cpu["studio"]), 4))
    ttft = column(runs, "ttft_ms")
    report("text time to first token", ttft["studio"], ttft["bare"], unit="ms", target=1.2, higher_is_better=False,
           **setup)
    report("text time to first token, engine alone", ttft["engine"], ttft["bare"], unit="ms", target=1.2,
           higher_is_better=False, **setup)


if __name__ == "__main__":
    main()
