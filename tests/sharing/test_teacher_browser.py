"""Teacher mode in Chromium: only the teacher's page shows the controls, and they act on everybody's jobs."""

import time
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browser_type_launch_args  # noqa: F401  (Debian's Chromium)
from tests.sharing.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def open_teacher_tab(page, url):
    page.context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname in
                       {"127.0.0.1", "localhost"} else route.abort())
    page.goto(url)
    page.get_by_role("tab", name="Teacher").click()


def test_a_wrong_password_shows_nothing(class_studio, page):
    _, url, _ = class_studio
    open_teacher_tab(page, url)
    page.locator("#admin-password input, #admin-password textarea").first.fill("guess")
    page.locator("#admin-sign-in").click()
    expect(page.locator("#admin-note")).to_contain_text("Wrong password", timeout=10_000)
    expect(page.locator("#admin-panel")).to_be_hidden()


def test_the_teacher_sees_and_stops_a_students_job(class_studio, page, browser):
    demo, url, _ = class_studio
    student_job = demo.studio.jobs.submit("visitor:" + "a" * 32, "text", "tests.job_tasks:count",
                                          {"n": 10_000, "sleep": 0.01})
    open_teacher_tab(page, url)
    page.locator("#admin-password input").fill(ADMIN_PASSWORD)
    page.locator("#admin-sign-in").click()
    expect(page.locator("#admin-panel")).to_be_visible(timeout=10_000)
    table = page.locator("#admin-jobs")
    expect(table).to_contain_text(student_job.id[:12], timeout=10_000)
    expect(table).to_contain_text("visitor ")

    # A student's page in another browser context never sees the panel.
    other = browser.new_context()
    student = other.new_page()
    open_teacher_tab(student, url)
    expect(student.locator("#admin-panel")).to_be_hidden()
    other.close()

    page.locator("#admin-job-id textarea, #admin-job-id input").first.fill(student_job.id[:12])
    page.locator("#admin-stop-job").click()
    expect(page.locator("#admin-note")).to_contain_text("Asked job", timeout=10_000)
    deadline = time.monotonic() + 5
    while not student_job.ended and time.monotonic() < deadline:
        time.sleep(0.1)
    assert student_job.state == "stopped"


def test_the_teacher_locks_the_studio_to_presets(class_studio, page):
    demo, url, _ = class_studio
    open_teacher_tab(page, url)
    page.locator("#admin-password input").fill(ADMIN_PASSWORD)
    page.locator("#admin-sign-in").click()
    expect(page.locator("#admin-panel")).to_be_visible(timeout=10_000)
    page.locator("#admin-locked input").check()
    page.locator("#admin-save").click()
    expect(page.locator("#admin-note")).to_contain_text("locked", timeout=10_000)
    assert demo.studio.settings.locked
    assert demo.studio.model_scope(None)["presets_only"] is True
    try:
        page.reload()  # a page opened (or reloaded) after the lock has no box for typed model ids
        page.get_by_role("tab", name="Text").click()
        expect(page.locator("#text-model")).to_be_visible()
        expect(page.locator("#text-custom-model")).to_be_hidden()
    finally:
        demo.studio.update_settings(locked=False)
