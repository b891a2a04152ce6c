"""In Chromium: make a picture in the Image tab, see it whole and pixel-sharp, drop its PNG on PNG info and see every
control refilled, start img2img from a thumbnail, and press Stop without losing the picture already made."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def fill(page, values: dict) -> None:
    for elem_id, value in values.items():
        page.locator(f"#{elem_id} input").fill(value)


def test_make_a_picture_and_read_its_png_info_back(studio_page, tmp_path):
    page = studio_page
    try:
        page.get_by_role("tab", name="Image").click()
        # PNG info sits near the top of the tab, above the model choice.
        png_box = page.locator("#image-png-info").bounding_box()
        assert png_box["y"] < page.locator("#image-model").bounding_box()["y"]
        fill(page, {"image-steps": "3", "image-seed": "42"})  # width and height 0: the model's own 64 px
        page.locator("#image-prompt textarea").fill("a blue square on a white background")
        page.locator("#image-generate").click()
        link = page.locator("#image-downloads a[href]").first
        expect(link).to_be_attached(timeout=60_000)
        picture = page.locator("#image-gallery img").first
        expect(picture).to_be_visible()
        expect(page.locator("#image-status")).to_contain_text("seeds 42")
        expect(page.locator("#image-status")).to_contain_text("64x64")
        # Shown whole (contain, not cropped to the tile) and scaled up with hard pixel edges.
        style = picture.evaluate("img => [getComputedStyle(img).imageRendering, getComputedStyle(img).objectFit]")
        assert style == ["pixelated", "contain"], style
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

        # img2img: the start image upload shows a thumbnail of the picture.
        page.locator("#image-mode label", has_text="img2img").click()
        page.locator("#image-init-image input[type=file]").set_input_files(str(saved))
        expect(page.locator("#image-init-image img").first).to_be_visible(timeout=20_000)
        page.locator("#image-mode label", has_text="text2img").click()

        # A long run, stopped: the picture made before stays in the gallery.
        fill(page, {"image-steps": "150", "image-count": "8"})
        page.locator("#image-generate").click()
        # "of 150": this run's denoising line (the last result's "steps/s" would match "step" at once).
        expect(page.locator("#image-status")).to_contain_text(" of 150", timeout=60_000)
        page.locator("#image-stop").click()
        expect(page.locator("#image-status")).to_contain_text("Stopped", timeout=20_000)
        expect(page.locator("#image-gallery img").first).to_be_visible()
    except Exception:
        page.screenshot(path="test-artifacts/image-browser-failure.png", full_page=True)
        raise


def test_an_error_leaves_the_pictures_and_the_form_and_names_the_field(studio_page):
    """A refused click shows one toast naming the field and no error overlay: the gallery keeps the picture
    already made, the form keeps what was typed, the status line the last result."""
    page = studio_page
    try:
        page.get_by_role("tab", name="Image").click()
        fill(page, {"image-steps": "2", "image-seed": "11", "image-count": "1", "image-width": "0"})
        page.locator("#image-generate").click()
        expect(page.locator("#image-status")).to_contain_text("seeds 11", timeout=60_000)
        picture = page.locator("#image-gallery img").first
        expect(picture).to_be_visible()
        made = picture.get_attribute("src")

        fill(page, {"image-width": "30"})
        page.locator("#image-generate").click()
        toast = page.locator(".toast-body").filter(has_text="width")
        expect(toast).to_be_visible(timeout=20_000)
        expect(toast).to_contain_text("multiple of 8")
        expect(page.locator("#image-gallery img").first).to_be_visible()
        assert page.locator("#image-gallery img").first.get_attribute("src") == made
        expect(page.locator("#image-gallery")).not_to_contain_text("Error")  # no red badge over the pictures
        expect(page.locator("#image-width input")).to_have_value("30")
        expect(page.locator("#image-status")).to_contain_text("seeds 11")  # the last result's line stays under it
        fill(page, {"image-width": "0"})
    except Exception:
        page.screenshot(path="test-artifacts/image-error-browser-failure.png", full_page=True)
        raise
