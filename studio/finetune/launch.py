"""A multi-process fine-tune seen from the job's side: the accelerate config, the command, the ranks' events, Stop.

The task (in its worker process, or the command line's thread) writes `accelerate.yaml` and `launch.json` into the
run folder and starts exactly the command `launch_command` returns, `accelerate launch --config_file
<run>/accelerate.yaml --num_processes N -m studio.finetune.distributed <run>`, which is also what Export shows.
The first rank writes every event it would have emitted to `<run>/events.jsonl`; this side tails that file and
emits the same events, so the page draws one run whether it trained in one process or in N.

Stop is cooperative first: a `stop` file in the run folder, which every rank reads after each step and all agree
on (they end at the same step, with a checkpoint). Whatever is still alive after the grace period is killed:
torch's launcher puts each rank in a session of its own, so the launcher's process group alone would miss them;
the whole tree is collected while it runs and each process group in it is killed. Ranks also end themselves
when the job's process disappears (`distributed.watch`), so a worker killed by the registry leaves no ranks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.errors import StudioError
from studio.settings import PROJECT_ROOT

from .events_file import EventReader

CONFIG_FILE = "accelerate.yaml"
LAUNCH_FILE = "launch.json"  # what the ranks need besides config.json: non-secret settings and the model scope
EVENTS_FILE = "events.jsonl"
STOP_FILE = "stop"
LOG_FILE = "launch.log"  # the launcher's and the ranks' own output
POLL_S = 0.1
SECRET_SETTINGS = ("hf_token", "admin_password", "api_key")  # never written to disk; ranks read them from the env


def available_processes(device: str) -> int:
    """How many processes this machine can train on: one per GPU, or one per CPU core this process may use."""
    if device == "cuda":
        import torch

        return torch.cuda.device_count()
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_processes(processes: int, device: str, method: str = "lora") -> None:
    """Refuse more processes than the machine has GPUs (or CPU cores), naming the bound and what to do."""
    if processes <= 1:
        return
    if device not in ("cpu", "cuda"):
        raise StudioError(f"processes: {processes} processes need CPUs or CUDA GPUs, and this studio trains on "
                          f"{device}. Set processes to 1.")
    if method == "qlora":
        raise StudioError("processes: QLoRA trains in one process here (its 4-bit base is placed on one device). "
                          "Set processes to 1, or use LoRA for several processes.")
    have = available_processes(device)
    what = "GPUs" if device == "cuda" else "CPU cores"
    if processes > have:
        raise StudioError(f"processes: {processes} is more than this machine's {have} {what} (one process each). "
                          f"Use at most {have}.")


def accelerate_config(processes: int, device: str, mixed_precision: str = "no") -> dict:
    """accelerate's config for N processes on one machine. Both devices use accelerate's torchrun launcher
    (`distributed_type: MULTI_GPU`): on the CPU `use_cpu` makes each rank a CPU process with the gloo backend,
    where accelerate's own MULTI_CPU type would start one process unless MPI is installed."""
    return {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_processes": processes,
        "num_machines": 1,
        "machine_rank": 0,
        "main_process_port": 0,  # 0: a free port, so two runs (or two studios) on one machine never collide
        "gpu_ids": "all",
        "mixed_precision": {"full": "no"}.get(mixed_precision, mixed_precision),
        "use_cpu": device == "cpu",
        "rdzv_backend": "static",
        "same_network": True,
        "debug": False,
    }


def config_yaml(config: dict) -> str:
    """YAML by hand (scalars only): accelerate reads it with yaml.safe_load."""
    lines = []
    for key, value in config.items():
        text = ("true" if value else "false") if isinstance(value, bool) else \
            str(value) if isinstance(value, int) else json.dumps(str(value))
        lines.append(f"{key}: {text}")
    return "\n".join(lines) + "\n"


def accelerate_program() -> list[str]:
    """The `accelerate` command of this environment (the venv's script next to this Python)."""
    script = Path(sys.executable).with_name("accelerate")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "accelerate.commands.launch"]


def launch_command(folder: Path, processes: int) -> list[str]:
    program = accelerate_program()
    verb = ["launch"] if program[-1].endswith("accelerate") else []
    return [*program, *verb, "--config_file", str(Path(folder) / CONFIG_FILE), "--num_processes", str(processes),
            "-m", "studio.finetune.distributed", str(folder)]


def shell_line(command: list[str]) -> str:
    """The command as one shell line, run from the project folder (where `-m studio...` is found)."""
    return f"cd {shlex.quote(str(PROJECT_ROOT))} && {shlex.join(command)}"


