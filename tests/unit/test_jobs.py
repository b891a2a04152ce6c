"""The job registry with real worker processes: events, ownership, limits, stop (cooperative and firm), crashes."""

import os
import time

import pytest

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, ProgressEvent
from studio.jobs import JobRegistry, Limits
from studio.settings import Settings
from tests.job_events import events_of as events


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")




@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = JobRegistry(Settings(outputs_dir=tmp_path_factory.mktemp("out"), torch_threads=1), mode="process",
                      limits=Limits(max_jobs_per_owner=2, stop_grace_s=1.0, max_waiting=3))
    yield reg
    reg.close()


def test_events_come_back_from_another_process(registry):
    job = registry.submit("alice", "text", "tests.job_tasks:count", {"n": 5})
    got = events(job)
    assert [e.step for e in got if isinstance(e, ProgressEvent)] == [1, 2, 3, 4, 5]
    assert isinstance(got[-1], DoneEvent) and got[-1].result["counted"] == 5
    assert got[-1].result["pid"] != os.getpid() and job.state == "done"


def test_the_worker_stays_warm_between_jobs_and_training_gets_a_fresh_process(registry):
    first = events(registry.submit("alice", "text", "tests.job_tasks:pid", None))[-1].result
    second = events(registry.submit("alice", "text", "tests.job_tasks:pid", None))[-1].result
    assert first == second
    one = events(registry.submit("alice", "playground", "tests.job_tasks:pid", None))[-1].result
    two = events(registry.submit("alice", "playground", "tests.job_tasks:pid", None))[-1].result
    assert one != two


def test_a_studio_error_reaches_the_owner_as_its_message(registry):
    last = events(registry.submit("alice", "image", "tests.job_tasks:refuse", None))[-1]
    assert isinstance(last, ErrorEvent) and "steps" in last.message


def test_cooperative_stop(registry):
    job = registry.submit("alice", "audio", "tests.job_tasks:count", {"n": 1000, "sleep": 0.01})
    time.sleep(0.5)
    registry.stop(job)
    last = events(job)[-1]
    assert isinstance(last, DoneEvent) and last.stopped and job.state == "stopped"


def test_a_job_that_ignores_stop_is_killed_and_its_cpu_freed(registry):
    job = registry.submit("bob", "image", "tests.job_tasks:spin", {"seconds": 120})
    while job.state != "running":
        time.sleep(0.05)
    time.sleep(0.5)
    pid = job.pid
    started = time.monotonic()
    registry.stop(job)
    last = events(job)[-1]
    assert isinstance(last, DoneEvent) and last.stopped
    assert time.monotonic() - started < 2.5
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    # the replacement worker serves the next job
    assert isinstance(events(registry.submit("bob", "image", "tests.job_tasks:pid", None))[-1], DoneEvent)


def test_a_crash_tells_its_owner_and_the_worker_comes_back(registry):
    last = events(registry.submit("carol", "audio", "tests.job_tasks:crash", None))[-1]
    assert isinstance(last, ErrorEvent) and "stopped unexpectedly" in last.message
    assert isinstance(events(registry.submit("carol", "audio", "tests.job_tasks:pid", None))[-1], DoneEvent)


def test_one_owner_cannot_hold_more_than_the_limit_and_others_are_served(registry):
    a = registry.submit("hog", "text", "tests.job_tasks:count", {"n": 200, "sleep": 0.01})
    b = registry.submit("hog", "text", "tests.job_tasks:count", {"n": 200, "sleep": 0.01})
    with pytest.raises(StudioError, match="limit is 2 per visitor"):
        registry.submit("hog", "text", "tests.job_tasks:count", {"n": 1})
    other = registry.submit("dave", "text", "tests.job_tasks:count", {"n": 1})
    assert registry.position(other) in (1, 2)
    registry.stop_owner("hog")
    assert isinstance(events(other)[-1], DoneEvent)
    events(a), events(b)


