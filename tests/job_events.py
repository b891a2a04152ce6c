"""Reading a job to its end, as the tests of every task need to."""

import time


def events_of(job, timeout: float = 60, interval: float = 0.05) -> list:
    """Every event of `job` until its terminal one; fails the test if the job has not ended within `timeout`."""
    out, deadline = [], time.monotonic() + timeout
    for batch in job.run.batches(interval):
        out += batch
        assert time.monotonic() < deadline, "the job did not end"
    return out
