"""Layer 3: a person trains on a 2-D data set in Chromium, watches the plots move, and stops."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def set_field(page, elem_id, value):
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(str(value))
    box.press("Tab")


def test_train_plot_updates_then_stop(studio_page, request):
    page = studio_page
    try:
        page.get_by_role("tab", name="Playground").click()
        page.get_by_text("Training", exact=True).click()  # the accordion starts closed
        set_field(page, "pg-epochs", 2000)
        set_field(page, "pg-samples", 3000)
        page.locator("#pg-train").click()
        stats = page.locator("#pg-stats")
        expect(stats).to_contain_text("steps/s", timeout=20_000)
        boundary = page.locator("#pg-boundary img")
        expect(boundary).to_be_visible(timeout=20_000)
        first_picture = boundary.get_attribute("src")
        # The loss plot draws its train/val/test lines, and they grow while training runs.
        line = page.locator("#pg-loss-plot g.mark-line path").first
        expect(line).to_be_visible(timeout=20_000)
        first_line = line.get_attribute("d")
        expect(line).not_to_have_attribute("d", first_line, timeout=20_000)
        expect(page.locator("#pg-loss-plot g.mark-line path")).to_have_count(3)
        expect(boundary).not_to_have_attribute("src", first_picture, timeout=20_000)
        page.locator("#pg-stop").click()
        expect(stats).to_contain_text("Stopped.", timeout=10_000)
        expect(stats).to_contain_text(re.compile(r"test accuracy \*?\*?0\.\d+|test accuracy"))
        expect(page.locator("#pg-share textarea, #pg-share input").first).to_have_value(re.compile(r"^pg1\."))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise


def test_bad_setting_shows_a_message_not_a_traceback(studio_page):
    page = studio_page
    set_field(page, "pg-layers", 0)
    page.locator("#pg-train").click()
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    expect(toast).to_contain_text("layers", timeout=10_000)
    assert "Traceback" not in page.content()


def test_share_link_restores_the_setup(studio_page, studio_url):
    from studio.playground.config import defaults_for
    from studio.playground.share import encode

    page = studio_page
    setup = encode(defaults_for("mlp", dataset="xor", widths=(24, 24), seed=11))
    page.goto(f"{studio_url}?setup={setup}")
    expect(page.locator("#pg-width textarea, #pg-width input").first).to_have_value("24", timeout=20_000)
    expect(page.locator("#pg-seed input").first).to_have_value("11")
