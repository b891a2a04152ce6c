"""The Playground tab: pick a network and a toy data set, train it, watch it learn.

Thin by design: widgets become a `PlaygroundConfig` through `studio.playground.form`,
training runs on the engine's event stream, and each batch of events becomes
plot, picture and log updates. The engine (and torch) is imported on first use.
"""

from __future__ import annotations

import time

import gradio as gr
import numpy as np
import pandas as pd

from studio.playground.config import (
    ACTIVATIONS, DATASETS_FOR_MODEL, MODELS, NORM_PLACEMENTS, POOLINGS, POSITIONS, RNN_CELLS, SCHEDULERS, defaults_for,
)
from studio.playground.form import FORM_FIELDS, form_values, parse_form
from studio.settings import Settings

from .common import form_handler, session_key, user_errors

# The page refreshes once a second. Every update costs the server work that takes the
# interpreter lock from the training thread: measured, 2 updates a second cost 12% of
# the steps, 1 a second about 0-4% (benchmarks/playground_overhead.py).
UI_REFRESH_SECONDS = 1.0
PICTURE_SECONDS = 1.0


def _curves(history: list[dict], metric: str) -> pd.DataFrame | None:
    """One plot's data; None before the first epoch (an empty frame would fix the plot's colours to none)."""
    from studio.playground.curves import curve_rows

    rows = [r for r in curve_rows(history) if r["metric"] == metric]
    return pd.DataFrame(rows).astype({"epoch": "float64", "value": "float64"}) if rows else None


def _stats(config, step: int, total: int, epoch: float, params: int, started: float, last: dict | None) -> str:
    elapsed = time.monotonic() - started
    rate = step / elapsed if elapsed > 0 else 0.0
    eta = (total - step) / rate if rate > 0 else 0.0
    bar = "█" * int(20 * step / max(total, 1))
    line = (f"`{bar:<20}` step **{step}/{total}** · epoch {epoch:.1f}/{config.epochs} · "
            f"**{rate:.0f} steps/s** · {params:,} parameters · ETA {eta:.0f}s")
    if last:
        line += f"  \ntrain acc {last['train_accuracy']:.3f} · validation acc {last['val_accuracy']:.3f} · " \
                f"test acc **{last['test_accuracy']:.3f}**"
    return line


