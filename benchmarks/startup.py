"""How fast does the studio start? Seconds from `python app.py` until the page answers, over the
same for a one-textbox Gradio app, measured alternately in one run. Target: ratio <= 1.3.

    python benchmarks/startup.py [--repeats 3]

The studio imports torch, transformers, diffusers and friends only when a tab first needs
them, so its start-up should cost little more than Gradio's own.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINIMAL_APP = """
import gradio as gr
with gr.Blocks() as demo:
    gr.Textbox()
demo.launch(server_name="127.0.0.1", server_port={port}, ssr_mode=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_answer(cmd: list[str], port: int, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{cmd} did not answer within 120 s")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        studio, baseline = [], []
        for _ in range(args.repeats):
            port = free_port()
            minimal.write_text(MINIMAL_APP.format(port=port))
            baseline.append(time_to_answer([sys.executable, str(minimal)], port, env))
            port = free_port()
            studio.append(time_to_answer([sys.executable, "app.py"], port, env | {"STUDIO_PORT": str(port)}))
    s, b = statistics.median(studio), statistics.median(baseline)
    print(f"one-textbox Gradio app : {b:5.2f} s   runs {', '.join(f'{x:.2f}' for x in baseline)}")
    print(f"python app.py (studio) : {s:5.2f} s   runs {', '.join(f'{x:.2f}' for x in studio)}")
    print(f"ratio studio/minimal   : {s / b:.2f}   (target <= 1.3)")


if __name__ == "__main__":
    main()
