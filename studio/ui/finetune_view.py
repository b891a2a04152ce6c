"""What the Fine-tune tab shows of a training job: plots, progress line, log and results.

`FinetuneView` turns a training job's events into the tab's outputs (the relay calls it);
the plot frames and the step clock are pure functions of the run's logs, tested without a
browser. The tab itself (`finetune.py`) builds the page and starts the jobs.
"""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from studio.events import TERMINAL, DoneEvent, EvalEvent, LogEvent, ProgressEvent, StepEvent
from studio.finetune.requests import RunOpened
from studio.finetune.runs import RunFolder, curve_rows, list_runs, runs_dir, stage_starts

from .relay import JobView

KIND = "finetune"
SHORT_KIND = "text"  # Check and merge: short jobs on the warm text workers, never queued behind a training
UI_REFRESH_SECONDS = 0.5
FIRST_CURVE_REFRESH_SECONDS = 0.1  # until the loss plot has its first curve (see `FirstCurveSoon`)
WARMUP_STEPS = 3  # steps before the step time is measured (the first ones include the first evaluation)
RUN_COLUMNS = ["run", "status", "model", "method", "data", "steps", "eval loss"]
OUTPUTS = 8  # status, loss plot, lr plot, log, result, comparison, runs table, run picker


def frame(rows: list[dict]) -> pd.DataFrame | None:
    return pd.DataFrame(rows).astype({"step": "float64", "value": "float64"}) if rows else None


def loss_frame(logs: list[dict]) -> pd.DataFrame | None:
    """Train and eval loss with a vertical mark where each curriculum stage starts; None until there is a point."""
    rows = [r for r in curve_rows(logs) if r["series"] != "learning rate"]
    if not rows:
        return None
    top = max(r["value"] for r in rows)
    # Gradio's LinePlot keeps the colour domain of the first frame it draws: a series missing from it (the
    # train loss, when an eval at step 0 comes first) is never drawn. Every frame names both from the start.
    seen = {r["series"] for r in rows}
    rows += [{"step": rows[0]["step"], "value": float("nan"), "series": name}
             for name in ("train loss", "eval loss") if name not in seen]
    starts = stage_starts(logs)
    if len(starts) > 1:
        for step, stage in starts:
            rows += [{"step": step, "value": 0.0, "series": f"stage: {stage}"},
                     {"step": step, "value": top, "series": f"stage: {stage}"}]
    return frame(rows)


def lr_frame(logs: list[dict]) -> pd.DataFrame | None:
    return frame([r for r in curve_rows(logs) if r["series"] == "learning rate"])


class StepClock:
    """Steps per second measured from the step after a short warm-up (loading, the first evaluation and the
    first steps are slower and would make the ETA wrong for the whole run)."""

    def __init__(self, warmup: int = WARMUP_STEPS):
        self.warmup = warmup
        self.first: int | None = None
        self.mark: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def tick(self, step: int, now: float) -> None:
        if self.first is None:
            self.first = step
        if self.mark is None and step >= self.first + self.warmup:
            self.mark = (step, now)
        self.last = (step, now)

    def rate(self) -> float:
        if self.mark is None or self.last is None or self.last[0] <= self.mark[0] or self.last[1] <= self.mark[1]:
            return 0.0
        return (self.last[0] - self.mark[0]) / (self.last[1] - self.mark[1])

    def eta(self, step: int, total: int) -> float | None:
        rate = self.rate()
        return (total - step) / rate if rate > 0 and total else None


def progress_line(step: int, total: int, clock: StepClock, limit_s: float = 0.0) -> str:
    rate, eta = clock.rate(), clock.eta(step, total)
    when = f"ETA {eta:.0f}s" if eta is not None else f"ETA after {WARMUP_STEPS} steps"
    if eta is not None and limit_s and eta > limit_s:
        when += f" (past the {limit_s / 60:g}-minute limit a job: it will stop there with a checkpoint)"
    bar = "█" * int(20 * step / max(total, 1))
    return f"`{bar:<20}` step **{step}/{total}** · {rate:.2f} steps/s · {when}"


def runs_table(outputs_dir) -> pd.DataFrame:
    return pd.DataFrame(list_runs(outputs_dir), columns=RUN_COLUMNS)


def run_choices(outputs_dir, selected: str | None = None):
    names = [r["run"] for r in list_runs(outputs_dir)]
    return gr.update(choices=names, value=selected if selected in names else (names[0] if names else None))


def finished_text(res) -> tuple[str, str]:
    """(status line, result note) for a `FinetuneResult`."""
    loss = ""
    if res.first_eval_loss and res.last_eval_loss:
        drop = 100 * (1 - res.last_eval_loss / res.first_eval_loss)
        loss = f" · eval loss {res.first_eval_loss:.3f} → **{res.last_eval_loss:.3f}** ({drop:.0f}% lower)"
    state = "Stopped" if res.stopped else "Done"
    status = f"**{state}** at step {res.steps} in {res.seconds:.0f}s{loss} · {res.trainable}"
    if res.stopped and not res.run:
        return status, "Stopped before training began; nothing was saved."
    if res.stopped:
        return status, (res.stop_reason or "Stopped: a checkpoint was saved; pick the run and press **Resume** to "
                        "continue.")
    best = f" It ends with the weights of {res.restored}, its lowest eval loss." if res.restored else ""
    return status, (f"Saved as run **{res.run}**. It is in the **Text** tab's model list (base model plus "
                    f"adapter).{best}")