def rank_settings(settings) -> dict:
    """The job's settings as the ranks need them, secrets left out (they come from the environment)."""
    values = {}
    for f in dataclasses.fields(settings):
        if f.name in SECRET_SETTINGS:
            continue
        value = getattr(settings, f.name)
        values[f.name] = [str(v) for v in value] if isinstance(value, tuple) else \
            str(value) if isinstance(value, Path) else value
    return values


def write_launch(folder: Path, settings, scope, processes: int, device: str, mixed_precision: str = "no") -> dict:
    """accelerate.yaml, launch.json and launch.sh in the run folder; returns the config file and the command."""
    folder = Path(folder)
    (folder / CONFIG_FILE).write_text(config_yaml(accelerate_config(processes, device, mixed_precision)))
    (folder / LAUNCH_FILE).write_text(json.dumps({"settings": rank_settings(settings),
                                                  "scope": dataclasses.asdict(scope)}, indent=1))
    command = launch_command(folder, processes)
    line = shell_line(command)
    (folder / "launch.sh").write_text(f"#!/bin/sh\n# this run on {processes} {device} processes, as the studio runs "
                                      f"it (a stopped run continues from its checkpoint)\n{line}\n")
    return {"config_file": str(folder / CONFIG_FILE), "command": line, "argv": command}


class ProcessTree:
    """The launcher and every process under it, remembered while they run (a rank reparented after its launcher
    died is still found), ended together."""

    def __init__(self, process: subprocess.Popen):
        import psutil

        self.process = process
        self.known: dict[int, object] = {process.pid: psutil.Process(process.pid)}

    def remember(self) -> None:
        import psutil

        try:
            for child in self.known[self.process.pid].children(recursive=True):
                self.known.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def alive(self) -> list[int]:
        import psutil

        living = []
        for pid, proc in self.known.items():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    living.append(pid)
            except psutil.Error:
                pass
        return living

    def kill(self) -> None:
        """SIGKILL every process group in the tree (the ranks' own sessions included), then any process left."""
        self.remember()
        groups = set()
        for pid in self.alive():
            try:
                groups.add(os.getpgid(pid))
            except OSError:
                pass
        for group in groups - {os.getpgid(0)}:  # never this process's own group
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.wait(5.0)

    def wait(self, timeout: float) -> bool:
        """Until no process of the tree is left (a killed process takes a moment to end); True when none is."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@dataclasses.dataclass
class LaunchOutcome:
    returncode: int
    stopped: bool  # a Stop (or the wall-time limit) asked the ranks to end
    killed: bool  # they had to be killed after the grace period
    pids: list[int]  # every process the run had (for tests and the log)


def run_processes(folder: Path, command: list[str], run, grace_s: float, env: dict | None = None) -> LaunchOutcome:
    """Start the command in a process group of its own, re-emit the first rank's events, handle Stop; returns
    when every process of the run has ended."""
    folder = Path(folder)
    (folder / STOP_FILE).unlink(missing_ok=True)
    reader = EventReader(folder / EVENTS_FILE)
    with open(folder / LOG_FILE, "ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    tree = ProcessTree(process)
    stop_at: float | None = None
    killed = False
    try:
        while process.poll() is None:
            tree.remember()
            for event in reader.read():
                run.emit(event)
            if stop_at is None and run.should_stop:
                (folder / STOP_FILE).write_text("stop\n")
                stop_at = time.monotonic()
            if stop_at is not None and time.monotonic() - stop_at > grace_s:
                tree.kill()
                killed = True
                break
            time.sleep(POLL_S)
    except BaseException:  # the job's thread is being torn down (Ctrl-C on the command line): leave no ranks
        tree.kill()
        raise
    if not tree.wait(grace_s):  # the launcher ended but a rank did not (it should have followed): end it
        tree.kill()
    for event in reader.read():
        run.emit(event)
    return LaunchOutcome(process.returncode if process.returncode is not None else -9, stop_at is not None, killed,
                         sorted(tree.known))


def stop_grace(settings) -> float:
    """How long the ranks have to stop together with a checkpoint before they are killed: a little less than the
    registry gives the job (it kills the worker after `stop_grace_s`), never under a second on the command line."""
    grace = float(getattr(settings, "stop_grace_s", 1.0) or 1.0)
    return max(0.3, grace - 0.3)


def launch_env(threads: int, started_wall: float) -> dict:
    """The ranks' environment: this one, plus their share of the cores, the job's start (the wall-time limit counts
    from it) and this process's id."""
    env = dict(os.environ)
    env["STUDIO_FINETUNE_STARTED"] = repr(started_wall)
    env["OMP_NUM_THREADS"] = str(max(1, threads))  # the ranks share the cores instead of each taking them all
    env["STUDIO_FINETUNE_WATCH_PID"] = str(os.getpid())  # ranks end themselves when this process is gone
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env
