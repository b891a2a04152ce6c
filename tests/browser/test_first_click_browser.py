"""The first click on a freshly started studio shows progress within a second, then its result (issue 14).

This module starts its own studio with `python app.py` (the page first, then
the workers and their warm-up in the background) instead of using the shared
server, which earlier tests have warmed. Each tab's workers are its own,
so one fresh server serves every tab's first click: a tab adds a `FirstClick`
to `TABS` (its tab label, what to fill, the button, the element whose text
shows progress, and the element that shows the result) and is tested once. A
test here must click only its own tab's button, never another tab's.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIRST_PROGRESS_S = 1.0


@dataclass(frozen=True)
class FirstClick:
    tab: str  # the tab's label
    button: str  # CSS selector of the button under test
    status: str  # CSS selector of the job's status line, where its progress shows
    result: str  # CSS selector that becomes visible when the result is on the page
    fill: dict = field(default_factory=dict)  # CSS selector of an input -> text typed before the click
    result_timeout_s: float = 120.0


TABS = [
    FirstClick("Playground", "#pg-train", "#pg-stats", "#pg-stats:has-text('epoch')"),
    FirstClick("Text", "#text-generate", "#text-stats", "#text-stats:has-text('tokens/s')",
               fill={"#text-prompt textarea": "Once upon a time"}),
    FirstClick("Image", "#image-generate", "#image-status", "#image-gallery img",
               fill={"#image-steps input": "3", "#image-seed input": "5"}),
    FirstClick("Audio", "#audio-generate", "#audio-status", "#audio-waveform img",
               fill={"#audio-seconds input": "1", "#audio-seed input": "5"}),
    # Fine-tune's first visible result is the first loss curve on the plot: a series' second point (Gradio's
    # LinePlot draws a lone point as a path of zero length).
    FirstClick("Fine-tune", "#ft-train", "#ft-status", "#ft-loss-plot g.mark-line path[d*='L']"),
]


@pytest.fixture(scope="module")
def fresh_url(tmp_path_factory):
    """`python app.py` in a process of its own (page first, then workers and warm-up); no click has warmed it."""
    from tests.app.conftest import free_port

    port = free_port()
    env = os.environ | {"GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
                        "STUDIO_OUTPUTS_DIR": str(tmp_path_factory.mktemp("first-click-out"))}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "app.py did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # app.py closes its workers on Ctrl+C
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture()
def fresh_page(page, fresh_url):
    page.set_default_timeout(30_000)
    page.goto(fresh_url)
    page.wait_for_selector(".tabs", timeout=30_000)
    return page


def first_click(page, spec: FirstClick) -> tuple[float, float]:
    """Click once; (seconds to the first visible change of the status element, seconds to the result)."""
    page.get_by_role("tab", name=spec.tab).click()
    for selector, text in spec.fill.items():
        page.locator(selector).fill(text)
    status = page.locator(spec.status)
    before = status.inner_text()
    # The line's first new text, caught by an observer set before the click (a poll after it could miss a
    # word the server's first answer replaces within a frame).
    page.evaluate("""([sel, before]) => {
      window.__firstText = null;
      const line = document.querySelector(sel);
      const observer = new MutationObserver(() => {
        const now = line.innerText;
        if (window.__firstText === null && now !== before) { window.__firstText = now; observer.disconnect(); }
      });
      observer.observe(line, {subtree: true, childList: true, characterData: true, attributes: true});
    }""", [spec.status, before])
    start = time.monotonic()
    page.locator(spec.button).click()
    first_text = page.wait_for_function("() => window.__firstText", polling="raf", timeout=30_000).json_value()
    progress_s = time.monotonic() - start
    # The page itself says so at the click (`relay.job_event`), before the server has the request, on a line
    # tall enough to be seen.
    assert "Working" in first_text, f"{spec.tab}: the status line first said {first_text!r}"
    assert status.bounding_box()["height"] >= 36, f"{spec.tab}: the status line is too low to show progress"
    expect(page.locator(spec.result).first).to_be_visible(timeout=spec.result_timeout_s * 1000)
    return progress_s, time.monotonic() - start


@pytest.mark.parametrize("spec", TABS, ids=[t.tab for t in TABS])
def test_the_first_click_shows_progress_within_a_second_then_the_result(fresh_page, spec):
    try:
        progress_s, result_s = first_click(fresh_page, spec)
    except Exception:
        fresh_page.screenshot(path=f"test-artifacts/first-click-{spec.tab}-failure.png", full_page=True)
        raise
    print(f"{spec.tab}: first progress {progress_s:.2f} s, result {result_s:.2f} s")
    assert progress_s <= FIRST_PROGRESS_S, f"{spec.tab}: nothing visible for {progress_s:.2f} s after the click"
