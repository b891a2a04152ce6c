"""Multi-process fine-tuning: the accelerate config and command, the process bound, the rank event stream, the
process tree, and (slow) a 2-process CPU run of the embedded model through `accelerate launch` that trains,
streams its events and ends every rank within the grace period of a Stop."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from studio.errors import ConfigError, StudioError
from studio.events import DoneEvent, ErrorEvent, EvalEvent, LogEvent, ProgressEvent, StepEvent
from studio.finetune.config import FinetuneConfig, MethodSettings, TrainingSettings
from studio.finetune.events_file import EventReader, EventWriter
from studio.finetune.launch import (ProcessTree, accelerate_config, available_processes, check_processes,
                                    config_yaml, write_launch)
from studio.finetune.limits import planned_steps
from studio.finetune.requests import ModelScope, RunOpened, TrainRequest
from studio.settings import Settings


def test_the_config_runs_n_processes_on_the_cpu_with_accelerates_torchrun_launcher(tmp_path):
    settings = Settings(outputs_dir=tmp_path, hf_token="hf_secret", api_key="sk-secret", admin_password="pw")
    files = write_launch(tmp_path, settings, ModelScope(any_path=True), 2, "cpu")
    config = yaml.safe_load((tmp_path / "accelerate.yaml").read_text())
    assert config["distributed_type"] == "MULTI_GPU" and config["use_cpu"] is True
    assert config["num_processes"] == 2 and config["num_machines"] == 1 and config["main_process_port"] == 0
    assert files["argv"][-7:] == ["--config_file", str(tmp_path / "accelerate.yaml"), "--num_processes", "2",
                                  "-m", "studio.finetune.distributed", str(tmp_path)]
    assert "accelerate launch --config_file" in files["command"] and files["command"] in \
        (tmp_path / "launch.sh").read_text()
    written = (tmp_path / "launch.json").read_text()
    assert "secret" not in written and "pw" not in json.loads(written)["settings"].values()
    assert yaml.safe_load(config_yaml(accelerate_config(4, "cuda", "bf16"))) | {} == \
        accelerate_config(4, "cuda", "bf16") and not accelerate_config(4, "cuda")["use_cpu"]


def test_more_processes_than_cores_or_gpus_are_refused_naming_the_bound():
    cores = available_processes("cpu")
    check_processes(cores, "cpu")
    with pytest.raises(StudioError, match=f"processes: {cores + 1} is more than this machine's {cores} CPU cores"):
        check_processes(cores + 1, "cpu")
    with pytest.raises(StudioError, match="processes: QLoRA trains in one process"):
        check_processes(2, "cpu", "qlora")
    with pytest.raises(ConfigError, match="processes"):
        TrainingSettings(processes=0)


def test_each_process_takes_its_share_of_an_epoch():
    one, two = TrainingSettings(batch_size=4, epochs=1), TrainingSettings(batch_size=4, epochs=1, processes=2)
    assert planned_steps(100, one) == 25 and planned_steps(100, two) == 13


def test_the_command_line_takes_processes():
    import argparse

    from studio.finetune.cli import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--json", action="store_true")
    assert build_config(parser.parse_args(["--processes", "2"])).training.processes == 2


def test_rank_events_round_trip_and_half_written_lines_wait(tmp_path):
    events = [StepEvent(1, 8, 0.1, math.nan, None), LogEvent(1, "loss 2.0", {"loss": 2.0}),
              EvalEvent(1, 0.1, {"eval_loss": 1.5}), ProgressEvent(0, 8, "steps", "Run x", RunOpened("x"))]
    reader = EventReader(tmp_path / "events.jsonl")
    writer = EventWriter(tmp_path / "events.jsonl")
    for event in events:
        writer.write(event)
    with (tmp_path / "events.jsonl").open("a") as file:
        file.write('{"event": "LogEvent", "step": 2, "mess')  # a rank is writing this line now
    got = reader.read()
    assert got[1:] == events[1:] and math.isnan(got[0].loss) and got[0].step == 1
    with (tmp_path / "events.jsonl").open("a") as file:
        file.write('age": "later", "values": {}}\n')
    assert reader.read() == [LogEvent(2, "later", {})]
    writer.close()


def test_the_process_tree_is_killed_with_ranks_in_sessions_of_their_own():
    """torch's launcher starts each rank in a new session: killing the launcher's group alone would miss them."""
    rank = "import subprocess, sys, time; [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], " \
           "start_new_session=True) for _ in range(2)]; time.sleep(60)"
    launcher = subprocess.Popen([sys.executable, "-c", rank], start_new_session=True)
    tree = ProcessTree(launcher)
    deadline = time.monotonic() + 10
    while len(tree.known) < 3 and time.monotonic() < deadline:
        tree.remember()
        time.sleep(0.05)
    assert len(tree.known) == 3
    tree.kill()
    assert tree.alive() == []


def run_processes() -> set:
    """This test's processes of a multi-process run: the launcher and the ranks."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "studio.finetune.distributed" in " ".join(child.cmdline()):
                found.add(child)
        except psutil.Error:
            pass
    return found


