"""Redraw the README's pictures from the running studio, as a person sees it in Chromium.

    python docs/make_screenshots.py

Starts `python app.py` on a free port, trains in the Playground and saves:
docs/studio.png (the page with every tab, an MLP learning the spiral), docs/playground-neurons.png
(each hidden unit of the MLP over the input plane) and docs/playground-attention.png (a transformer's
attention maps on a sequence task).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=value, exact=True).click()


def train(page, seconds: float) -> None:
    page.locator("#pg-train").click()
    expect(page.locator("#pg-stats")).to_contain_text("epoch", timeout=60_000)
    time.sleep(seconds)


def main() -> None:
    port = free_port()
    env = os.environ | {"GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
                        "STUDIO_OUTPUTS_DIR": tempfile.mkdtemp(prefix="studio-shots-")}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#pg-train")
            train(page, 12)
            page.screenshot(path=str(DOCS / "studio.png"))
            page.locator("#pg-inside").scroll_into_view_if_needed()
            page.locator("#pg-inside").screenshot(path=str(DOCS / "playground-neurons.png"))
            page.locator("#pg-stop").click()
            time.sleep(2)
            choose(page, "pg-model", "transformer")
            time.sleep(1)
            train(page, 15)
            page.locator("#pg-inside").scroll_into_view_if_needed()
            page.locator("#pg-inside").screenshot(path=str(DOCS / "playground-attention.png"))
            page.locator("#pg-stop").click()
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
