"""The Playground's job task: trains in a job, saves into its owner's folder, fails cleanly when it diverges."""

from pathlib import Path

import pytest

from studio.events import DoneEvent, ErrorEvent, EvalEvent
from studio.jobs import JobRegistry
from studio.playground import datasets
from studio.playground.config import defaults_for
from studio.settings import Settings

from .test_playground_training import one_thread  # noqa: F401  (one torch thread, as in a worker)
from tests.job_events import events_of as events

TASK = "studio.playground.tasks:train"


@pytest.fixture()
def registry(tmp_path):
    reg = JobRegistry(Settings(outputs_dir=tmp_path / "visitor"), mode="thread")
    yield reg
    reg.close()




def test_a_run_saves_its_weights_and_record_in_the_owners_folder(registry, tmp_path):
    job = registry.submit("alice", "playground", TASK, defaults_for("mlp", samples=200, epochs=3, patience=0))
    got = events(job)
    done = got[-1]
    assert isinstance(done, DoneEvent) and not done.stopped and done.step == done.result.steps > 0
    weights, record = (Path(p) for p in done.result.files)
    assert weights.name == "model.pt" and record.name == "record.json"
    assert (tmp_path / "visitor") in weights.parents  # run.settings.outputs_dir: the owner's own folder
    assert done.result.story and len(done.result.history) == 3
    assert any(isinstance(e, EvalEvent) and "boundary" in e.extras for e in got)


def test_a_diverged_run_fails_and_saves_nothing(registry, tmp_path, monkeypatch):
    real = datasets.make_dataset

    def poisoned(config):
        data = real(config)
        data.train.x[:] = float("inf")
        return data

    monkeypatch.setattr(datasets, "make_dataset", poisoned)
    last = events(registry.submit("bob", "playground", TASK, defaults_for("mlp", samples=200, epochs=3)))[-1]
    assert isinstance(last, ErrorEvent) and last.message.startswith("failed: diverged at step 1")
    assert not list((tmp_path / "visitor").glob("**/model.pt"))


def test_stop_keeps_the_best_model(registry):
    job = registry.submit("carol", "playground", TASK, defaults_for("mlp", samples=2000, epochs=2000, patience=0))
    got = []
    for batch in job.run.batches(0.05):
        got += batch
        if any(isinstance(e, EvalEvent) for e in got):
            registry.stop(job)
    done = got[-1]
    assert isinstance(done, DoneEvent) and done.stopped and done.result.stopped
    assert Path(done.result.files[0]).is_file() and done.result.summary["best_epoch"] >= 1


def test_warm_up_trains_a_tiny_network(registry):
    last = events(registry.submit("studio:warm-up", "playground", "studio.playground.tasks:warm", None))[-1]
    assert isinstance(last, DoneEvent) and last.result > 0
