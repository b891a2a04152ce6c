"""The one relay from a job's events to page updates: progress, the end, failures, and a page that goes away."""

import json
import time

import gradio as gr
import pytest

from studio.errors import StudioError
from studio.events import ProgressEvent
from studio.jobs import JobRegistry, Limits
from studio.settings import Settings
from studio.ui.context import Studio
from studio.ui.relay import WORKING, JobView, job_event, relay


class Recorder(JobView):
    outputs = 2

    def __init__(self):
        self.steps, self.waits = [], []

    def waiting(self, position, kind):
        self.waits.append(position)
        return ("waiting", position)

    def update(self, events):
        self.steps += [e.step for e in events if isinstance(e, ProgressEvent)]
        return ("step", self.steps[-1])

    def done(self, event):
        return ("done", event.result["counted"] if event.result else None)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    settings = Settings(outputs_dir=tmp_path_factory.mktemp("relay"), torch_threads=1)
    s = Studio(settings, JobRegistry(settings, mode="process", limits=Limits(stop_grace_s=0.5, max_jobs_per_owner=4)))
    yield s
    s.close()


def test_progress_then_one_final_update(studio):
    job = studio.jobs.submit("a", "text", "tests.job_tasks:count", {"n": 20, "sleep": 0.01})
    view = Recorder()
    updates = [u for u in relay(studio, job, view, interval=0.05) if u[0] != "waiting"]
    assert updates[-1] == ("done", 20)
    assert view.steps == list(range(1, 21))  # every event reaches the view once, in order
    assert len(updates) < 20  # grouped into batches, not one page update per event


def test_a_failure_becomes_the_jobs_message(studio):
    job = studio.jobs.submit("a", "image", "tests.job_tasks:refuse", None)
    with pytest.raises(StudioError, match="steps: 0 is not valid"):
        list(relay(studio, job, Recorder()))


def test_waiting_shows_the_queue_position(studio):
    first = studio.jobs.submit("b", "audio", "tests.job_tasks:count", {"n": 30, "sleep": 0.02})
    second = studio.jobs.submit("c", "audio", "tests.job_tasks:count", {"n": 1})
    view = Recorder()
    list(relay(studio, second, view))
    assert view.waits and view.waits[0] >= 1
    list(relay(studio, first, Recorder()))


def test_a_page_that_goes_away_stops_its_job(studio):
    job = studio.jobs.submit("d", "text", "tests.job_tasks:count", {"n": 100_000, "sleep": 0.01})
    updates = relay(studio, job, Recorder(), interval=0.05)
    next(u for u in updates if u[0] == "step")
    updates.close()  # what Gradio does when the visitor closes the page or cancels
    deadline = time.monotonic() + 3
    while not job.ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state == "stopped"


def test_a_silent_job_still_gives_the_page_a_heartbeat(studio):
    job = studio.jobs.submit("e", "image", "tests.job_tasks:spin", {"seconds": 2})
    started = time.monotonic()
    updates = relay(studio, job, Recorder(), heartbeat=0.3)
    first = next(u for u in updates if u[0] != "waiting")
    assert time.monotonic() - started < 1.5
    assert first == (gr.skip(), gr.skip())  # a no-op update for both outputs: nothing on the page changes
    updates.close()


def test_a_training_can_outlive_its_page(studio):
    job = studio.jobs.submit("f", "finetune", "tests.job_tasks:count", {"n": 200, "sleep": 0.01})
    updates = relay(studio, job, Recorder(), interval=0.05, stop_on_leave=False)
    next(u for u in updates if u[0] == "step")
    updates.close()
    time.sleep(0.5)
    assert job.state == "running"
    studio.jobs.stop(job)


def test_a_second_reader_gets_every_later_event_without_taking_the_firsts(studio):
    job = studio.jobs.submit("g", "text", "tests.job_tasks:count", {"n": 30, "sleep": 0.02})
    second = job.follow()
    first_view, second_view = Recorder(), Recorder()
    import threading

    t = threading.Thread(target=lambda: list(relay(studio, job, first_view, interval=0.05)))
    t.start()
    last = list(relay(studio, job, second_view, interval=0.05, events=second))[-1]
    t.join()
    assert last == ("done", 30) and first_view.steps == list(range(1, 31))
    assert second_view.steps and second_view.steps[-1] == 30
    assert list(relay(studio, job, Recorder(), events=job.follow()))[-1] == ("done", 30)  # after the end too


class LateStart:
    """A job that leaves the queue after `delay` seconds and ends at once (what a pool does, in miniature)."""

    kind, ended = "image", False

    def __init__(self, delay: float):
        import threading

        from studio.events import DoneEvent, Run

        self.state, self.run = "queued", Run("late")

        def start():
            time.sleep(delay)
            self.state = "running"
            self.run.emit(DoneEvent(step=1, result={"counted": 1}))

        threading.Thread(target=start, daemon=True).start()


class OneAhead:
    class jobs:
        @staticmethod
        def position(job):
            return 1


@pytest.mark.parametrize("delay, says_position", [(0.03, False), (0.5, True)])
def test_a_job_that_starts_at_once_is_not_announced_as_waiting(delay, says_position):
    view = Recorder()
    assert list(relay(OneAhead, LateStart(delay), view))[-1] == ("done", 1)
    assert bool(view.waits) is says_position  # "you are next" only for a job that still waits after a moment


class StatusLine(JobView):
    """A view whose second output is the job's status line, with the relay's own words on it."""

    outputs, status_at = 2, 1

    def update(self, events):
        return ("step", f"step {events[-1].step}")

    def done(self, event):
        return ("done", "finished")


def test_a_failure_shows_on_the_status_line_escaped_then_raises(studio):
    job = studio.jobs.submit("j", "image", "tests.job_tasks:refuse", None)
    updates = relay(studio, job, StatusLine())
    assert next(updates) == (gr.skip(), "**Failed:** steps: 0 is not valid; use at least 1.")
    with pytest.raises(StudioError, match="steps: 0 is not valid"):
        next(updates)
    assert StatusLine().failed("<b>bad</b> model")[1] == "**Failed:** &lt;b&gt;bad&lt;/b&gt; model"


def test_a_job_event_sets_its_status_line_in_the_page_first_and_puts_it_back_on_a_refusal():
    """Gradio runs a trigger's events in the order they were registered, page-only ones at once: the line's
    change must come before the request, and its repair only after a failure (in a browser:
    tests/browser/test_first_click_browser.py and the refused clicks of the Audio and Image tests)."""
    with gr.Blocks() as demo:
        status, answer = gr.Markdown(elem_id="some-status"), gr.Textbox()
        button = gr.Button()
        job_event([button.click], lambda: None, None, [answer, status], status, api_name="the_job")
    deps = demo.get_config_file()["dependencies"]
    first, job, repair = deps
    assert job["api_name"] == "the_job" and job["backend_fn"]
    for page_only in (first, repair):
        assert not page_only["backend_fn"] and page_only["queue"] is False and page_only["outputs"] == [status._id]
    assert first["targets"] == job["targets"] == [(button._id, "click")]
    assert json.dumps(WORKING) in first["js"] and '"some-status"' in first["js"]
    assert repair["trigger_after"] == job["id"] and repair["trigger_only_on_failure"]
    assert json.dumps(WORKING) in repair["js"] and '"some-status"' in repair["js"]
