"""Reading a job to its end, as the tests of every task need to."""

import time


def events_of(job, timeout: float = 60, interval: float = 0.05) -> list:
    """Every event of `job` until its terminal one; fails the test if the job has not ended within `timeout`."""
    out, deadline = [], time.monotonic() + timeout
    for batch in job.run.batches(interval):
        out += batch
        assert time.monotonic() < deadline, "the job did not end"
    return out


class FakeRun:
    """What a worker hands a task (settings, emit, should_stop), for calling a task directly in a test."""

    def __init__(self, settings):
        import threading

        self.settings, self.events, self._stop = settings, [], threading.Event()

    def emit(self, event):
        self.events.append(event)

    @property
    def should_stop(self):
        return self._stop.is_set()

    def request_stop(self):
        self._stop.set()
