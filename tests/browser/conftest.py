"""Layer 3: the app in Debian's Chromium through Playwright, with every outside request refused."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.app.conftest import free_port, studio_settings, studio_url  # noqa: F401  (shared server fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    """Without Chromium, browser tests skip on a developer's machine but fail in CI, where it is installed."""
    if Path(CHROMIUM).exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture()
def studio_page(page, studio_url):
    """A page on the studio; any request that leaves the loopback is aborted, proving the page needs nothing outside."""

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if host in {"127.0.0.1", "localhost", "::1"} or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    page.context.route("**/*", guard)
    page.set_default_timeout(20_000)
    page.goto(studio_url)
    page.wait_for_selector("#tab-playground, .tabs", timeout=30_000)
    return page
