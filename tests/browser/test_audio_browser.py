"""In Chromium: make a clip in the Audio tab, play it, and see its mel spectrogram."""

import pytest
from playwright.sync_api import expect

from tests.audio_models import build_tiny_musicgen

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(build_tiny_musicgen(tmp_path_factory.mktemp("browser-audio") / "mono"))


def test_make_a_clip_play_it_and_see_the_spectrogram(studio_page, tiny_model):
    page = studio_page
    try:
        page.get_by_role("tab", name="Audio").click()
        page.locator("#audio-custom-model textarea, #audio-custom-model input").first.fill(tiny_model)
        page.locator("#audio-seconds input").fill("2")
        page.locator("#audio-seed input").fill("11")
        page.locator("#audio-prompt textarea").fill("a fast high melody")
        page.locator("#audio-generate").click()
        expect(page.locator("#audio-status")).to_contain_text("seed 11", timeout=90_000)
        expect(page.locator("#audio-spectrogram img")).to_be_visible()
        expect(page.locator("#audio-waveform img")).to_be_visible()
        # Play the clip: the player's button turns to Pause while the clip plays.
        page.locator("#audio-player button.play-pause-button").click()
        expect(page.locator("#audio-player button.play-pause-button[aria-label='Pause']")).to_be_attached(
            timeout=10_000)
        link = page.locator("#audio-downloads a[href]").first
        expect(link).to_be_attached()
        assert page.request.get(link.get_attribute("href")).body()[:4] == b"RIFF"
    except Exception:
        page.screenshot(path="test-artifacts/audio-browser-failure.png", full_page=True)
        raise
