"""How a Playground training job shows on the page: `PlaygroundView` turns the job's events into the tab's
stats, pictures, plots, story, log and download, once a second, and `curves` builds a plot's frame.

Kept apart from the tab's layout and wiring (`playground.py`), as `finetune_view.py` is for the Fine-tune tab.
"""

from __future__ import annotations

import html
import time

import gradio as gr
import numpy as np
import pandas as pd

from studio.events import DoneEvent, EvalEvent, LogEvent, StepEvent
from studio.playground.curves import compared_rows

from .relay import JobView

# Training runs in another process, but the page's updates still cost CPU that a busy machine takes from it
# (the page process encodes pictures, the browser redraws plots). So the page answers once a second, each
# answer with everything new: numbers, plots and the newest pictures (the worker paints them about once a second).
UI_REFRESH_SECONDS = 1.0
# A frame due less than this before the run's end waits for the end's frame: drawn just before it, its plots and
# pictures kept the browser busy when the end came (a 1.4 s run's result showed 0.1-0.2 s later).
END_SOON_S = 0.3


def curves(history: list[dict], metric: str, kept: dict | None = None) -> pd.DataFrame | None:
    """One plot's data, with a kept run overlaid; None before there is anything to draw (an empty frame
    would fix the plot's colours to none)."""
    if not history and not kept:
        return None
    rows = compared_rows(history, metric, kept and kept["history"], kept and kept["label"])
    # Built column by column with float columns: a third of the time of records and `astype`, redrawn every second.
    return pd.DataFrame({"epoch": np.array([r["epoch"] for r in rows], dtype=np.float64),
                         "value": np.array([r["value"] for r in rows], dtype=np.float64),
                         "series": [r["series"] for r in rows]})


class PlaygroundView(JobView):
    """A training job's events as (stats, picture, predictions, inside, loss plot, accuracy plot, story, log,
    download, finished history) updates: numbers, plots and pictures every refresh (once a second).
    A kept run (`{"label", "history"}`) is overlaid on both plots from the first frame."""

    outputs = 10
    status_at = 0

    def __init__(self, config, kept: dict | None = None):
        self.config = config
        self.kept = kept
        self.history: list[dict] = []
        self.lines: list[str] = []
        self.step = self.total = self.params = 0
        self.epoch = 0.0
        self.first_step: tuple[float, int] | None = None
        self.rate = 0.0
        self.plotted_epochs = 0
        self.pictures: dict = {}  # the newest pictures not yet on the page
        self.latest: dict = {}  # the newest pictures, shown or not (the final answer repeats them)
        self.caption: str | None = None  # the inside picture's label on the page (set by this run's first one)

    def starting(self) -> tuple:
        """The first answer to a click: the last run's results cleared, and a word on what happens now.

        The plots go blank: Gradio's LinePlot fixes its colours when it draws after being blank, so the first
        frame of this run (which names every series, the kept run's too) sets them afresh."""
        return ("**Starting…** each run gets a fresh worker process (a second or two).", gr.skip(), gr.skip(),
                gr.skip(), None, None, "", "", None, None)

    def _take(self, event) -> None:
        if isinstance(event, StepEvent):
            self.step, self.total, self.epoch = event.step, event.total_steps, event.epoch
            moment = time.monotonic()
            if self.first_step is None:
                self.first_step = (moment, event.step)
            elif moment > self.first_step[0]:
                self.rate = (event.step - self.first_step[1]) / (moment - self.first_step[0])
        elif isinstance(event, EvalEvent):
            self.history.append({"epoch": event.epoch, **event.metrics})
            m = event.metrics
            self.lines.append(f"epoch {event.epoch:.0f}: loss {m['train_loss']:.4f} · val {m['val_loss']:.4f} · "
                              f"test acc {m['test_accuracy']:.3f}")
            self.pictures.update(event.extras)
            self.latest.update(event.extras)
        elif isinstance(event, LogEvent):
            self.lines.append(event.message)
            self.params = int(event.values.get("parameters", self.params))

    def _ends_soon(self) -> bool:
        """The run's end is less than END_SOON_S away, by a rate measured over half a second at least."""
        if self.first_step is None or self.rate <= 0 or time.monotonic() - self.first_step[0] < 0.5:
            return False
        return (self.total - self.step) / self.rate < END_SOON_S

    def _progress(self) -> str:
        eta = (self.total - self.step) / self.rate if self.rate > 0 else 0.0
        bar = "█" * int(20 * self.step / max(self.total, 1))
        line = (f"`{bar:<20}` step **{self.step}/{self.total}** · epoch {self.epoch:.1f}/{self.config.epochs} · "
                f"**{self.rate:.0f} steps/s** · {self.params:,} parameters · ETA {eta:.0f}s")
        if self.history:
            last = self.history[-1]
            line += (f"  \ntrain acc {last['train_accuracy']:.3f} · validation acc {last['val_accuracy']:.3f} · "
                     f"test acc **{last['test_accuracy']:.3f}**")
        return line

    def _drawn(self, stats, story=gr.skip(), download=gr.skip(), final: bool = False, finished=gr.skip()) -> tuple:
        """Everything redrawn now: plots, the newest pictures (all of them when `final`), the log."""
        self.plotted_epochs = len(self.history)
        shots, self.pictures = (self.latest if final else self.pictures), {}
        picture = shots.get("boundary", gr.skip())
        predictions = pd.DataFrame(shots["predictions"]) if "predictions" in shots else gr.skip()
        inside = shots.get("inside", gr.skip())
        if "inside" in shots and shots.get("inside_caption") != self.caption:
            # An update with a label makes Gradio build the component anew: only when the caption changes.
            self.caption = shots.get("inside_caption")
            inside = gr.update(value=shots["inside"], label=self.caption)
        return (stats, picture, predictions, inside, curves(self.history, "loss", self.kept),
                curves(self.history, "accuracy", self.kept), story, "\n".join(self.lines[-200:]), download, finished)

    def update(self, events: list) -> tuple | None:
        for event in events:
            self._take(event)
        if self._ends_soon():
            return None  # the end's frame, moments away, shows all of this: the browser draws it once
        if len(self.history) > self.plotted_epochs or self.pictures:
            return self._drawn(self._progress())
        return (self._progress(), *self.skip()[1:])

    def done(self, event: DoneEvent) -> tuple:
        outcome = event.result
        if outcome is None:  # stopped while waiting, or ended by force before it could save
            return ("**Stopped.** No model was saved: the run ended before it could write one.",
                    *self.skip()[1:])
        s = outcome.summary
        state = "Stopped" if outcome.stopped else "Done"
        stats = (f"**{state}.** Best epoch {s['best_epoch']} restored · test accuracy **{s['test_accuracy']:.3f}** · "
                 f"{s['steps']} steps in {s['seconds']:.1f}s ({s['steps_per_second']:.0f} steps/s) · "
                 f"{s['parameters']:,} parameters")
        self.history = outcome.history and [{**m, "epoch": float(m["epoch"])} for m in outcome.history]
        return self._drawn(stats, f"**What happened:** {outcome.story}", outcome.files, final=True,
                           finished=self.history or None)

    def failed(self, message: str) -> tuple:
        return (f"**{html.escape(message[:1].upper() + message[1:])}**", *self.skip()[1:])
