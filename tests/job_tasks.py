"""Small tasks for the job registry's tests; workers import them by name like any studio task."""

import os
import time

from studio.errors import StudioError
from studio.events import ProgressEvent


def count(payload, run):
    for i in range(payload["n"]):
        if run.should_stop:
            break
        run.emit(ProgressEvent(step=i + 1, total=payload["n"]))
        time.sleep(payload.get("sleep", 0))
    return {"pid": os.getpid(), "counted": i + 1}


def spin(payload, run):
    """Burns CPU and never looks at the stop flag: only a firm stop ends it."""
    end = time.monotonic() + payload.get("seconds", 60)
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


def crash(payload, run):
    os._exit(3)


def refuse(payload, run):
    raise StudioError("steps: 0 is not valid; use at least 1.")


def hog(payload, run):
    blocks = [bytearray(64 * 2**20) for _ in range(payload.get("blocks", 20))]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])
    time.sleep(30)
    return len(blocks)


def pid(payload, run):
    return os.getpid()


PREPARED: dict = {}


def prepare(payload, run):
    """A worker's `prepare` task: leaves a mark in the process that the job can read."""
    PREPARED["pid"] = os.getpid()
    run.emit(ProgressEvent(step=1, total=1))  # nobody reads a prepare task's events: this must go nowhere


def prepared(payload, run):
    return {"pid": os.getpid(), "prepared_in": PREPARED.get("pid")}


def prepare_fails(payload, run):
    raise RuntimeError("a broken prepare task")
