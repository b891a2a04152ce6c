"""The studio's warm-up in the background: it never starts while a visitor's job waits or runs."""

import time

from studio.jobs import JobRegistry
from studio.settings import Settings
from studio.ui.context import Studio


def warm_ups(studio) -> list[dict]:
    return [j for j in studio.jobs.jobs() if j["owner"] == "studio:warm-up"]


def test_the_next_warm_up_waits_for_a_visitors_job_then_runs(tmp_path):
    settings = Settings(outputs_dir=tmp_path, torch_threads=1)
    studio = Studio(settings, JobRegistry(settings, mode="thread"))
    studio.warm_tasks = {"text": "tests.job_tasks:pid", "audio": "tests.job_tasks:pid"}
    try:
        visitor = studio.jobs.submit("a visitor", "image", "tests.job_tasks:count", {"n": 40, "sleep": 0.02})
        assert studio.jobs.visitor_jobs() == 1
        warming = studio.warm()
        time.sleep(0.4)
        assert not visitor.ended and warm_ups(studio) == []  # the visitor's work has the machine to itself
        warming.join(10)
        assert visitor.ended and studio.jobs.visitor_jobs() == 0
        assert sorted(j["kind"] for j in warm_ups(studio)) == ["audio", "text"]
        assert all(j["created"] >= visitor.ended_at for j in warm_ups(studio))
    finally:
        studio.close()