def test_jobs_belong_to_their_owner(registry):
    job = registry.submit("erin", "text", "tests.job_tasks:count", {"n": 50, "sleep": 0.02})
    assert registry.get(job.id, owner="mallory") is None
    assert registry.attach("mallory", "text") is None
    assert registry.attach("erin", "text") is job
    assert all(j["owner"] == "erin" for j in registry.jobs(owner="erin"))
    events(job)


def test_memory_cap_kills_only_the_hungry_job(tmp_path):
    reg = JobRegistry(Settings(outputs_dir=tmp_path, torch_threads=1), mode="process",
                      limits=Limits(worker_memory_bytes=600 * 2**20))
    try:
        last = events(reg.submit("greedy", "image", "tests.job_tasks:hog", {"blocks": 16}), timeout=30)[-1]
        assert isinstance(last, ErrorEvent) and "memory" in last.message
    finally:
        reg.close()


def test_thread_mode_runs_the_same_tasks_in_process(tmp_path):
    reg = JobRegistry(Settings(outputs_dir=tmp_path), mode="thread")
    last = events(reg.submit("cli", "text", "tests.job_tasks:count", {"n": 3}))[-1]
    assert last.result["pid"] == os.getpid() and last.result["counted"] == 3
    reg.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A text worker that holds up to three jobs at once (the text worker batches the jobs it holds)."""
    reg = JobRegistry(Settings(outputs_dir=tmp_path_factory.mktemp("shared"), torch_threads=1), mode="process",
                      limits=Limits(max_jobs_per_owner=4, stop_grace_s=1.0), capacities={"text": 3})
    yield reg
    reg.close()


def test_a_worker_with_capacity_runs_jobs_side_by_side_and_stops_one_alone(shared):
    jobs = [shared.submit(owner, "text", "tests.job_tasks:count", {"n": 40, "sleep": 0.05})
            for owner in ("alice", "bob", "carol")]
    time.sleep(0.6)
    assert [j.state for j in jobs] == ["running"] * 3  # none waits for another
    assert len({j.pid for j in jobs}) == 1  # in one process (one copy of the model)
    shared.stop(jobs[1])
    stopped = events(jobs[1])[-1]
    assert isinstance(stopped, DoneEvent) and stopped.stopped
    assert not jobs[0].ended and not jobs[2].ended  # the others go on
    for job in (jobs[0], jobs[2]):
        last = events(job)[-1]
        assert isinstance(last, DoneEvent) and not last.stopped and last.result["counted"] == 40


def test_killing_a_shared_worker_tells_the_bystanders_why(shared):
    stubborn = shared.submit("dave", "text", "tests.job_tasks:spin", {"seconds": 120})
    bystander = shared.submit("erin", "text", "tests.job_tasks:count", {"n": 1000, "sleep": 0.05})
    while stubborn.state != "running" or bystander.state != "running":
        time.sleep(0.05)
    shared.stop(stubborn)
    assert events(stubborn)[-1].stopped
    last = events(bystander)[-1]
    assert isinstance(last, ErrorEvent) and "another job" in last.message and "try again" in last.message
    assert isinstance(events(shared.submit("erin", "text", "tests.job_tasks:pid", None))[-1], DoneEvent)


def test_every_fresh_training_worker_prepares_itself_before_its_job(tmp_path):
    reg = JobRegistry(Settings(outputs_dir=tmp_path, torch_threads=1), mode="process")
    try:
        reg.prepare_with("playground", "tests.job_tasks:prepare")
        runs = [events(reg.submit("alice", "playground", "tests.job_tasks:prepared", None)) for _ in range(2)]
        results = [got[-1].result for got in runs]
        assert all(r["prepared_in"] == r["pid"] for r in results)  # prepared in the very process that ran the job
        assert results[0]["pid"] != results[1]["pid"]  # and each run had a fresh one
        assert not any(isinstance(e, ProgressEvent) for got in runs for e in got)  # the prepare's events go nowhere
        reg.prepare_with("finetune", "tests.job_tasks:prepare_fails")  # a broken prepare costs only its log line
        last = events(reg.submit("alice", "finetune", "tests.job_tasks:prepared", None))[-1]
        assert isinstance(last, DoneEvent) and last.result["prepared_in"] is None
    finally:
        reg.close()
