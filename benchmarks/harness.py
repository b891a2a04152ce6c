"""What every benchmark here shares: alternate the two sides in one run, take medians, print two lines.

Each benchmark measures the studio against the bare library call doing the same work, alternating
the two so that a machine busy with something else slows both alike. It ends with one JSON line
(for tools) and one human line (for people); the ratio is always studio over bare.

    from benchmarks.harness import alternate, report
    runs = alternate({"studio": run_studio, "bare": run_bare}, repeats=5)
    report("image steps/s", runs["studio"], runs["bare"], unit="steps/s", target=0.95, higher_is_better=True)

A measure may return several numbers at once (a dict, e.g. tokens/s and time to first token of one
generation); `column(runs, "ttft")` takes one of them out for `report`. Engine benchmarks call a
worker's task function in this process with a `TaskRun`, which hands the task what a worker does.
"""

from __future__ import annotations

import json
import pickle
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alternate(sides: dict[str, Callable[[], float | dict]], repeats: int = 5,
              warmup: int = 1) -> dict[str, list]:
    """Call each side in turn `repeats` times (after `warmup` unrecorded rounds); each call returns its measure
    (a number, or a dict of named numbers: see `column`). Every other round runs the sides in reverse order,
    so no side always runs right after another (a cache the other warmed, a machine it left busy)."""
    runs: dict[str, list] = {name: [] for name in sides}
    for round_ in range(warmup + repeats):
        order = list(sides.items())
        for name, measure in order if round_ % 2 == 0 else reversed(order):
            value = measure()
            if round_ >= warmup:
                runs[name].append(value)
    return runs


def column(runs: dict[str, list[dict]], name: str) -> dict[str, list[float]]:
    """One named measure of every run, per side, from measures that returned dicts."""
    return {side: [values[name] for values in measured] for side, measured in runs.items()}


class TaskRun:
    """What a worker process hands a task (`settings`, `emit`, `should_stop`), for calling it in this process.

    Each event is pickled as the worker's pipe would, so the task's events cost here what they cost there;
    `events` keeps (seconds since `started`, event) of the current call (`start()` begins a new one)."""

    def __init__(self, settings, outputs_dir: Path | None = None):
        import dataclasses

        self.settings = dataclasses.replace(settings, outputs_dir=outputs_dir) if outputs_dir else settings
        self.events: list = []
        self.started = time.perf_counter()
        self.should_stop = False

    def start(self) -> "TaskRun":
        self.events, self.started = [], time.perf_counter()
        return self

    def emit(self, event) -> None:
        pickle.dumps(event)
        self.events.append((time.perf_counter() - self.started, event))

    def request_stop(self) -> None:
        self.should_stop = True


def report(name: str, studio: list[float], bare: list[float], unit: str, target: float | None = None,
           higher_is_better: bool = True, **extra) -> dict:
    """Print one JSON line and one human line; returns the JSON object."""
    s, b = statistics.median(studio), statistics.median(bare)
    ratio = s / b if b else float("nan")
    met = None if target is None else (ratio >= target if higher_is_better else ratio <= target)
    # The median of each round's own ratio: the two sides of a round ran moments apart, under the same load.
    paired = statistics.median(x / y for x, y in zip(studio, bare)) if len(studio) == len(bare) and all(bare) else None
    line = dict(benchmark=name, unit=unit, studio=round(s, 4), bare=round(b, 4), ratio=round(ratio, 4),
                target=target, met=met, paired_ratio=None if paired is None else round(paired, 4),
                studio_runs=[round(x, 4) for x in studio], bare_runs=[round(x, 4) for x in bare], **extra)
    print(json.dumps(line))
    goal = "" if target is None else f" (target {'>=' if higher_is_better else '<='} {target}: " \
                                      f"{'met' if met else 'NOT met'})"
    pairs = "" if paired is None else f", per-round {paired:.3f}"
    print(f"{name}: studio {s:.4g} {unit}, bare {b:.4g} {unit}, ratio studio/bare {ratio:.3f}{pairs}{goal}")
    return line


def summary(name: str, **values) -> dict:
    """For measures with no bare side (a class simulation): one JSON line, one human line."""
    print(json.dumps(dict(benchmark=name, **values)))
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    return values
