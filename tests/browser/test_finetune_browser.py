"""Layer 3: a person uploads a small JSONL in Chromium, trains, watches the loss plot move, stops and resumes;
the plot draws the training loss (not only eval points); a reload re-attaches to the running fine-tune; the first
loss curve is on the plot within seconds of Train."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LEGEND = "#ft-loss-plot .role-legend-label text, #ft-loss-plot g.role-legend text"
DRAWN = "sel => Array.from(document.querySelectorAll(sel)).map(e => e.getAttribute('d')).join('|')"
# Each run is a fresh process forked from the fork server, which has transformers, peft and the Trainer imported
# (studio/jobs/preload.py): the first loss curve (the training loss at steps 1 and 5; a lone point is drawn with
# zero length) came 0.8-2.5 s after Train on this 2-core machine under load; 10-13 s when every run imported them.
FIRST_CURVE_S = 4.0


def doubles(tmp_path, rows: int):
    data = tmp_path / "doubles.jsonl"
    data.write_text("".join(f'{{"prompt": "Double {a}?", "response": "{2 * a}"}}\n' for a in range(rows)))
    return data


def open_tab_and_upload(page, data, timeout_s: float = 10):
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-upload input[type=file]").set_input_files(str(data))
    expect(page.locator("#ft-upload")).to_contain_text("doubles.jsonl", timeout=timeout_s * 1000)


def open_tab_and_train(page, data):
    open_tab_and_upload(page, data)
    page.locator("#ft-train").click()


def legend(page) -> list[str]:
    return page.locator(LEGEND).all_inner_texts()


def test_upload_train_watch_the_loss_stop_and_resume(studio_page, request, tmp_path):
    page = studio_page
    # Enough rows for about 160 steps (3 epochs of batch 8), so there is time to watch, stop and resume.
    try:
        open_tab_and_train(page, doubles(tmp_path, 480))
        status = page.locator("#ft-status")
        expect(status).to_contain_text("steps/s", timeout=90_000)
        lines = "#ft-loss-plot g.mark-line path"
        expect(page.locator(lines).first).to_be_visible(timeout=60_000)
        # The training loss is drawn as a line of its own, beside the eval loss.
        page.wait_for_function(f"() => document.querySelectorAll('{lines}').length >= 2", timeout=60_000)
        expect(page.locator("#ft-loss-plot")).to_contain_text("train loss", timeout=30_000)
        expect(page.locator("#ft-loss-plot")).to_contain_text("eval loss")
        before = page.evaluate(f"({DRAWN})", lines)
        page.wait_for_function(f"([sel, before]) => ({DRAWN})(sel) !== before", arg=[lines, before], timeout=30_000)
        expect(status).to_contain_text("ETA", timeout=10_000)
        page.locator("#ft-stop").click()
        expect(status).to_contain_text("Stopped", timeout=30_000)
        stopped_at = int(re.search(r"at step (\d+)", status.inner_text()).group(1))
        assert stopped_at < 150  # 3 epochs are about 160 steps
        expect(page.locator("#ft-result")).to_contain_text("Resume")

        page.locator("#ft-resume").click()
        expect(status).to_contain_text("Done", timeout=240_000)
        done_at = int(re.search(r"at step (\d+)", status.inner_text()).group(1))
        assert done_at > stopped_at + 1  # the count went on from the checkpoint
        expect(page.locator("#ft-result")).to_contain_text("Text")
        expect(page.locator("#ft-loss-plot g.mark-line path").first).to_be_visible()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise


def test_a_reload_re_attaches_to_the_running_fine_tune(studio_page, request, tmp_path):
    page = studio_page
    try:
        open_tab_and_train(page, doubles(tmp_path, 2400))  # about 800 steps: still running after the reload
        status = page.locator("#ft-status")
        expect(status).to_contain_text("steps/s", timeout=90_000)
        run = re.search(r"\*?\*?(\d{8}-\d{6}-[0-9a-f]+)", status.inner_text()).group(1)

        page.reload()
        page.get_by_role("tab", name="Fine-tune").click()
        expect(page.locator("#ft-log textarea")).to_have_value(re.compile("Re-attached"), timeout=30_000)
        expect(status).to_contain_text(run, timeout=30_000)
        first = int(re.search(r"step (\d+)/", status.inner_text()).group(1))
        page.wait_for_function("([sel, first]) => { const m = document.querySelector(sel).innerText"
                               ".match(/step (\\d+)\\//); return m && +m[1] > first; }",
                               arg=["#ft-status", first], timeout=60_000)  # the training went on through the reload
        expect(page.locator("#ft-loss-plot g.mark-line path").first).to_be_visible(timeout=30_000)
        page.locator("#ft-stop").click()
        expect(status).to_contain_text("Stopped", timeout=30_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise


def test_the_first_loss_curve_is_on_the_plot_within_seconds_of_train(studio_page, request):
    page = studio_page
    try:
        page.get_by_role("tab", name="Fine-tune").click()
        page.locator("button.label-wrap:visible", has_text="Training").first.click()
        page.locator("#ft-max-steps input").fill("10")  # a short run: it ends on its own within seconds
        page.locator("#ft-check").click()  # a short job: the fork server is up (a server just started imports)
        expect(page.locator("#ft-status")).to_contain_text("Check: OK", timeout=90_000)
        # By the page's clock: the click on Train, then the first line of two points or more on the loss plot.
        page.evaluate("""() => {
          const t = window.__firstPoint = {click: null, point: null};
          document.addEventListener('click', e => { if (t.click === null && e.target.closest('#ft-train'))
            t.click = performance.now(); }, true);
          const tick = () => {
            if (t.click !== null && document.querySelector("#ft-loss-plot g.mark-line path[d*='L']")) {
              t.point = performance.now(); return; }
            requestAnimationFrame(tick); };
          requestAnimationFrame(tick);
        }""")
        page.locator("#ft-train").click()
        page.wait_for_function("() => window.__firstPoint.point !== null", timeout=90_000)
        seconds = page.evaluate("(window.__firstPoint.point - window.__firstPoint.click) / 1000")
        print(f"first loss curve {seconds:.2f} s after Train")
        assert seconds <= FIRST_CURVE_S, f"the first loss curve came {seconds:.2f} s after Train"
        expect(page.locator("#ft-status")).to_contain_text("Done", timeout=90_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise
