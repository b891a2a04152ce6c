"""In Chromium: make a clip in the Audio tab, play it, see its waveform and spectrogram, have a bad setting
refused without losing the clip, and Stop a long one; a short clip shows no status line it does not need."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError, expect

pytestmark = pytest.mark.browser


def image_drawn(page, selector: str, timeout_ms: int = 5_000) -> bool:
    """The picture's file arrives and decodes within `timeout_ms` (an <img> that failed to load has no natural
    width); the status line may show before the browser has fetched the pictures it names."""
    try:
        page.wait_for_function("(s) => { const img = document.querySelector(s); "
                               "return img !== null && img.complete && img.naturalWidth > 0; }",
                               arg=selector, timeout=timeout_ms)
        return True
    except PlaywrightTimeoutError:
        return False


def test_make_a_clip_play_it_see_its_pictures_and_stop_a_long_one(studio_page, studio_settings):
    page = studio_page
    try:
        page.get_by_role("tab", name="Audio").click()
        page.locator("#audio-seconds input").fill("2")
        page.locator("#audio-seed input").fill("11")
        page.locator("#audio-prompt textarea").fill("a fast high melody")
        page.locator("#audio-generate").click()
        expect(page.locator("#audio-status")).to_contain_text("seed 11", timeout=90_000)
        for picture in ("#audio-waveform img", "#audio-spectrogram img"):
            expect(page.locator(picture)).to_be_visible()
            assert image_drawn(page, picture), f"{picture} did not load"
        waveform_src = page.locator("#audio-waveform img").get_attribute("src")
        # Play the clip: the player's button turns to Pause while the clip plays.
        page.locator("#audio-player button.play-pause-button").click()
        expect(page.locator("#audio-player button.play-pause-button[aria-label='Pause']")).to_be_attached(
            timeout=10_000)
        link = page.locator("#audio-downloads a[href]").first
        expect(link).to_be_attached()
        assert page.request.get(link.get_attribute("href")).body()[:4] == b"RIFF"

        # A refused click (seconds over the operator's limit): one toast naming the field, no error overlay on any
        # output, and the clip, its pictures, its status line and the form stay as they were.
        too_long = f"{studio_settings.max_audio_seconds + 1:g}"
        status_before = page.locator("#audio-status").inner_text()
        page.locator("#audio-seconds input").fill(too_long)
        page.locator("#audio-generate").click()
        toast = page.locator(".toast-body")
        expect(toast).to_have_count(1, timeout=20_000)
        expect(toast).to_contain_text("seconds")
        expect(toast).to_contain_text("max_audio_seconds")
        for output in ("#audio-status", "#audio-player", "#audio-waveform", "#audio-spectrogram", "#audio-plots",
                       "#audio-downloads"):
            assert page.locator(f"{output} .error").count() == 0, f"{output} shows an error overlay"
        assert page.locator("#audio-status").inner_text() == status_before
        assert page.locator("#audio-waveform img").get_attribute("src") == waveform_src
        assert image_drawn(page, "#audio-waveform img")
        expect(page.locator("#audio-seconds input")).to_have_value(too_long)
        expect(page.locator("#audio-prompt textarea")).to_have_value("a fast high melody")
        page.locator(".toast-body button, .toast-close").first.click()  # dismiss it before the next part

        # A long clip, stopped early: its progress shows in tokens, and the clip shown before stays.
        page.locator("#audio-seconds input").fill("30")
        page.locator("#audio-samples input").fill("4")
        page.locator("#audio-generate").click()
        expect(page.locator("#audio-status")).to_contain_text("tokens", timeout=60_000)
        page.locator("#audio-stop").click()
        expect(page.locator("#audio-status")).to_contain_text("Stopped", timeout=10_000)
        assert page.locator("#audio-waveform img").get_attribute("src") == waveform_src
        assert image_drawn(page, "#audio-waveform img")
    except Exception:
        page.screenshot(path="test-artifacts/audio-browser-failure.png", full_page=True)
        raise


# Every status line the page shows, in order (innerText snapshots of #audio-status after each change).
RECORD_STATUS = """() => {
  window.__statusLines = [];
  const status = document.querySelector('#audio-status');
  new MutationObserver(() => window.__statusLines.push(status.innerText))
    .observe(status, {subtree: true, childList: true, characterData: true});
}"""


def test_a_short_clip_on_a_loaded_model_goes_from_the_click_to_its_result_in_few_updates(studio_page):
    """Each line the page shows costs it a round of updates (issue 14): a loaded model starts without a
    "Starting..." line, and the last decoder step's line is not shown since the clip follows within milliseconds."""
    page = studio_page
    try:
        page.get_by_role("tab", name="Audio").click()
        page.locator("#audio-seconds input").fill("1")
        for seed in (21, 22):  # the first may load the model; the second finds it loaded
            page.locator("#audio-seed input").fill(str(seed))
            page.evaluate(RECORD_STATUS)
            page.locator("#audio-generate").click()
            expect(page.locator("#audio-status")).to_contain_text(f"seed {seed}", timeout=90_000)
        lines = page.evaluate("window.__statusLines")
        assert not any("Starting" in line for line in lines), lines
        finished = [line for line in lines if (m := re.search(r"(\d+) of (\d+) tokens", line)) and m[1] == m[2]]
        assert not finished, finished
        assert image_drawn(page, "#audio-waveform img")
    except Exception:
        page.screenshot(path="test-artifacts/audio-updates-failure.png", full_page=True)
        raise