def ended(process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


@pytest.mark.slow
def test_two_cpu_processes_train_stream_their_events_and_all_end_within_the_stop_grace(tmp_path):
    from studio.jobs import JobRegistry

    grace = 1.0
    settings = Settings(outputs_dir=tmp_path / "outputs", torch_threads=1, stop_grace_s=grace)
    config = FinetuneConfig(model="embedded/text-tiny", data="sums-in-words", method=MethodSettings(rank=4, alpha=8),
                            training=TrainingSettings(max_steps=400, batch_size=4, eval_steps=4, logging_steps=1,
                                                      save_steps=1000, max_length=48, processes=2))
    registry = JobRegistry(settings, mode="thread")
    job = registry.submit("tester", "finetune", "studio.finetune.tasks:train", TrainRequest(config))
    started, seen, evals, ranks = time.monotonic(), [], {}, set()
    stopped_at = ended_at = None
    for event in job.run:
        seen.append(event)
        ranks |= run_processes()
        if isinstance(event, EvalEvent):
            evals[event.step] = event.metrics["eval_loss"]
        if stopped_at is None and isinstance(event, StepEvent) and event.step >= 9:
            stopped_at = time.monotonic()
            registry.stop(job)
        if isinstance(event, (DoneEvent, ErrorEvent)):
            ended_at = time.monotonic()
            break
    assert isinstance(seen[-1], DoneEvent), seen[-1]
    result = seen[-1].result
    left = [p.pid for p in ranks if not ended(p)]
    print(f"\n2 processes: eval loss {evals}, {ended_at - stopped_at:.2f}s from Stop to the end, "
          f"{ended_at - started:.1f}s in all, {len(ranks)} processes")
    assert left == [] and len(ranks) >= 3  # the launcher and two ranks, all gone
    assert ended_at - stopped_at < grace + 0.5
    assert evals[8] < evals[0] and result.stopped and 9 <= result.steps < 400
    assert result.first_eval_loss == pytest.approx(evals[0]) and result.last_eval_loss < result.first_eval_loss
    kinds = {type(e) for e in seen}
    assert {StepEvent, LogEvent, EvalEvent, ProgressEvent} <= kinds
    assert any(isinstance(e, ProgressEvent) and isinstance(e.preview, RunOpened) for e in seen)
    assert any(isinstance(e, LogEvent) and "accelerate launch" in e.message for e in seen)
    folder = Path(result.folder)
    assert (folder / "accelerate.yaml").is_file() and json.loads((folder / "state.json").read_text())["status"] == \
        "stopped"
    assert any("loss" in json.loads(line) for line in (folder / "logs.jsonl").read_text().splitlines())
    registry.close()
