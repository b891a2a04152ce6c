"""A class of students on one studio: 30 `gradio_client` sessions on Playground, Text and Image.

    python benchmarks/class_simulation.py [--students 30] [--seconds 180]

The studio runs as `python app.py` in its own process (worker processes and all), on the
embedded models. A third of the students each use the Playground, Text and Image tabs: a
request, then a few seconds of reading, again and again. One of them hogs: it fires
eight requests at once, over and over. Printed: requests served, refused with a message
(the per-visitor limit or a full queue, in words), errors (anything else: a crash, a
traceback, a timeout), and the median and p95 wait from request to answer.

Targets (issue 9 and 15): 0 errors, every request answered or told why not.
Measured before worker processes (threads in one process, 120 s): 108 served, 152 refused
with "queue full", 4 errors (a meta-device tensor in a Playground run while a model loaded
in another thread; a raced diffusers import), median wait 14.3 s, p95 62.9 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import free_port, summary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFUSALS = ("per visitor", "queue is full", "waiting, the limit", "Try again")

REQUESTS = {  # what a student sends on each tab: small, like a class exercise
    "playground": dict(api_name="/playground_train", kwargs=dict(model="mlp", dataset="spiral", epochs=15)),
    "text": dict(api_name="/text_generate", kwargs=dict(prompt="Once upon a time", max_new_tokens=48)),
    "image": dict(api_name="/image_generate", kwargs=dict(prompt="a red circle on a blue background", steps=10,
                                                                 init_image=None)),
}


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.served, self.refused, self.errors = 0, 0, []
        self.waits: list[float] = []

    def add(self, outcome: str, wait: float = 0.0, detail: str = ""):
        with self.lock:
            if outcome == "served":
                self.served += 1
                self.waits.append(wait)
            elif outcome == "refused":
                self.refused += 1
            else:
                self.errors.append(detail[:200])


def ask(client, tab: str, tally: Tally) -> None:
    spec = REQUESTS[tab]
    started = time.perf_counter()
    try:
        client.predict(api_name=spec["api_name"], **spec["kwargs"])
        tally.add("served", time.perf_counter() - started)
    except Exception as err:  # gradio_client raises AppError with the page's message
        text = str(err)
        tally.add("refused" if any(r in text for r in REFUSALS) else "error", detail=f"{tab}: {text}")


def student(url: str, tab: str, until: float, tally: Tally, seed: int) -> None:
    from gradio_client import Client

    rng = random.Random(seed)
    client = Client(url, verbose=False)
    while time.monotonic() < until:
        ask(client, tab, tally)
        time.sleep(rng.uniform(2, 6))  # reading the answer


def hog(url: str, until: float, tally: Tally) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    while time.monotonic() < until:
        threads = [threading.Thread(target=ask, args=(client, "image", tally)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the studio did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--url", help="use a running studio instead of starting one")
    args = parser.parse_args()
    port = free_port()
    url = args.url or f"http://127.0.0.1:{port}/"
    server = None
    if not args.url:
        env = os.environ | {"GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                            "STUDIO_OUTPUTS_DIR": str(ROOT / "outputs" / "class-simulation")}
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(ROOT / "outputs" / "class-simulation.log", "w")
                                  if (ROOT / "outputs").mkdir(exist_ok=True) or True else None)
    try:
        wait_for(url)
        tally = Tally()
        until = time.monotonic() + args.seconds
        tabs = list(REQUESTS)
        threads = [threading.Thread(target=student, args=(url, tabs[i % 3], until, tally, i), daemon=True)
                   for i in range(args.students - 1)]
        threads.append(threading.Thread(target=hog, args=(url, until, tally), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 180)
        waits = sorted(tally.waits)
        p95 = waits[int(0.95 * (len(waits) - 1))] if waits else float("nan")
        summary("class simulation", students=args.students, seconds=args.seconds, served=tally.served,
                refused_with_message=tally.refused, errors=len(tally.errors),
                median_wait_s=round(statistics.median(waits), 2) if waits else None, p95_wait_s=round(p95, 2),
                before_workers="108 served, 152 refused (queue full), 4 errors, median 14.3 s, p95 62.9 s")
        for line in tally.errors[:10]:
            print("error:", line)
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
