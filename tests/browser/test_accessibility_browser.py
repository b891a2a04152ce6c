"""Every tab readable and reachable: AA contrast (axe-core), phone width, and the keyboard."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TABS = ["Playground", "Text", "Image", "Audio", "Fine-tune"]


def contrast_violations(page) -> list:
    result = Axe().run(page, options={"runOnly": ["color-contrast"]})
    return [(node["target"], node["any"][0]["data"].get("contrastRatio"))
            for violation in result.response["violations"] for node in violation["nodes"]]


def test_every_tab_passes_axe_colour_contrast(studio_page):
    for tab in TABS:
        studio_page.get_by_role("tab", name=tab).click()
        expect(studio_page.locator(f"#tab-{tab.lower().replace('-', '')}")).to_be_visible()
        studio_page.wait_for_timeout(300)
        assert contrast_violations(studio_page) == [], tab


def test_every_tab_is_reachable_at_phone_width(studio_page):
    studio_page.set_viewport_size({"width": 390, "height": 844})
    studio_page.reload()
    studio_page.wait_for_selector("[role=tablist]")
    for tab in TABS:
        visible_tabs = "[role=tablist] [role=tab], .tab-wrapper .overflow-dropdown button"  # not Gradio's hidden copy
        studio_page.locator(visible_tabs).filter(has_text=tab).first.click()
        expect(studio_page.locator(f"#tab-{tab.lower().replace('-', '')}")).to_be_visible()


def test_arrow_keys_move_between_tabs(studio_page):
    first = studio_page.get_by_role("tab", name="Playground")
    first.focus()
    studio_page.keyboard.press("ArrowRight")
    text = studio_page.get_by_role("tab", name="Text")
    expect(text).to_have_attribute("aria-selected", "true")
    expect(text).to_be_focused()
    studio_page.keyboard.press("ArrowLeft")
    expect(first).to_have_attribute("aria-selected", "true")
