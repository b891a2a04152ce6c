import time

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, LogEvent, StepEvent, start_run


def test_stream_ends_with_done_and_carries_the_result():
    def work(run):
        for i in range(5):
            run.emit(StepEvent(i + 1, 5, 0.0, 1.0 / (i + 1)))
        return "result"

    events = list(start_run(work))
    assert [type(e) for e in events] == [StepEvent] * 5 + [DoneEvent]
    assert events[-1].result == "result" and not events[-1].stopped


def test_stop_flag_reaches_the_worker():
    def work(run):
        while not run.should_stop:
            time.sleep(0.001)
        return "stopped"

    run = start_run(work)
    run.request_stop()
    done = list(run)[-1]
    assert isinstance(done, DoneEvent) and done.stopped


def test_errors_become_safe_messages():
    def user_mistake(run):
        raise StudioError("the file has no text column")

    def bug(run):
        raise KeyError("/secret/path")

    assert list(start_run(user_mistake))[-1] == ErrorEvent("the file has no text column")
    last = list(start_run(bug, name="training"))[-1]
    assert isinstance(last, ErrorEvent) and "/secret/path" not in last.message and "KeyError" in last.message


def test_batches_group_fast_events():
    def work(run):
        for i in range(1000):
            run.emit(LogEvent(i, "x"))
        return None

    batches = list(start_run(work).batches(0.2))
    assert sum(len(b) for b in batches) == 1001
    assert len(batches) < 20 and isinstance(batches[-1][-1], DoneEvent)
