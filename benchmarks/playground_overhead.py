"""Does watching training slow it down? Steps/s of a Playground run driven through the app's API, with every
live picture on (decision boundary, each hidden unit's heatmap, curves, log), over a bare PyTorch loop doing the
same optimiser steps on the same model and data.

    python benchmarks/playground_overhead.py [--model mlp] [--epochs N] [--repeats 7]

By default a run is the one the tab starts with its own defaults (150 epochs of an MLP on the spiral, about
4 s here), with early stopping off so that every run trains the same number of steps.

The studio runs as `python app.py` in its own process, as it does for users, and trains each run in a worker
process of its own; this process reads the stream as a browser would and runs the bare loop. The studio's rate
is the one its page shows (steps over the training loop's own time, measured in the worker), so what the page
process spends relaying events counts where it takes CPU from the worker. A third side, the studio's loop in
this process with nobody watching, tells the loop's own extra work (evaluation every epoch) from the rest.
Sides alternate (`benchmarks/harness.py`) so that the other users of a shared machine slow all of them alike;
medians are reported for wall-clock steps/s (the target: >= 0.95 of bare) and for steps per CPU second of the
training process, which a busy machine moves much less. Both sides use one torch thread (STUDIO_TORCH_THREADS=1
for the server: tiny networks train fastest on one) and the training workers' priority.

What the profilers found (cProfile on the training loop, py-spy on the page process; MLP on the spiral, 60
epochs of 20 steps, each step about 1.2 ms):

- The loop: counting right answers every step (argmax, compare, sum, add: four tiny ops, ~17 us) was 1.4 % of
  a step; the answers are now kept and counted once per epoch. Validation and test were two evaluations per
  epoch, each with its own eval/train mode switch (~0.1 ms a pair) and per-batch `.item()` reads; now one pass
  over both splits joined, under `torch.inference_mode`, one read (0.7 ms -> 0.3 ms an epoch). The best
  weights are cloned tensor by tensor instead of `deepcopy`.
- The pictures: each hidden unit's heatmap was drawn by its own call (36 calls a snapshot); they are drawn a
  layer at a time from one array (10 ms -> 6 ms a snapshot, most of what is left is the forward pass over the
  72x72 grid the boundary needs), about once a second.
- The page process (py-spy): each frame that left outputs alone (`gr.skip()`) made Gradio build those
  components anew and generate their JSON schema (a few ms each, nine a frame, two frames a second), the
  pictures were encoded as WebP (15 ms for the boundary; PNG takes 4 ms and is lossless for flat colours), the
  inside picture was sent as an update with its label every time (one more rebuild), and the plots' frames were
  built from records with `astype` (3x slower than column by column). Now the page answers once a second with
  everything new in one frame, as PNG, with the label only when it changes: page CPU for a 1,200-step run fell
  from 0.64-0.85 s to 0.32-0.50 s (about 0.1 of a core while a run trains).

The page process as a neighbour (per-thread CPU from /proc, perf on the page process, a duty-cycled burner
beside a bare loop):

- A process busy 15 % of the time in short bursts, beside the bare loop, cost the loop 5 % of its steps per CPU
  second (10 rounds each: 849 alone, 803 with the burner; 820 with the loop pinned to one core), more than a
  process busy all the time did: the page's bursts matter more than its CPU total.
- Idle, the page's event loop used 8 % of a core: Gradio's queue looks for work every millisecond and for
  progress every 10 ms. `StudioBlocks` sets 5 ms and 50 ms (3 %).
- A run's 40-50 events a second each woke the page's reader, relay and event loop; the worker now sends a
  training run's events at most every 0.1 s in one pipe message (`worker.Sender`). With both: the page process
  used 0.07 of a core during runs instead of 0.12-0.17.
- With the page's frames turned off altogether the studio read 0.942 of bare (one run, 7 rounds), against 0.889
  with them: what the page does while a run trains is most of what separates the studio from the loop.

What is left, measured in the loop (default run, 3,000 steps, 3.8 s): evaluation after every epoch 2.6 % of the
time (it was 0.38 ms an epoch, 0.27 ms now that a network with no dropout and no batch norm skips the eval/train
switch, `models.evaluating`), snapshots 1.5 %, counting an epoch's answers 0.35 %, events 0.2 %. On this
machine, whose other users move a rate by 10-30 % from one run to the next, one benchmark run (7 rounds) read
0.948 (per round 0.939), others 0.90-0.92: the ratio is at the target's edge, and the run-to-run spread is
larger than what is left.

On a host about 3x slower (a bare step 3.1 ms, the default run 10 s; one run, 7 rounds): 0.923 of bare steps/s
and 0.920 of bare steps per CPU second of the training process, the loop alone in this process 0.95. So on such
a machine the worker itself does about 3 % more work per step than the same loop unwatched: a snapshot there
costs 12 ms warm (27 ms the first), 1.3 % at one a second; the rest is the events and their pictures crossing
the pipe. Looked at and ruled out: the garbage collector in a worker forked from the fork server (which holds
half a million objects of the libraries it preloads): timed with `gc.callbacks`, 7 young-generation
collections, 1 ms in all, in a 10 s run.

Session 7, same slow host, 7 rounds a run, the rounds of one run moving 15-20 % on their own (bare 287-347
steps/s within one run): the training process's own work against the loop alone in this process (in-process
parts, 5 rounds: evaluation of the 362 held-out rows 1.0-1.3 ms an epoch of 62-72 ms, a snapshot 13-16 ms,
almost all of it the forward pass over the 72x72 grid) explains about 3 %; the rest was the page process
waking beside it. Measured: 0.933 of bare (per round 0.943) as it was; 0.950 (0.956) with a training run's
events crossing the pipe every 0.25 s instead of 0.1 s (the page draws a Playground frame once a second);
0.977 (0.968) with Gradio's queue also looking for new events every 25 ms instead of 5 ms. The queue now does
that only while an event runs (`StudioBlocks`: a click on an idle page is still picked up within 5 ms); with
both, two runs read 0.955 (per round 0.910) and 0.879 (per round 1.013) on a host whose speed changed by a
fifth between rounds: at the target, not clearly above it.

Session 8: the snapshots between a run's first and last are taken on a thread beside the loop, of a copy of the
weights (`training.SnapshotsBeside`: torch lets go of the interpreter lock inside the grid's forward pass, so
the second core does it). In-process parts on this host: a snapshot 18 ms (the forward pass 12 ms, painting
1.5 ms), about one a second. 7 rounds: 0.978 of bare (per round 0.966), steps per CPU second 0.963; the loop
alone in this process 0.94-1.01 of bare; the page process 0.069 of a core.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.harness import alternate, free_port, report  # noqa: E402
from studio.jobs.pool import WorkerPool  # noqa: E402
from studio.playground.config import defaults_for  # noqa: E402
from studio.playground.datasets import make_dataset  # noqa: E402
from studio.playground.form import form_values  # noqa: E402
from studio.playground.models import build_model  # noqa: E402
from studio.playground.training import schedule, train_playground  # noqa: E402


def bare_loop(config) -> tuple[float, float]:
    """The same training math (AdamW, schedule, clipping) on as many rows as the studio trains on (it holds a
    validation share out), with no evaluation, events, plots or UI: steps per second of wall and of CPU time."""
    data = make_dataset(config)
    torch.manual_seed(config.seed)
    model = build_model(config, data)
    train = data.train
    n = len(train) - int(len(train) * config.val_fraction)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.epochs * -(-n // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(config.scheduler, config.warmup_steps, total))
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "app.py"], cwd=root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env=os.environ | {"STUDIO_PORT": str(port), "HF_HUB_OFFLINE": "1",
                                                "STUDIO_TORCH_THREADS": "1"})
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=None, help="default: the tab's own")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from gradio_client import Client

    torch.set_num_threads(1)  # what the Playground uses
    server, url = start_server()
    # Training workers run at a lower priority than the page (WorkerPool's `nice`); the bare loop runs at the
    # same one (set after the server starts, which keeps its own): on a busy machine both compete alike.
    os.nice(inspect.signature(WorkerPool).parameters["nice"].default)
    client = Client(url, verbose=False, download_files=False)
    config = defaults_for(args.model, patience=0)
    config = config.replace(epochs=args.epochs) if args.epochs else config
    for _ in range(60):  # the first run waits for the fork server to start
        try:
            studio_run(client, config.replace(epochs=2))
            break
        except Exception:
            time.sleep(1)

    cpu = {"bare": [], "loop": [], "studio": []}  # steps per CPU second, beside the wall rates `alternate` keeps
    page = {"cpu": 0.0, "wall": 0.0}  # the page process's CPU time over the studio runs, and their wall time

    def measured(name, rates):
        cpu[name].append(rates[1])
        return rates[0]

    def bare():
        return measured("bare", bare_loop(config))

    def loop():
        result = train_playground(config)  # the studio's loop in this process, nobody watching
        return measured("loop", (result.steps_per_second, result.steps / result.cpu_seconds))

    def studio():
        before, started = cpu_seconds(server.pid), time.perf_counter()
        wall = measured("studio", studio_run(client, config))
        page["cpu"] += cpu_seconds(server.pid) - before
        page["wall"] += time.perf_counter() - started
        return wall

    try:
        runs = alternate({"bare": bare, "loop": loop, "studio": studio}, repeats=args.repeats)
    finally:
        server.terminate()
        server.wait(10)
    for name in cpu:  # the warm-up round is not recorded by `alternate`: drop its CPU rates too
        del cpu[name][0]
    what = f"{args.model} on {config.dataset}, {config.epochs} epochs"
    report(f"playground steps/s through the UI, every picture on ({what})", runs["studio"], runs["bare"],
           unit="steps/s", target=0.95, loop_alone=runs["loop"],
           page_process_cores=round(page["cpu"] / page["wall"], 3))  # includes the warm-up round
    report(f"playground steps per CPU second of the training process ({what})", cpu["studio"], cpu["bare"],
           unit="steps/cpu-s", target=0.95, loop_alone=cpu["loop"])


if __name__ == "__main__":
    main()
