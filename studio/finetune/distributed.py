"""`python -m studio.finetune.distributed <run folder>`: one process (rank) of a multi-process fine-tune.

`accelerate launch` starts N of these (see `studio.finetune.launch`); each trains the run in the folder with the
same `run_finetune` as a single process does, on its share of every batch (the Trainer's distributed sampler and
DDP). Only the first rank writes: logs.jsonl, checkpoints, stage and final weights, and its events as JSON lines
for the job that started it (`events_file`). All ranks read the `stop` file after every step and agree on it
with one all-reduce, so they stop at the same step; a rank whose job process is gone ends itself (`watch`).
Run by hand (the exported command), it trains or continues that run the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from pathlib import Path

from studio.errors import StudioError

from .events_file import EventWriter
from .launch import EVENTS_FILE, LAUNCH_FILE, STOP_FILE

WATCH_S = 0.25


class RankRun:
    """What `run_finetune` needs of a run (emit, should_stop, settings), for one rank."""

    def __init__(self, folder: Path, settings, writer: EventWriter | None, device: str):
        self.settings, self._writer, self.device = settings, writer, device
        self._stop_file = Path(folder) / STOP_FILE

    def emit(self, event) -> None:
        if self._writer is not None:
            self._writer.write(event)

    @property
    def should_stop(self) -> bool:
        return self._stop_file.exists()

    def agree(self, stop: bool, late: bool) -> tuple[bool, bool]:
        """Every rank's (stop, late) combined: any rank that saw either makes all of them see it, at this step."""
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return stop, late
        flags = torch.tensor([int(stop), int(late)], device=f"cuda:{torch.cuda.current_device()}"
                             if self.device == "cuda" else "cpu")
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0].item()), bool(flags[1].item())


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watch(job_pid: int | None) -> None:
    """End this rank when its launcher (the parent) or the job's process is gone: a worker killed after a Stop's
    grace period, or a launcher killed on its own, must not leave ranks training (or waiting) forever."""
    parent = os.getppid()

    def loop():
        while True:
            time.sleep(WATCH_S)
            if os.getppid() != parent or (job_pid and not alive(job_pid)):
                os._exit(1)

    threading.Thread(target=loop, name="studio-rank-watch", daemon=True).start()


def rank_settings(values: dict):
    """`Settings` from launch.json, with the secrets from this process's environment (never from the file)."""
    from studio.settings import Settings

    fields = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in values.items() if k in fields}
    values["outputs_dir"] = Path(values.get("outputs_dir", Settings.outputs_dir))
    values["local_models"] = tuple(Path(p) for p in values.get("local_models", ()))
    return Settings(**values, hf_token=os.environ.get("HF_TOKEN") or None)


def job_started() -> float:
    """When the job began, on this process's monotonic clock (the wall-time limit counts from then)."""
    started = os.environ.get("STUDIO_FINETUNE_STARTED")
    return time.monotonic() - max(0.0, time.time() - float(started)) if started else time.monotonic()


def main(argv: list[str] | None = None) -> int:
    from .config import FinetuneConfig
    from .curriculum import run_finetune
    from .requests import ModelScope
    from .runs import RunFolder

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: accelerate launch ... -m studio.finetune.distributed <run folder>", file=sys.stderr)
        return 2
    started = job_started()
    folder = RunFolder(Path(args[0]).resolve())
    launch = json.loads((folder.path / LAUNCH_FILE).read_text())
    watch(int(os.environ["STUDIO_FINETUNE_WATCH_PID"]) if os.environ.get("STUDIO_FINETUNE_WATCH_PID") else None)
    settings = rank_settings(launch["settings"])
    scope = launch.get("scope") or {}
    scope = ModelScope(tuple(scope.get("local_roots", ())), bool(scope.get("any_path")),
                       bool(scope.get("presets_only")))
    config = FinetuneConfig.from_dict(folder.read_json("config.json"))

    from accelerate import PartialState

    from studio.devices import pick_device

    device = pick_device(settings.device)
    state = PartialState(cpu=device == "cpu")  # the process group now: ranks agree on a Stop even while loading
    if device == "cuda":
        import torch

        torch.cuda.set_device(state.local_process_index)  # "cuda" in the loader is this rank's GPU
    first = state.is_main_process
    writer = EventWriter(folder.path / EVENTS_FILE) if first else None
    code = 0
    try:
        result = run_finetune(config, RankRun(folder.path, settings, writer, device), settings, scope=scope,
                              folder=folder, started=started, main=first)
        if first:
            folder.write_json("result.json", dataclasses.asdict(result))
    except StudioError as err:
        if first:
            folder.write_json("error.json", {"message": str(err)})
        code = 3
    finally:
        if writer is not None:
            writer.close()
    return code


def end(code: int) -> None:
    """Leave at once: everything the run keeps is written and closed, and tearing down torch and the process group
    takes longer than a Stop's grace period allows (the launcher notices the exit in a tenth of a second)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    end(main())
