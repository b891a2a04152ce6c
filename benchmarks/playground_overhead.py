"""Does watching training slow it down? Steps/s of a Playground run driven through the app's API
(live plots, decision boundary, neuron heatmaps, log) over a bare PyTorch loop on the same model and data.

The studio runs as `python app.py` in its own process, as it does for users, and trains each run in
a worker process of its own; this process only reads the stream (as a browser would) and runs the
bare loop. The studio's rate is the one its page shows (steps over the training loop's own time,
measured in the worker), so what the page process spends relaying events counts only where it
takes CPU from the worker.

    python benchmarks/playground_overhead.py [--model mlp] [--epochs 60] [--repeats 3]

Runs alternate (bare, studio, bare, studio, ...) so machine noise hits both alike; the ratio of
medians is printed. Target: >= 0.95. Both sides use one torch thread (STUDIO_TORCH_THREADS=1 for the
server: tiny networks train fastest on one).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from studio.jobs.pool import WorkerPool  # noqa: E402
from studio.playground.config import defaults_for  # noqa: E402
from studio.playground.datasets import make_dataset  # noqa: E402
from studio.playground.form import form_values  # noqa: E402
from studio.playground.models import build_model  # noqa: E402
from studio.playground.training import schedule, train_playground  # noqa: E402


def bare_loop(config) -> tuple[float, float]:
    """The same training math (AdamW, schedule, clipping) with no events, plots or UI: steps per second
    of wall time and of CPU time."""
    data = make_dataset(config)
    torch.manual_seed(config.seed)
    model = build_model(config, data)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.epochs * -(-int(len(data.train) * (1 - config.val_fraction)) // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(config.scheduler, config.warmup_steps, total))
    train = data.train
    n = int(len(train) * (1 - config.val_fraction))  # the studio holds out a validation share too
    steps, started, cpu_started = 0, time.perf_counter(), time.process_time()
    for _ in range(config.epochs):
        order = torch.randperm(n)
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            logits = model(train.x[idx]) if train.lengths is None else model(train.x[idx], train.lengths[idx])
            loss = F.cross_entropy(logits, train.y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            opt.step()
            sched.step()
            steps += 1
    return steps / (time.perf_counter() - started), steps / (time.process_time() - cpu_started)


def studio_run(client, config) -> tuple[float, float]:
    """Steps per second as the page shows them, and per CPU second of the worker (from the run's record)."""
    out = client.predict(**form_values(config), api_name="/playground_train")
    stats, files = out[0], out[-1]
    # "... 1234 steps in 2.5s (493 steps/s) ..." as the page shows it
    wall = float(stats.split(" steps/s")[0].rsplit("(", 1)[1])
    record = next(f if isinstance(f, str) else f["path"] for f in files if "record" in str(f))
    return wall, json.loads(Path(record).read_text())["result"]["steps_per_cpu_second"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from gradio_client import Client

    torch.set_num_threads(1)  # what the Playground uses
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "app.py"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=os.environ | {"STUDIO_PORT": str(port), "HF_HUB_OFFLINE": "1",
                                                "STUDIO_TORCH_THREADS": "1"})
    # Training workers run at a lower priority than the page (WorkerPool's `nice`); the bare loop runs at the
    # same one (set after the server starts, which keeps its own): on a busy machine both compete alike.
    os.nice(inspect.signature(WorkerPool).parameters["nice"].default)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    client = Client(url, verbose=False, download_files=False)
    config = defaults_for(args.model, epochs=args.epochs, patience=0)
    for _ in range(60):  # the first run waits for the worker processes to start
        try:
            studio_run(client, config.replace(epochs=2))  # warm-up: imports, first plots
            break
        except Exception:
            time.sleep(1)
    bare, engine, ui = [], [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(config))
        result = train_playground(config)  # the studio's loop, nobody watching
        engine.append((result.steps_per_second, result.steps / result.cpu_seconds))
        ui.append(studio_run(client, config))
    server.terminate()
    server.wait(10)
    print(f"model {args.model} on {config.dataset}, {args.epochs} epochs, {args.repeats} alternating runs each")
    for i, clock in enumerate(("wall", "CPU")):
        b, e, u = (statistics.median(x[i] for x in runs) for runs in (bare, engine, ui))
        print(f"-- steps per {clock} second (medians; runs in brackets)")
        print(f"bare PyTorch loop : {b:8.1f}   [{', '.join(f'{x[i]:.0f}' for x in bare)}]")
        print(f"studio loop alone : {e:8.1f}   [{', '.join(f'{x[i]:.0f}' for x in engine)}]")
        print(f"studio via the UI : {u:8.1f}   [{', '.join(f'{x[i]:.0f}' for x in ui)}]")
        print(f"ratio studio/bare : {u / b:.3f}   (target >= 0.95); loop alone/bare {e / b:.3f}, UI/loop alone "
              f"{u / e:.3f}")
    print("On a busy machine (see `uptime`) the wall-clock rates follow the other processes; the CPU rates "
          "measure the studio's own extra work (evaluation, pictures, events).")


if __name__ == "__main__":
    main()
