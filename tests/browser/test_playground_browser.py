"""Layer 3: a person picks data and a network, sees both before training, trains, watches it learn, stops."""

import re

import pytest
from playwright.sync_api import expect

from studio.playground.share import decode

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def set_field(page, elem_id, value):
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(str(value))
    box.press("Tab")


def choose(page, elem_id, option):
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_data_and_network_are_drawn_before_training(studio_page, request):
    page = studio_page
    try:
        picture = page.locator("#pg-boundary img")
        expect(picture).to_be_visible()
        share = page.locator("#pg-share textarea, #pg-share input").first
        expect(share).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?setup=pg1\."))
        expect(page.locator("#pg-share button[aria-label*='opy'], #pg-share button[title*='opy']").first) \
            .to_be_visible()
        first_picture, first_link = picture.get_attribute("src"), share.input_value()
        choose(page, "pg-dataset", "circle")  # drawn the moment it is chosen, before Train
        expect(picture).not_to_have_attribute("src", first_picture)
        expect(share).not_to_have_value(first_link)
        circle_picture, circle_link = picture.get_attribute("src"), share.input_value()
        balance = page.locator("#pg-balance input[type=number]")
        balance.fill("0.2")
        balance.press("Tab")  # fewer blue points, drawn at once; the link carries the balance
        expect(picture).not_to_have_attribute("src", circle_picture)
        expect(share).not_to_have_value(circle_link)
        assert decode(share.input_value()).balance == 0.2
        network = page.locator("#pg-network")
        expect(network).to_contain_text("parameters")
        before = network.inner_text()
        set_field(page, "pg-layers", 1)
        expect(network).not_to_have_text(before)
        expect(network.locator("rect")).to_have_count(3)  # input, one hidden layer, output
        set_field(page, "pg-layers", 0)
        expect(network).to_contain_text("layers")  # the field is named at once
        assert "Traceback" not in page.content()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise


def test_train_curves_and_neurons_update_then_stop(studio_page, request):
    page = studio_page
    try:
        page.get_by_text("Training", exact=True).click()  # the accordion starts closed
        set_field(page, "pg-epochs", 2000)
        set_field(page, "pg-samples", 3000)
        page.locator("#pg-train").click()
        stats = page.locator("#pg-stats")
        expect(stats).to_contain_text("steps/s", timeout=30_000)
        boundary = page.locator("#pg-boundary img")
        neurons = page.locator("#pg-inside img")
        expect(neurons).to_be_visible(timeout=20_000)
        first_picture, first_neurons = boundary.get_attribute("src"), neurons.get_attribute("src")
        # The loss plot draws its train/val/test lines, and they grow while training runs.
        line = page.locator("#pg-loss-plot g.mark-line path").first
        expect(line).to_be_visible(timeout=20_000)
        first_line = line.get_attribute("d")
        expect(line).not_to_have_attribute("d", first_line, timeout=20_000)
        expect(page.locator("#pg-loss-plot g.mark-line path")).to_have_count(3)
        expect(boundary).not_to_have_attribute("src", first_picture, timeout=20_000)
        expect(neurons).not_to_have_attribute("src", first_neurons, timeout=20_000)  # live heatmaps
        page.locator("#pg-stop").click()
        expect(stats).to_contain_text("Stopped.", timeout=10_000)
        expect(stats).to_contain_text(re.compile(r"test accuracy"))
        expect(page.locator("#pg-story")).to_contain_text("You stopped the run")
        # A new model clears the old curves.
        choose(page, "pg-model", "cnn")
        expect(page.locator("#pg-loss-plot g.mark-line path")).to_have_count(0)
        expect(stats).to_contain_text("Press Train")
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
    setup = encode(defaults_for("mlp", dataset="xor", widths=(24, 24), seed=11, features=("x", "y", "xy"),
                                balance=0.3))
    page.goto(f"{studio_url}?setup={setup}")
    expect(page.locator("#pg-width textarea, #pg-width input").first).to_have_value("24", timeout=20_000)
    expect(page.locator("#pg-seed input").first).to_have_value("11")
    expect(page.locator("#pg-features input[type=checkbox]:checked")).to_have_count(3)
    expect(page.locator("#pg-balance input[type=number]")).to_have_value("0.3")
    expect(page.locator("#pg-share textarea, #pg-share input").first).to_have_value(re.compile(re.escape(setup)))