def create_playground_tab(demo: gr.Blocks, settings: Settings) -> dict:
    runs: dict = {}  # session -> Run, so a Stop stops only its owner's training
    start = defaults_for("mlp")
    v = form_values(start)

    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="pg-train")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="pg-stop")
                reset_btn = gr.Button("Reset", elem_id="pg-reset")
            with gr.Row():
                model = gr.Dropdown(list(MODELS), value=v["model"], label="Model", elem_id="pg-model",
                                    info="MLP, residual MLP, CNN, RNN or transformer")
                dataset = gr.Dropdown(list(DATASETS_FOR_MODEL["mlp"]), value=v["dataset"], label="Data set",
                                      elem_id="pg-dataset")
            with gr.Row():
                samples = gr.Number(v["samples"], label="Samples", precision=0, minimum=50, elem_id="pg-samples")
                noise = gr.Slider(0, 1, v["noise"], step=0.05, label="Noise", elem_id="pg-noise")
                seed = gr.Number(v["seed"], label="Seed", precision=0, elem_id="pg-seed")
            with gr.Accordion("Network", open=True):
                with gr.Row():
                    layers = gr.Number(v["layers"], label="Hidden layers", precision=0, elem_id="pg-layers")
                    width = gr.Textbox(v["width"], label="Width", info="one number, or one per layer: 64, 32",
                                       elem_id="pg-width")
                with gr.Row():
                    activation = gr.Dropdown(list(ACTIVATIONS), value=v["activation"], allow_custom_value=True,
                                             label="Activation", info="or one per layer: relu, tanh",
                                             elem_id="pg-activation")
                    dropout = gr.Textbox(v["dropout"], label="Dropout", info="a rate, or one per layer",
                                         elem_id="pg-dropout")
                with gr.Row(visible=v["model"] in ("mlp", "resmlp")) as mlp_row:
                    batch_norm = gr.Checkbox(v["batch_norm"], label="Batch norm (MLP)")
                    residual = gr.Checkbox(v["residual"], label="Residual skips (MLP)")
                with gr.Row(visible=v["model"] == "rnn") as rnn_row:
                    rnn_cell = gr.Radio(list(RNN_CELLS), value=v["rnn_cell"], label="RNN cell")
                    bidirectional = gr.Checkbox(v["bidirectional"], label="Bidirectional")
                    pooling = gr.Radio(list(POOLINGS), value=v["pooling"], label="RNN pooling")
                with gr.Row(visible=v["model"] == "transformer") as transformer_row:
                    heads = gr.Number(v["heads"], label="Attention heads", precision=0)
                    norm = gr.Radio(list(NORM_PLACEMENTS), value=v["norm"], label="Norm placement")
                    positions = gr.Radio(list(POSITIONS), value=v["positions"], label="Positions")
            with gr.Accordion("Training", open=False):
                with gr.Row():
                    learning_rate = gr.Number(v["learning_rate"], label="Learning rate", elem_id="pg-lr")
                    batch_size = gr.Number(v["batch_size"], label="Batch size", precision=0, elem_id="pg-batch")
                    epochs = gr.Number(v["epochs"], label="Epochs", precision=0, elem_id="pg-epochs")
                with gr.Row():
                    accumulation = gr.Number(v["accumulation"], label="Gradient accumulation", precision=0)
                    scheduler = gr.Dropdown(list(SCHEDULERS), value=v["scheduler"], label="Schedule")
                    warmup_steps = gr.Number(v["warmup_steps"], label="Warmup steps", precision=0)
                with gr.Row():
                    weight_decay = gr.Number(v["weight_decay"], label="Weight decay")
                    clip_norm = gr.Number(v["clip_norm"], label="Gradient clipping", info="0 = off")
                    patience = gr.Number(v["patience"], label="Early-stop patience", precision=0, info="0 = off")
            with gr.Row():
                share = gr.Textbox(label="Share this setup", elem_id="pg-share", scale=4,
                                   info="copy it to a class, or open the link; paste one here and press Load")
                load_btn = gr.Button("Load", elem_id="pg-load", scale=1)
        with gr.Column(scale=3, min_width=360):
            stats = gr.Markdown("Press **Train** to start.", elem_id="pg-stats", elem_classes="studio-stats")
            boundary = gr.Image(label="Decision boundary", type="numpy", interactive=False, height=320,
                                elem_id="pg-boundary")
            predictions = gr.Dataframe(label="Predictions on test sequences", visible=False, interactive=False,
                                       elem_id="pg-predictions")
            with gr.Row():
                loss_plot = gr.LinePlot(None, x="epoch", y="value", color="series", title="Loss",
                                        height=240, elem_id="pg-loss-plot")
                acc_plot = gr.LinePlot(None, x="epoch", y="value", color="series",
                                       title="Accuracy", y_lim=[0, 1], height=240, elem_id="pg-acc-plot")
            download = gr.File(label="Trained model and its record", elem_id="pg-download", interactive=False,
                               file_count="multiple")
            log = gr.Textbox(label="Log", lines=6, max_lines=12, interactive=False, autoscroll=True,
                             elem_id="pg-log")

    form = dict(zip(FORM_FIELDS, (
        model, dataset, samples, noise, seed, layers, width, activation, dropout, batch_norm, residual,
        rnn_cell, bidirectional, pooling, heads, norm, positions, learning_rate, weight_decay, batch_size,
        epochs, accumulation, scheduler, warmup_steps, clip_norm, patience,
    )))
    inputs = list(form.values())
    results = [stats, boundary, predictions, loss_plot, acc_plot, log, share, download]
    panes = [boundary, predictions, mlp_row, rnn_row, transformer_row]  # shown or hidden by the model

    def show(config) -> dict:
        """Form values (and the matching dataset choices and picture panes) for a config."""
        values = form_values(config)
        updates = {form[name]: values[name] for name in FORM_FIELDS}
        updates[dataset] = gr.update(choices=list(DATASETS_FOR_MODEL[config.model]), value=config.dataset)
        updates[boundary] = gr.update(visible=config.task == "points", value=None)
        updates[predictions] = gr.update(visible=config.task == "sequence", value=None)
        updates[mlp_row] = gr.update(visible=config.model in ("mlp", "resmlp"))
        updates[rnn_row] = gr.update(visible=config.model == "rnn")
        updates[transformer_row] = gr.update(visible=config.model == "transformer")
        return updates

    @form_handler(FORM_FIELDS)
    @user_errors
    def train(values: dict, request: gr.Request):
        from studio.devices import set_torch_threads
        from studio.events import DoneEvent, ErrorEvent, EvalEvent, LogEvent, StepEvent, start_run
        from studio.playground.datasets import make_dataset
        from studio.playground.pictures import BoundaryPainter, point_extent, snapshot_for
        from studio.playground.saving import save_run
        from studio.playground.share import encode
        from studio.playground.training import train_playground

        config = parse_form(values)
        key = session_key(request)
        if key in runs and not runs[key].finished:
            raise gr.Error("A training run is already going in this tab; press Stop first.")
        data = make_dataset(config)
        set_torch_threads(settings.torch_threads or 1)  # tiny networks train fastest on one thread
        painter = None
        if data.kind == "points":
            painter = BoundaryPainter(np.concatenate([data.train.x.numpy(), data.test.x.numpy()]),
                                      np.concatenate([data.train.y.numpy(), data.test.y.numpy()]), point_extent(data))
        run = start_run(lambda r: train_playground(config, r, data, snapshot_for(data), PICTURE_SECONDS),
                        name="playground")
        runs[key] = run
        history, lines, started = [], [], time.monotonic()
        plotted_at, plotted_epochs = 0.0, 0
        step = total = 0
        epoch, params, last = 0.0, 0, None
        try:
            for batch in run.batches(UI_REFRESH_SECONDS):
                update = {}
                for event in batch:
                    if isinstance(event, StepEvent):
                        step, total, epoch = event.step, event.total_steps, event.epoch
                    elif isinstance(event, EvalEvent):
                        last = {"epoch": event.epoch, **event.metrics}
                        history.append(last)
                        lines.append(f"epoch {event.epoch:.0f}: loss {event.metrics['train_loss']:.4f} · "
                                     f"val {event.metrics['val_loss']:.4f} · test acc {event.metrics['test_accuracy']:.3f}")
                        if "boundary" in event.extras:
                            update[boundary] = painter.paint(event.extras["boundary"])
                        if "predictions" in event.extras:
                            update[predictions] = pd.DataFrame(event.extras["predictions"])
                    elif isinstance(event, LogEvent):
                        lines.append(event.message)
                        params = int(event.values.get("parameters", params))
                    elif isinstance(event, ErrorEvent):
                        raise gr.Error(event.message)
                    elif isinstance(event, DoneEvent):
                        result = event.result
                        folder = save_run(config, result, settings.outputs_dir)
                        update[download] = [str(folder / "model.pt"), str(folder / "record.json")]
                        step, params = result.steps, result.parameters
                        state = "Stopped" if result.stopped else "Done"
                        update[stats] = (f"**{state}.** Best epoch {result.best_epoch} restored · test accuracy "
                                         f"**{result.test_accuracy:.3f}** · {result.steps} steps in "
                                         f"{result.seconds:.1f}s ({result.steps_per_second:.0f} steps/s) · "
                                         f"{result.parameters:,} parameters")
                if stats not in update:
                    update[stats] = _stats(config, step, total, epoch, params, started, last)
                finished = isinstance(batch[-1], DoneEvent)
                due = time.monotonic() - plotted_at >= PICTURE_SECONDS and len(history) > plotted_epochs
                if finished or due or plotted_at == 0.0:
                    plotted_at, plotted_epochs = time.monotonic(), len(history)
                    update[loss_plot] = _curves(history, "loss")
                    update[acc_plot] = _curves(history, "accuracy")
                    update[log] = "\n".join(lines[-200:])
                    update[share] = encode(config)
                yield update
        finally:
            run.request_stop()  # the page went away or the run ended: never leave a trainer running

    def stop(request: gr.Request):
        run = runs.get(session_key(request))
        if run is not None:
            run.request_stop()

    @user_errors
    def change_model(name: str):
        return show(defaults_for(name))

    def reset(name: str, request: gr.Request):
        stop(request)
        updates = show(defaults_for(name if name in MODELS else "mlp"))
        updates.update({stats: "Press **Train** to start.", loss_plot: None, acc_plot: None, log: "", share: "", download: None})
        return updates

    @user_errors
    def load_setup(text: str):
        from studio.playground.share import decode

        return show(decode(text))

    def load_from_url(request: gr.Request):
        text = request.query_params.get("setup") if request else None
        if not text:
            return {share: gr.skip()}
        try:
            from studio.playground.share import decode

            updates = show(decode(text))
            updates[share] = text
            return updates
        except Exception:
            gr.Warning("The setup in this link could not be read; the defaults are shown instead.")
            return {share: gr.skip()}

    train_event = train_btn.click(train, inputs, results, api_name="playground_train",
                                  concurrency_limit=4, concurrency_id="playground")
    stop_btn.click(stop, None, None, queue=False, api_name="playground_stop")
    reset_btn.click(reset, model, inputs + results + panes[2:], api_name="playground_reset")
    model.input(change_model, model, inputs + panes, api_visibility="private")
    load_btn.click(load_setup, share, inputs + panes, api_name="playground_load")
    demo.load(load_from_url, None, inputs + panes + [share], api_visibility="private")
    return {"train": train_event, "form": form, "results": results}
