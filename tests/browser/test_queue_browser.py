"""Layer 3: two visitors, one fine-tune worker. The second visitor's status line says where their run waits, and
their run starts on its own once the first visitor's run is stopped."""

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS
from .test_finetune_browser import doubles, open_tab_and_upload

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_second_visitors_run_says_it_waits_then_starts_when_the_first_is_stopped(
        studio_page, browser, studio_url, request, tmp_path):
    first = studio_page
    second = browser.new_context().new_page()  # another visitor: a cookie and a session of its own
    second.set_default_timeout(20_000)
    pages = {"first": first, "second": second}
    try:
        second.goto(studio_url)
        second.wait_for_selector(".tabs", timeout=30_000)
        data = doubles(tmp_path, 2400)  # about 800 steps: still running while the second visitor waits
        for page in pages.values():  # both forms filled before any training takes the two cores
            open_tab_and_upload(page, data, timeout_s=30)
        first.locator("#ft-train").click()
        expect(first.locator("#ft-status")).to_contain_text("steps/s", timeout=90_000)

        second.locator("#ft-train").click()
        waiting = second.locator("#ft-status")
        expect(waiting).to_contain_text("Waiting for the finetune worker: you are next.", timeout=30_000)
        expect(second.locator(".toast-body.error")).to_have_count(0)

        first.locator("#ft-stop").click()
        expect(first.locator("#ft-status")).to_contain_text("Stopped", timeout=30_000)
        expect(waiting).to_contain_text("steps/s", timeout=90_000)  # the waiting run started on its own
        assert "Waiting for" not in waiting.inner_text()
        second.locator("#ft-stop").click()
        expect(waiting).to_contain_text("Stopped", timeout=30_000)
    except Exception:
        for name, page in pages.items():
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"), full_page=True)
        raise
    finally:
        second.context.close()
