"""The Text tab in Chromium: a chat that sends on Enter, a long stream the page keeps up with, Stop, Clear, and the
Backend choice (the local model's fields hidden while another server answers, an unreachable one named)."""

import contextlib
import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROMPT = "#text-prompt textarea"


def set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(value)
    box.press("Enter")


@contextlib.contextmanager
def screenshot_on_failure(page, tmp_path, name):
    try:
        yield
    except Exception:
        with contextlib.suppress(Exception):  # the screenshot must not hide the failure
            page.screenshot(path=str(tmp_path / f"{name}.png"), timeout=5_000)
        raise


def test_chat_sends_on_enter_keeps_shift_enter_and_clear_empties_it(studio_page, tmp_path):
    page = studio_page
    with screenshot_on_failure(page, tmp_path, "text-chat"):
        page.get_by_role("tab", name="Text").click()
        page.locator("#text-chat-mode input").check()
        page.locator("#text-greedy input").check()
        prompt = page.locator(PROMPT)
        prompt.fill("What is the capital")
        prompt.press("Shift+Enter")  # a new line, not a send
        assert prompt.input_value() == "What is the capital\n"
        prompt.fill("What is the capital of France?")
        prompt.press("Enter")
        chatbot = page.locator("#text-chatbot")
        expect(chatbot).to_contain_text("The capital of France is Paris.", timeout=60_000)
        expect(chatbot).to_contain_text("What is the capital of France?")
        expect(prompt).to_have_value("")  # cleared after sending
        expect(page.locator("#text-stats")).to_contain_text("from the click")
        page.locator("#text-clear").click()
        expect(chatbot).not_to_contain_text("Paris")
        expect(page.locator("#text-answer textarea")).to_have_value("")


def stream_and_measure(page, stats, sent, answers: int):
    """Stream eight answers (~4,000 characters) and return (lag of each server update on the page, long tasks)."""
    page.evaluate("""() => {
        window.seen = [];
        const box = () => document.querySelector('#text-answer textarea');
        window.watch = setInterval(() => window.seen.push([Date.now() / 1000, box().value.length]), 20);
        window.longtasks = [];
        new PerformanceObserver(list => list.getEntries().forEach(e => window.longtasks.push(e.duration)))
            .observe({entryTypes: ['longtask']});
    }""")
    page.locator("#text-generate").click()
    if answers > 1:  # the previous run's stats said the same: wait until this run has replaced them
        expect(stats).not_to_contain_text("#8 (seed 7)", timeout=30_000)
    expect(stats).to_contain_text("#8 (seed 7)", timeout=120_000)  # all eight answers are in
    seen = page.evaluate("() => { clearInterval(window.watch); return window.seen; }")
    busy = page.evaluate("() => window.longtasks")  # main-thread tasks over 50 ms
    assert len(sent) >= 10 and sent[-1][1] > 4000, sent[-1]
    lags = []
    for when, length in sent:
        shown = next((t for t, n in seen if n >= length and t >= when - 0.05), None)
        if shown is not None:
            lags.append(shown - when)
    assert len(lags) >= len(sent) - 2  # the last update may be replaced by the final one before it shows
    return lags, busy


def test_a_long_stream_never_leaves_the_page_behind_and_stop_ends_it(studio_page, tmp_path, monkeypatch):
    """~4,000 characters stream in and each text the server sends is on the page within 0.3 s; then a second
    answer is stopped and no text comes 0.5 s after the click."""
    from studio.ui import text as text_tab

    sent: list[tuple[float, int]] = []  # (server time, characters of the answer) as the page handler sends them
    original = text_tab.TextView.update

    def stamped(self, events):
        update = original(self, events)
        if update is not None and isinstance(update[0], str):
            sent.append((time.time(), len(update[0])))
        return update

    monkeypatch.setattr(text_tab.TextView, "update", stamped)
    page = studio_page
    stats = page.locator("#text-stats")
    with screenshot_on_failure(page, tmp_path, "text-long-stream"):
        page.get_by_role("tab", name="Text").click()
        set_number(page, "text-max-new-tokens", "240")
        set_number(page, "text-num-sequences", "8")
        page.locator("#text-ignore-eos input").check()
        page.locator(PROMPT).fill("Once upon a time")
        # A 2-core machine running other work can stall one frame now and then; the page keeping up is a
        # property of the page, so a run spoiled by long tasks on the machine is measured once more.
        for attempt in range(2):
            sent.clear()
            lags, busy = stream_and_measure(page, stats, sent, answers=attempt + 1)
            if max(lags) <= 0.3:
                break
        assert max(lags) <= 0.3, (f"page behind by up to {max(lags):.2f} s; the page's main thread was busy "
                                  f"{sum(busy) / 1000:.1f} s in {len(busy)} long tasks (a loaded machine shows here)")
        rate = (len(sent) - 1) / (sent[-1][0] - sent[0][0])
        assert rate <= 11, f"{rate:.1f} updates a second; the page should get at most ~10"

        page.locator("#text-generate").click()
        expect(stats).to_contain_text("Generating", timeout=30_000)
        page.wait_for_function("() => document.querySelector('#text-answer textarea').value.length > 300",
                               timeout=30_000)
        page.evaluate("""() => {
            window.seen = [];
            window.watch = setInterval(() => window.seen.push(
                [Date.now() / 1000, document.querySelector('#text-answer textarea').value.length]), 20);
        }""")
        stop_at = time.time()
        page.locator("#text-stop").click()
        expect(stats).to_contain_text("stop: stopped", timeout=10_000)
        stopped_in = time.time() - stop_at
        seen = page.evaluate("() => { clearInterval(window.watch); return window.seen; }")
        at_stop = seen[0][1]
        grew = [t for t, n in seen if n > at_stop]
        assert not grew or grew[-1] - stop_at <= 0.5, f"text still came {grew[-1] - stop_at:.2f} s after Stop"
        assert stopped_in <= 1.5, f"the stopped answer took {stopped_in:.2f} s to show"


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_the_backend_choice_swaps_the_model_fields_and_an_unreachable_server_is_named(studio_page, tmp_path,
                                                                                      monkeypatch):
    """Backend lists the servers the operator allows (read when the page loads); choosing one hides what applies
    to this studio's model only (model, card, precision, top-k, repetition penalty) and asks for the model's name
    there; a server that does not answer is one toast naming its address; local brings the model fields back."""
    from studio.text import remote
    from tests.app.conftest import free_port

    page = studio_page
    backend, backend_model = page.locator("#text-backend"), page.locator("#text-backend-model")
    local_only = ["#text-model", "#text-custom-model", "#text-model-card", "#text-precision", "#text-quant-type",
                  "#text-double-quant", "#text-top-k", "#text-repetition-penalty"]
    with screenshot_on_failure(page, tmp_path, "text-backend"):
        monkeypatch.delenv(remote.ENV_BACKENDS, raising=False)
        page.get_by_role("tab", name="Text").click()
        expect(backend).to_contain_text("none allowed here")
        expect(backend).to_contain_text(remote.ENV_BACKENDS)

        closed = f"http://127.0.0.1:{free_port()}/v1"  # allowed by the operator, but nothing listens there
        monkeypatch.setenv(remote.ENV_BACKENDS, closed)
        page.reload()
        page.get_by_role("tab", name="Text").click()
        expect(backend).to_contain_text("another OpenAI-compatible server answers instead")
        for shown in local_only:
            expect(page.locator(shown)).to_be_visible()
        expect(backend_model).to_be_hidden()

        choose(page, "text-backend", closed)
        expect(backend_model).to_be_visible()
        for hidden in local_only:  # this studio's model, its loading and top-k/repetition penalty: not sent there
            expect(page.locator(hidden)).to_be_hidden()
        for shown in ("#text-temperature", "#text-top-p", "#text-seed", "#text-stop-sequences"):  # these are sent
            expect(page.locator(shown)).to_be_visible()

        backend_model.locator("input, textarea").first.fill("embedded/text-tiny")
        page.locator(PROMPT).fill("Once upon a time")
        page.locator("#text-generate").click()
        toast = page.locator(".toast-body").filter(has_text="Could not reach")
        expect(toast).to_be_visible(timeout=30_000)
        expect(toast).to_contain_text(f"the OpenAI-compatible server at {closed}: check that it is running")
        # The job's failure stays on its status line once the toast has gone.
        expect(page.locator("#text-stats")).to_contain_text(f"Failed: Could not reach the OpenAI-compatible server")
        expect(page.locator("#text-answer textarea")).to_have_value("")

        choose(page, "text-backend", remote.LOCAL)
        for shown in local_only:
            expect(page.locator(shown)).to_be_visible()
        expect(backend_model).to_be_hidden()
