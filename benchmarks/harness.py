"""What every benchmark here shares: alternate the two sides in one run, take medians, print two lines.

Each benchmark measures the studio against the bare library call doing the same work, alternating
the two so that a machine busy with something else slows both alike. It ends with one JSON line
(for tools) and one human line (for people); the ratio is always studio over bare.

    from benchmarks.harness import alternate, report
    runs = alternate({"studio": run_studio, "bare": run_bare}, repeats=5)
    report("image steps/s", runs["studio"], runs["bare"], unit="steps/s", target=0.95, higher_is_better=True)
"""

from __future__ import annotations

import json
import socket
import statistics
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alternate(sides: dict[str, Callable[[], float]], repeats: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Call each side in turn `repeats` times (after `warmup` unrecorded rounds); each call returns its measure."""
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(warmup + repeats):
        for name, measure in sides.items():
            value = measure()
            if round_ >= warmup:
                runs[name].append(value)
    return runs


def report(name: str, studio: list[float], bare: list[float], unit: str, target: float | None = None,
           higher_is_better: bool = True, **extra) -> dict:
    """Print one JSON line and one human line; returns the JSON object."""
    s, b = statistics.median(studio), statistics.median(bare)
    ratio = s / b if b else float("nan")
    met = None if target is None else (ratio >= target if higher_is_better else ratio <= target)
    line = dict(benchmark=name, unit=unit, studio=round(s, 4), bare=round(b, 4), ratio=round(ratio, 4),
                target=target, met=met, studio_runs=[round(x, 4) for x in studio],
                bare_runs=[round(x, 4) for x in bare], **extra)
    print(json.dumps(line))
    goal = "" if target is None else f" (target {'>=' if higher_is_better else '<='} {target}: " \
                                      f"{'met' if met else 'NOT met'})"
    print(f"{name}: studio {s:.4g} {unit}, bare {b:.4g} {unit}, ratio studio/bare {ratio:.3f}{goal}")
    return line


def summary(name: str, **values) -> dict:
    """For measures with no bare side (a class simulation): one JSON line, one human line."""
    print(json.dumps(dict(benchmark=name, **values)))
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    return values
