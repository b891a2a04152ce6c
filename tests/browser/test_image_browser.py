"""In Chromium: make a picture in the Image tab, then drop its PNG on PNG info and see every control refilled."""

import pytest
from playwright.sync_api import expect

from tests.image_models import tiny_sd

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(tiny_sd(tmp_path_factory.mktemp("browser-image") / "sd"))


def test_make_a_picture_and_read_its_png_info_back(studio_page, tiny_model, tmp_path):
    page = studio_page
    try:
        page.get_by_role("tab", name="Image").click()
        page.locator("#image-custom-model textarea, #image-custom-model input").first.fill(tiny_model)
        for elem_id, value in (("image-width", "32"), ("image-height", "32"), ("image-steps", "3"),
                               ("image-seed", "42")):
            page.locator(f"#{elem_id} input").fill(value)
        page.locator("#image-prompt textarea").fill("a blue square on a white background")
        page.locator("#image-generate").click()
        link = page.locator("#image-downloads a[href]").first
        expect(link).to_be_attached(timeout=60_000)
        expect(page.locator("#image-gallery img").first).to_be_visible()
        expect(page.locator("#image-status")).to_contain_text("seeds 42")
        png = page.request.get(link.get_attribute("href")).body()
        saved = tmp_path / "made.png"
        saved.write_bytes(png)

        # Change the controls, then let the PNG refill them.
        page.locator("#image-prompt textarea").fill("something else")
        page.locator("#image-seed input").fill("7")
        page.locator("#image-png-info input[type=file]").set_input_files(str(saved))
        expect(page.locator("#image-prompt textarea")).to_have_value("a blue square on a white background",
                                                                     timeout=20_000)
        expect(page.locator("#image-seed input")).to_have_value("42")
        expect(page.locator("#image-steps input")).to_have_value("3")
        expect(page.locator("#image-png-note")).to_contain_text("seed 42")
    except Exception:
        page.screenshot(path="test-artifacts/image-browser-failure.png", full_page=True)
        raise
