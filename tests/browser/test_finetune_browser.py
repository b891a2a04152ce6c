"""Layer 3: a person uploads a small JSONL in Chromium, trains, watches the loss plot move, stops and resumes."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_upload_train_watch_the_loss_stop_and_resume(studio_page, request, tmp_path):
    page = studio_page
    data = tmp_path / "doubles.jsonl"
    # Enough rows for about 160 steps (3 epochs of batch 8), so there is time to watch, stop and resume.
    data.write_text("".join(f'{{"prompt": "Double {a}?", "response": "{2 * a}"}}\n' for a in range(480)))
    try:
        page.get_by_role("tab", name="Fine-tune").click()
        page.locator("#ft-upload input[type=file]").set_input_files(str(data))
        expect(page.locator("#ft-upload")).to_contain_text("doubles.jsonl", timeout=10_000)
        page.locator("#ft-train").click()
        status = page.locator("#ft-status")
        expect(status).to_contain_text("steps/s", timeout=60_000)
        lines = "#ft-loss-plot g.mark-line path"
        expect(page.locator(lines).first).to_be_visible(timeout=60_000)
        # Some series (eval loss, stage marks) change rarely: watch all the curves together grow.
        drawn = "sel => Array.from(document.querySelectorAll(sel)).map(e => e.getAttribute('d')).join('|')"
        before = page.evaluate(f"({drawn})", lines)
        page.wait_for_function(f"([sel, before]) => ({drawn})(sel) !== before", arg=[lines, before], timeout=30_000)
        page.locator("#ft-stop").click()
        expect(status).to_contain_text("Stopped", timeout=20_000)
        stopped_at = int(re.search(r"at step (\d+)", status.inner_text()).group(1))
        assert stopped_at < 150  # 3 epochs are about 160 steps
        expect(page.locator("#ft-result")).to_contain_text("Resume")

        page.locator("#ft-resume").click()
        expect(status).to_contain_text("Done", timeout=120_000)
        done_at = int(re.search(r"at step (\d+)", status.inner_text()).group(1))
        assert done_at > stopped_at + 1  # the count went on from the checkpoint
        expect(page.locator("#ft-result")).to_contain_text("Text")
        expect(page.locator("#ft-loss-plot g.mark-line path").first).to_be_visible()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise
