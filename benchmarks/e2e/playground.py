"""Playground tab: Train the default setup (an MLP on the spiral) for a short run of 40 epochs, against the same
training loop in plain torch in this process (`benchmarks.playground_overhead.bare_loop`: data, model, AdamW,
schedule, clipping; one torch thread, as the Playground's worker uses).

40 epochs is within the default early-stop patience (40), so both sides train every epoch. The result is the
finished run on the page: its summary line (best epoch, test accuracy) and its story.

Each run is a fresh process forked from the fork server (`studio/jobs/preload.py`). Its first optimizer step
imported torch._dynamo (1.2 s from submit to the first step; 0.07 s since the fork server imports it). The fork
server also imports what a fine-tune run needs, which costs this tab only a click in the first seconds after
the page answers: clicked at once after `python app.py` (load ~3, two starts each), the result came 3.5-4.5 s
after the click with a fork server of torch and the Playground alone, 6.1-6.5 s with the fine-tune imports; the
next clicks, while the other tabs warm up, 1.9-3.2 s and 1.4-1.6 s (the text, image and audio workers no longer
import transformers each on their own).
"""

from __future__ import annotations

TAB = "Playground"
BUTTON = "#pg-train"
EPOCHS = 40


def prepare(page) -> str:
    epochs = page.locator("#pg-epochs input")
    if not epochs.is_visible():
        page.locator("button.label-wrap:visible", has_text="Training").first.click()  # the closed "Training" accordion
    epochs.fill(str(EPOCHS))
    # The same setup makes the same summary each click: this click's is the one after the page showed "Starting".
    return """(() => {
      let started = false;
      return () => {
        const stats = document.querySelector('#pg-stats').textContent;
        started = started || stats.includes('Starting');
        return started && stats.includes('Best epoch')
          && document.querySelector('#pg-story').textContent.includes('What happened');
      };
    })()"""


def first_seen() -> str:
    """The first click's first visible result: the loss curve of the run's first frame (Gradio's LinePlot draws a
    lone point as a path of zero length, so a line is the second point on), as for the Fine-tune tab; on a 2-core
    machine under load the whole 40 epochs took 2.6-2.9 s even in plain torch."""
    return "() => document.querySelector(\"#pg-loss-plot g.mark-line path[d*='L']\") !== null"


def settle(page) -> None:
    """The run ends before the next click (after `first_seen` it is still training)."""
    page.wait_for_function("() => document.querySelector('#pg-stats').textContent.includes('Best epoch')",
                           polling=100, timeout=120_000)


def bare() -> None:
    import torch

    from benchmarks.playground_overhead import bare_loop
    from studio.playground.config import PlaygroundConfig

    torch.set_num_threads(1)  # what the Playground's worker uses
    bare_loop(PlaygroundConfig(epochs=EPOCHS))