class FirstCurveSoon:
    """A training job's events for `relay`, grouped every `FIRST_CURVE_REFRESH_SECONDS` until the loss plot can draw
    its first curve (a series' second point: the LinePlot draws a lone point as a path of zero length, so the
    training loss of steps 1 and 5 by default), then every `interval` as usual.

    That first curve is what a person waits for after Train. Grouped every 0.5 s from the start, each point
    waited up to half a second for the rest of its batch (measured: the step-0 evaluation reached the page
    0.3-0.5 s after the worker had it). During training the longer interval keeps the page's updates cheap."""

    def __init__(self, events):
        self.events = events

    def batches(self, interval: float, heartbeat: float | None = None):
        points = {"eval": 0, "train": 0}
        for batch in self.events.batches(FIRST_CURVE_REFRESH_SECONDS, heartbeat=heartbeat):
            yield batch
            if batch and isinstance(batch[-1], TERMINAL):
                return
            points["eval"] += sum(isinstance(e, EvalEvent) for e in batch)
            points["train"] += sum(isinstance(e, LogEvent) and "loss" in e.values for e in batch)
            if max(points.values()) >= 2:
                break
        else:
            return
        yield from self.events.batches(interval, heartbeat=heartbeat)


class FinetuneView(JobView):
    """A training job's events as updates of the 8 outputs: progress every refresh, plots from the run's own
    logs.jsonl (so a re-attached page draws the whole run, and the plot shows exactly what was saved)."""

    outputs = OUTPUTS
    status_at = 0

    def __init__(self, outputs_dir, run: str | None = None, limit_s: float = 0.0, lines: list[str] | None = None):
        self.outputs_dir = outputs_dir
        self.folder = RunFolder(runs_dir(outputs_dir) / run) if run else None
        self.limit_s = limit_s
        self.lines = list(lines or [])
        self.step = self.total = 0
        self.clock = StepClock()
        self.status = "Checking the data and loading the model…"
        self.find_run = None  # re-attached to a new run: how to find its folder once it exists

    def _look_for_run(self) -> bool:
        if self.folder is None and self.find_run is not None:
            self.folder = self.find_run()
            return self.folder is not None
        return False

    def plots(self) -> tuple:
        logs = self.folder.logs() if self.folder else []
        return loss_frame(logs), lr_frame(logs)

    def update(self, events: list) -> tuple | None:
        opened = redraw = self._look_for_run()
        now = time.monotonic()
        for event in events:
            if isinstance(event, StepEvent):
                self.step, self.total = event.step, event.total_steps
                self.clock.tick(event.step, now)
            elif isinstance(event, LogEvent):
                self.lines.append(event.message)
                redraw = True
            elif isinstance(event, EvalEvent):
                redraw = True
            elif isinstance(event, ProgressEvent):
                if isinstance(event.preview, RunOpened):
                    self.folder = RunFolder(runs_dir(self.outputs_dir) / event.preview.name)
                    opened = redraw = True
                self.total = self.total or event.total
                if event.message:
                    self.lines.append(event.message)
                    self.status = event.message
        name = f"**{self.folder.name}** · " if self.folder else ""
        if self.step or self.folder:
            self.status = name + progress_line(self.step, self.total, self.clock, self.limit_s)
        loss, lr = self.plots() if redraw else (gr.skip(), gr.skip())
        runs = (runs_table(self.outputs_dir), run_choices(self.outputs_dir, self.folder.name)) if opened \
            else (gr.skip(), gr.skip())
        return (self.status, loss, lr, "\n".join(self.lines[-200:]), gr.skip(), gr.skip(), *runs)

    def done(self, event: DoneEvent) -> tuple:
        res = event.result
        if res is None:  # the worker was ended by Stop before the task could answer
            return ("**Stopped.**", *self.plots(), "\n".join(self.lines[-200:]), "Stopped.", gr.skip(),
                    runs_table(self.outputs_dir), run_choices(self.outputs_dir))
        status, note = finished_text(res)
        table = pd.DataFrame(res.comparison, columns=["prompt", "expected", "before", "after"])
        return (status, *self.plots(), "\n".join(self.lines[-200:]), note, table, runs_table(self.outputs_dir),
                run_choices(self.outputs_dir, res.run or None))


class AnswerView(JobView):
    """A short job (Check, merge) whose result is one text for one output."""

    status_at = 0

    def __init__(self, format_result=str):
        self.format_result = format_result

    def update(self, events: list) -> tuple | None:
        messages = [e.message for e in events if isinstance(e, ProgressEvent) and e.message]
        return (messages[-1],) if messages else None

    def done(self, event: DoneEvent) -> tuple:
        return (self.format_result(event.result),)


def single(updates):
    """A one-output handler yields the value itself (Gradio refuses a 1-tuple for a single output)."""
    for update in updates:
        yield update[0] if isinstance(update, tuple) and len(update) == 1 else update
