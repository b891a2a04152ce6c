"""The Text tab in Chromium: an answer streams into the page, and Stop ends a long one, keeping its text."""

import contextlib

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_streams_an_answer_then_stops_a_long_one(studio_page, tmp_path):
    page = studio_page
    try:
        page.get_by_role("tab", name="Text").click()
        answer = page.locator("#text-answer textarea")
        stats = page.locator("#text-stats")

        page.locator("#text-prompt textarea").fill("Once upon a time")
        page.locator("#text-generate").click()
        expect(stats).to_contain_text("stop:", timeout=60_000)
        assert "there was" in answer.input_value()

        page.locator("#text-max-new-tokens input[type=number]").fill("1000")
        page.locator("#text-max-new-tokens input[type=number]").press("Enter")
        page.locator("#text-ignore-eos input").check()
        page.locator("#text-generate").click()
        expect(stats).to_contain_text("Generating", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#text-answer textarea').value.length > 40", timeout=30_000
        )
        page.locator("#text-stop").click()
        expect(stats).to_contain_text("stop: stopped", timeout=15_000)
        assert len(answer.input_value()) > 40
    except Exception:
        with contextlib.suppress(Exception):  # the screenshot must not hide the failure
            page.screenshot(path=str(tmp_path / "text-browser-failure.png"), timeout=5_000)
        raise