def test_a_lesson_link_opens_at_step_one_and_steps_forward(studio_page, studio_url, request):
    from studio.playground.lessons import Lesson, encode_lesson, step

    page = studio_page
    lesson = Lesson("Two steps", (step("Look at the ring first.", "mlp", dataset="circle", widths=(24,)),
                                  step("Now a recurrent network.", "rnn", widths=(48,), seed=9)))
    try:
        page.goto(f"{studio_url}?lesson={encode_lesson(lesson)}")
        note, position = page.locator("#pg-lesson-note"), page.locator("#pg-lesson-step")
        width = page.locator("#pg-width textarea, #pg-width input").first
        expect(note).to_contain_text("Look at the ring first.", timeout=20_000)
        expect(position).to_contain_text("step 1 of 2")
        expect(width).to_have_value("24")
        expect(page.locator("#pg-lesson-back")).to_be_disabled()
        page.locator("#pg-lesson-next").click()
        expect(note).to_contain_text("Now a recurrent network.")
        expect(position).to_contain_text("step 2 of 2")
        expect(width).to_have_value("48")
        expect(page.locator("#pg-seed input").first).to_have_value("9")
        expect(page.locator("#pg-model input").first).to_have_value("rnn")
        expect(page.locator("#pg-lesson-next")).to_be_disabled()
        page.locator("#pg-lesson-back").click()
        expect(width).to_have_value("24")
        # A teacher adds this setup as a step and gets a link; a malformed link is named and changes nothing.
        page.get_by_text("Make a lesson", exact=True).click()
        set_field(page, "pg-lesson-new-note", "Our own step.")
        page.locator("#pg-lesson-add").click()
        link = page.locator("#pg-lesson-link textarea, #pg-lesson-link input").first
        expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?lesson=pl1\."))
        toasts = page.locator(".toast-body, [data-testid='toast-body']")
        expect(toasts.filter(has_text="Step 1 added")).to_be_visible()  # the add has answered in full
        set_field(page, "pg-lesson-link", "pl1.broken")
        expect(link).to_have_value("pl1.broken")  # what Open will read
        page.locator("#pg-lesson-open").click()
        # The refusal's own words (the add's toast also speaks of "the lesson link").
        expect(toasts.filter(has_text="'pl1.broken' is not valid")).to_be_visible()
        expect(width).to_have_value("24")
        expect(position).to_contain_text("step 1 of 2")
        assert "Traceback" not in page.content()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise


def test_compare_overlays_two_runs(studio_page, request):
    page = studio_page
    stats = page.locator("#pg-stats")
    try:
        page.get_by_text("Training", exact=True).click()  # the accordion starts closed
        set_field(page, "pg-epochs", 3)
        set_field(page, "pg-samples", 200)
        page.locator("#pg-train").click()
        expect(stats).to_contain_text("Done.", timeout=30_000)
        set_field(page, "pg-keep-label", "first try")
        page.locator("#pg-keep").click()
        expect(page.locator("#pg-keep-status")).to_contain_text("Kept first try")
        set_field(page, "pg-width", 8)
        page.locator("#pg-train").click()
        expect(stats).to_contain_text("Done.", timeout=30_000)
        plot = page.locator("#pg-loss-plot")
        expect(plot).to_contain_text("train (first try)")
        expect(plot.locator("g.mark-line path")).to_have_count(6)  # this run's three curves and the kept three
        expect(page.locator("#pg-acc-plot")).to_contain_text("test (first try)")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise
