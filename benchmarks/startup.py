"""How fast does the studio start? Seconds from `python app.py` until the page answers, over the
same for a one-textbox Gradio app, measured alternately in one run. Target: ratio <= 1.3.

    python benchmarks/startup.py [--repeats 3]

The studio imports torch, transformers, diffusers and friends only when a tab first needs
them (the workers warm up after the page answers), so its start-up should cost little more
than Gradio's own. Each start gets a fresh port and an empty outputs folder.

Where the studio's extra time goes (timed inside one start on a quiet machine): importing Gradio
2.5 s, as for the one-textbox app; the studio's own modules 0.14 s; `build_app` 0.45 s, of which
0.28 s is Gradio building its FastAPI app three times (in `gr.Blocks()`'s own `queue()`, at the
end of the `with` block, and again in the studio's `demo.queue(...)`; each registers its
routes with signature inspection, and only `launch`'s fourth build, 0.07 s, is served); `launch`
0.24 s. Against the one-textbox app's 2.8-3.4 s that is 1.16-1.33x, depending on what else the
machine runs. The fork server (torch, transformers, the engines: about 5 s of CPU) starts first, in a
process of its own, so on two cores it imports beside Gradio instead of after the page answered: the
first click in the Audio tab right after start came 1.3 s after the click instead of 5.2 s, and the
start measured 1.20x (3.47 s against 2.89 s; runs 3.42-5.25 s against 2.79-3.04 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import alternate, free_port, report  # noqa: E402

MINIMAL_APP = """
import gradio as gr
with gr.Blocks() as demo:
    gr.Textbox()
demo.launch(server_name="127.0.0.1", server_port={port}, ssr_mode=False)
"""


def time_to_answer(cmd: list[str], port: int, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 120:
            try:  # a refused connection is retried; a slow answer is waited for (abandoning it would restart it)
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                    response.read()
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

        def one_textbox() -> float:
            port = free_port()
            minimal.write_text(MINIMAL_APP.format(port=port))
            return time_to_answer([sys.executable, str(minimal)], port, env)

        def studio() -> float:
            port = free_port()
            outputs = tempfile.mkdtemp(dir=tmp)
            return time_to_answer([sys.executable, "app.py"], port,
                                  env | {"GRADIO_SERVER_PORT": str(port), "STUDIO_OUTPUTS_DIR": outputs})

        # the unrecorded first round fills the disk cache for both, as any start after the first finds it
        runs = alternate({"studio": studio, "bare": one_textbox}, repeats=args.repeats)
    report("cold start", runs["studio"], runs["bare"], unit="s", target=1.3, higher_is_better=False,
           bare_is="a one-textbox Gradio app")


if __name__ == "__main__":
    main()
