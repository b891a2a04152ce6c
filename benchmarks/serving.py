"""The studio as an OpenAI-compatible server, measured with the official `openai` client, in one run.

1. Tokens/s of one streamed completion through `/v1/completions` (HTTP, the job registry, the text
   worker, server-sent events) over a direct `model.generate` on the same embedded model, run in a
   process of its own at the worker's priority, as the worker is (in this process the page's server
   threads would take the interpreter lock from it, and on a shared machine `nice` costs CPU time):
   same prompt, greedy, exactly `--tokens` new tokens (end-of-text suppressed on both sides), the same
   torch threads. Target >= 0.90.
2. Aggregate tokens/s of 8 concurrent clients over one client, with p50/p95 time to first token. The
   text worker holds up to STUDIO_TEXT_BATCH jobs and generates those that arrive together in one
   batch (`studio/text/batching.py`). Target >= 3x.

    HF_HUB_OFFLINE=1 python benchmarks/serving.py [--tokens 200] [--clients 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import alternate, free_port, report, summary  # noqa: E402

MODEL = "embedded/text-tiny"
KEY = "sk-benchmark"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def direct_process(conn, prompt: str, tokens: int, threads: int, nice: int) -> None:
    """The bare side: load the embedded model, then answer each b"go" with the tokens/s of one `model.generate`."""
    import torch

    from studio.loading import LoadRequest
    from studio.settings import Settings
    from studio.text.engine import TextEngine
    from studio.text.generate import generation_config
    from studio.text.request import TextRequest

    import os

    os.nice(nice)
    torch.set_num_threads(threads)
    loaded = TextEngine(Settings(device="cpu" if not torch.cuda.is_available() else "auto")).load(LoadRequest(MODEL))
    model, tokenizer = loaded.model, loaded.processor
    config = generation_config(model, tokenizer, TextRequest(prompt, max_new_tokens=tokens, greedy=True,
                                                             ignore_eos=True))
    conn.send(str(loaded.device))
    while conn.recv() == b"go":
        start = time.perf_counter()
        inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, generation_config=config)
        made = out.shape[1] - inputs["input_ids"].shape[1]
        conn.send((made, made / (time.perf_counter() - start)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200,
                        help="new tokens per request (the embedded model's context holds about 250)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same on both sides")
    parser.add_argument("--prompt", default="Once upon a time")
    args = parser.parse_args()

    import multiprocessing

    import openai

    from studio.settings import Settings
    from studio.ui.app import build_app, launch_kwargs

    settings = Settings(outputs_dir=Path(tempfile.mkdtemp(prefix="bench-serving-")), port=free_port(), api_key=KEY,
                        torch_threads=args.threads, max_jobs_per_visitor=args.clients * 2)
    demo = build_app(settings)
    _, url, _ = demo.launch(**launch_kwargs(settings, demo.studio) | dict(prevent_thread_lock=True, quiet=True))
    client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=KEY, max_retries=0, timeout=120)

    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    bare = ctx.Process(target=direct_process, args=(child_conn, args.prompt, args.tokens, args.threads,
                                                            demo.studio.jobs.pools["text"].nice), daemon=True)
    bare.start()
    device = conn.recv()

    def stream(tokens: int) -> tuple[float, float, int]:
        """(seconds to the last chunk, seconds to the first text, completion tokens) of one streamed request."""
        start, first, used = time.perf_counter(), None, 0
        for chunk in client.completions.create(model=MODEL, prompt=args.prompt, max_tokens=tokens, temperature=0,
                                               stream=True, stream_options={"include_usage": True},
                                               extra_body={"ignore_eos": True}):
            if chunk.choices and chunk.choices[0].text and first is None:
                first = time.perf_counter() - start
            if chunk.usage is not None:
                used = chunk.usage.completion_tokens
        return time.perf_counter() - start, first or 0.0, used

    def endpoint() -> float:
        seconds, _, used = stream(args.tokens)
        assert used == args.tokens, used
        return used / seconds

    def direct() -> float:
        conn.send(b"go")
        made, rate = conn.recv()
        assert made == args.tokens, made
        return rate

    ttfts: dict[str, list[float]] = {"one": [], "many": []}

    def one_client() -> float:
        seconds, first, used = stream(args.tokens)
        ttfts["one"].append(first)
        return used / seconds

    def many_clients() -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda _: stream(args.tokens), range(args.clients)))
        ttfts["many"].extend(first for _, first, _ in results)
        return sum(used for _, _, used in results) / (time.perf_counter() - start)

    try:
        print(f"model {MODEL} on {device}, {args.tokens} tokens a request, greedy, torch threads "
              f"{args.threads} on both sides, {args.repeats} alternating runs")
        runs = alternate({"endpoint": endpoint, "direct": direct}, repeats=args.repeats)
        report("tokens/s through /v1/completions over direct generate", runs["endpoint"], runs["direct"],
               unit="tokens/s", target=0.90)
        runs = alternate({"many": many_clients, "one": one_client}, repeats=max(2, args.repeats // 2))
        report(f"aggregate tokens/s, {args.clients} concurrent clients over 1", runs["many"], runs["one"],
               unit="tokens/s", target=3.0, batch=demo.studio.settings.text_batch)
        summary(f"time to first token through /v1 ({args.clients} concurrent clients vs 1)",
                p50_ms=round(statistics.median(ttfts["many"]) * 1000, 1),
                p95_ms=round(percentile(ttfts["many"], 0.95) * 1000, 1),
                one_client_p50_ms=round(statistics.median(ttfts["one"]) * 1000, 1),
                one_client_p95_ms=round(percentile(ttfts["one"], 0.95) * 1000, 1))
    finally:
        conn.send(b"end")
        bare.join(5)
        demo.close()
        demo.studio.close()


if __name__ == "__main__":
    main()
