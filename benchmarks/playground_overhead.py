"""Does watching training slow it down? Steps/s of a Playground run driven through the app's API
(live plots, decision boundary, log) over a bare PyTorch loop on the same model and data.

The studio runs as `python app.py` in its own process, as it does for users; this process
only reads the stream (as a browser would) and runs the bare loop.

    python benchmarks/playground_overhead.py [--model mlp] [--epochs 60] [--repeats 3]

Runs alternate (bare, studio, bare, studio, ...) so machine noise hits both alike; the
ratio of medians is printed. Target: >= 0.90.
"""

from __future__ import annotations

import argparse
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

from studio.playground.config import defaults_for  # noqa: E402
from studio.playground.datasets import make_dataset  # noqa: E402
from studio.playground.form import form_values  # noqa: E402
from studio.playground.models import build_model  # noqa: E402
from studio.playground.training import schedule, train_playground  # noqa: E402


def bare_loop(config) -> float:
    """The same training math (AdamW, schedule, clipping) with no events, plots or UI: steps per second."""
    data = make_dataset(config)
    torch.manual_seed(config.seed)
    model = build_model(config, data)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.epochs * -(-int(len(data.train) * (1 - config.val_fraction)) // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(config.scheduler, config.warmup_steps, total))
    train = data.train
    n = int(len(train) * (1 - config.val_fraction))  # the studio holds out a validation share too
    steps, started = 0, time.perf_counter()
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
    return steps / (time.perf_counter() - started)


def studio_run(client, config) -> float:
    stats = client.predict(**form_values(config), api_name="/playground_train")[0]
    # "... 1234 steps in 2.5s (493 steps/s) ..." as the page shows it
    return float(stats.split(" steps/s")[0].rsplit("(", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from gradio_client import Client

    torch.set_num_threads(1)  # what the Playground uses
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "app.py"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=os.environ | {"STUDIO_PORT": str(port), "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    client = Client(url, verbose=False, download_files=False)
    config = defaults_for(args.model, epochs=args.epochs, patience=0)
    studio_run(client, config.replace(epochs=2))  # warm-up: imports, first plots
    bare, engine, ui = [], [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(config))
        engine.append(train_playground(config).steps_per_second)  # the studio's loop, nobody watching
        ui.append(studio_run(client, config))
    server.terminate()
    server.wait(10)
    b, e, u = statistics.median(bare), statistics.median(engine), statistics.median(ui)
    print(f"model {args.model} on {config.dataset}, {args.epochs} epochs, {args.repeats} alternating runs each")
    print(f"bare PyTorch loop : {b:8.1f} steps/s   runs {', '.join(f'{x:.0f}' for x in bare)}")
    print(f"studio loop alone : {e:8.1f} steps/s   runs {', '.join(f'{x:.0f}' for x in engine)}")
    print(f"studio via the UI : {u:8.1f} steps/s   runs {', '.join(f'{x:.0f}' for x in ui)}")
    print(f"ratio studio/bare : {u / b:.3f}   (target >= 0.90); loop alone/bare {e / b:.3f}, UI/loop alone {u / e:.3f}")


if __name__ == "__main__":
    main()
