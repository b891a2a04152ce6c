"""The audio task as a worker runs it: progress events in tokens, files in the owner's folder, limits, Stop."""


import pytest

from studio.audio import tasks
from studio.audio.generate import AudioProgress
from studio.audio.request import AudioJob, AudioRequest
from studio.events import DoneEvent, ErrorEvent, ProgressEvent, StepEvent
from studio.jobs import JobRegistry
from studio.settings import Settings
from tests.audio_models import build_tiny_musicgen
from tests.job_events import events_of

ANY_FOLDER = {"any_path": True}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return str(build_tiny_musicgen(tmp_path_factory.mktemp("task-audio") / "mono"))


@pytest.fixture()
def registry(tmp_path):
    reg = JobRegistry(Settings(outputs_dir=tmp_path / "studio"), mode="thread")
    yield reg
    reg.close()




class FakeRun:
    """What a task sees of its job; Stop is pressed once the progress reaches `stop_at` tokens."""

    def __init__(self, settings, stop_at=None):
        self.settings, self.stop_at, self.events = settings, stop_at, []

    def emit(self, event):
        self.events.append(event)

    @property
    def should_stop(self):
        steps = [e.step for e in self.events if isinstance(e, ProgressEvent)]
        return self.stop_at is not None and bool(steps) and steps[-1] >= self.stop_at


def test_a_job_reports_tokens_and_leaves_its_files_in_the_owners_folder(registry, tiny, tmp_path):
    owner_settings = Settings(outputs_dir=tmp_path / "visitor-a")
    job = registry.submit("visitor-a", "audio", "studio.audio.tasks:generate",
                          AudioJob(AudioRequest(prompt="a slow low melody", model=tiny, seconds=1), ANY_FOLDER),
                          settings=owner_settings)
    got = events_of(job)
    progress = [e for e in got if isinstance(e, ProgressEvent) and e.total]
    assert progress and {e.unit for e in progress} == {"tokens"} and progress[-1].step == progress[-1].total == 28
    assert not any(isinstance(e, StepEvent) for e in got)  # no window numbers hidden in a training event
    done = got[-1]
    assert isinstance(done, DoneEvent) and not done.stopped
    result = done.result
    assert result.clips == [] and result.channels == 1  # arrays stay in the worker; the WAV is on disk
    assert result.paths[0].is_file() and (tmp_path / "visitor-a") in result.paths[0].parents


def test_windows_are_named_in_the_progress_message(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "PROGRESS_INTERVAL_S", 0.0)
    run = FakeRun(Settings(outputs_dir=tmp_path))
    request = AudioRequest(prompt="x", model=tiny, seconds=3, window_seconds=1.2, overlap_seconds=0.4)
    tasks.generate(AudioJob(request, ANY_FOLDER), run)
    messages = [e.message for e in run.events if isinstance(e, ProgressEvent) and e.total]
    assert messages[0] == "Window 1 of 4: 1 of 87 tokens" and messages[-1] == "Window 4 of 4: 87 of 87 tokens"


def test_stop_ends_the_job_at_the_next_step(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "PROGRESS_INTERVAL_S", 0.0)
    run = FakeRun(Settings(outputs_dir=tmp_path), stop_at=5)
    result = tasks.generate(AudioJob(AudioRequest(prompt="x", model=tiny, seconds=2), ANY_FOLDER), run)
    assert result.stopped and result.steps == 5 and not result.paths


def test_a_duration_over_the_operators_limit_is_refused_with_the_limit_named(registry, tiny, tmp_path):
    strict = Settings(outputs_dir=tmp_path, max_audio_seconds=1.0)
    job = registry.submit("visitor-b", "audio", "studio.audio.tasks:generate",
                          AudioJob(AudioRequest(prompt="x", model=tiny, seconds=2), ANY_FOLDER), settings=strict)
    last = events_of(job)[-1]
    assert isinstance(last, ErrorEvent) and "max_audio_seconds" in last.message and "seconds" in last.message


def test_progress_is_throttled_but_the_last_step_always_arrives():
    run = FakeRun(None)
    report = tasks.progress_reporter(run)
    for step in range(1, 101):
        report(AudioProgress(step, 100, 1, 1))
    steps = [e.step for e in run.events]
    assert steps[0] == 1 and steps[-1] == 100 and len(steps) < 10


def test_warm_loads_the_embedded_model_once_per_worker(tmp_path):
    settings = Settings(outputs_dir=tmp_path)
    summary = tasks.warm(None, FakeRun(settings))
    assert summary["model"] == "embedded/musicgen-tiny"
    assert tasks.engine_for(settings) is tasks.engine_for(Settings(outputs_dir=tmp_path / "other"))
    assert tasks.engine_for(settings).slot.current.source.name == "embedded/musicgen-tiny"
