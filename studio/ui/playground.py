"""The Playground tab: pick a network and a toy data set, see both at once, train it, watch it learn.

Thin by design: widgets become a `PlaygroundConfig` through `studio.playground.form`;
training is a job in a worker process of its own (`studio.playground.tasks:train`),
and `PlaygroundView` (`playground_view.py`) turns its events into plot, picture and log updates. The
page does no tensor work: the data set and the network diagram it draws before
Train are NumPy and SVG (`studio.playground.preview`).
"""

from __future__ import annotations

import html

import gradio as gr

from studio.errors import StudioError
from studio.playground.config import (
    ACTIVATIONS, DATASETS_FOR_MODEL, FEATURE_IDS, MODELS, NORM_PLACEMENTS, POINT_DATASETS, POOLINGS, POSITIONS,
    RNN_CELLS, SCHEDULERS, defaults_for,
)
from studio.playground.form import FORM_FIELDS, form_values, parse_form
from studio.playground.share import decode, encode
from studio.playground.toydata import FEATURES

from .blocks import packed_on
from .common import form_handler, user_errors
from .context import Studio
from .playground_lessons import CompareRow, LessonRow
from .playground_view import UI_REFRESH_SECONDS, PlaygroundView
from .relay import job_event, relay

KIND = "playground"
TASK = "studio.playground.tasks:train"
POINT_FIELDS = ("features", "balance")  # controls only 2-D point data sets have (hidden for the others)
DATA_FIELDS = ("dataset", "samples", "noise", "test_fraction", "balance", "seed")  # what the data picture shows
READY = "Press **Train** to start."
class FormSlider(gr.Slider):
    """A slider whose value the form checks, not Gradio, so a refusal (NaN, out of range) names the field.

    `is_template` is Gradio's way to reuse a component's front end (the page draws a plain slider)."""

    is_template = True

    def preprocess(self, payload):
        return payload


def share_link(config, request: gr.Request | None) -> str:
    """The setup as a link to this page (from the page's own address when the browser sent it)."""
    headers = getattr(request, "headers", None) or {}
    page = (headers.get("referer") or "").split("?", 1)[0].split("#", 1)[0]
    code = encode(config)
    return f"{page}?setup={code}" if page.startswith(("http://", "https://")) else code


def create_playground_tab(demo: gr.Blocks, studio: Studio) -> dict:
    from studio.playground.preview import data_picture, network_diagram

    # Each run gets a fresh worker, forked from the fork server (torch and the Playground engine imported), which
    # does a tiny run with pictures before it takes the visitor's (studio/jobs/worker.py `prepare_worker`).
    studio.warm_up_with(KIND, "studio.playground.tasks:warm")
    start = defaults_for("mlp")
    v = form_values(start)

    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            lesson = LessonRow.build()
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="pg-train")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="pg-stop")
                reset_btn = gr.Button("Reset", elem_id="pg-reset")
            with gr.Row():
                model = gr.Dropdown(list(MODELS), value=v["model"], label="Model", elem_id="pg-model",
                                    info="The kind of network: MLP, residual MLP, CNN, RNN or transformer.")
                # Every data set is a valid value (the API trains any model); the page offers the model's own.
                dataset = gr.Dropdown(list(DATASETS_FOR_MODEL["mlp"]), value=v["dataset"], label="Data set",
                                      allow_custom_value=True, elem_id="pg-dataset",
                                      info="What the network learns to tell apart; drawn on the right.")
            with gr.Row():
                samples = gr.Number(v["samples"], label="Samples", elem_id="pg-samples",
                                    info="How many points or sequences to make (digits always has 1,797).")
                seed = gr.Number(v["seed"], label="Seed", elem_id="pg-seed",
                                 info="The same seed makes the same data and the same run.")
            with gr.Row():
                noise = FormSlider(0, 1, v["noise"], step=0.05, label="Noise", elem_id="pg-noise",
                                  info="Jitter of the points, or the share of wrong labels on sequences.")
                test_fraction = FormSlider(0.05, 0.5, v["test_fraction"], step=0.05, label="Test fraction",
                                          elem_id="pg-test-fraction",
                                          info="Share of the data kept aside to test on (rings in the picture).")
            features = gr.CheckboxGroup([(FEATURES[f][0], f) for f in FEATURE_IDS], value=v["features"],
                                        label="Input features", elem_id="pg-features",
                                        visible=start.dataset in POINT_DATASETS,
                                        info="What the network sees of each 2-D point; x² + y² makes a circle easy.")
            balance = FormSlider(0.1, 0.9, v["balance"], step=0.05, label="Class balance", elem_id="pg-balance",
                                 visible=start.dataset in POINT_DATASETS,
                                 info="Share of the points that are blue: away from 0.5 one class is rare, and "
                                      "accuracy flatters a network that always says the common one.")
            with gr.Accordion("Network", open=True):
                diagram = gr.HTML(network_diagram(start), elem_id="pg-network")
                with gr.Row():
                    layers = gr.Number(v["layers"], label="Hidden layers", elem_id="pg-layers",
                                       info="How many hidden layers (or blocks) between input and output.")
                    width = gr.Textbox(v["width"], label="Width", elem_id="pg-width",
                                       info="Units per layer: one number, or one per layer such as 64, 32.")
                with gr.Row():
                    activation = gr.Dropdown(list(ACTIVATIONS), value=v["activation"], allow_custom_value=True,
                                             label="Activation", elem_id="pg-activation",
                                             info="The bend each unit applies; or one per layer: relu, tanh.")
                    dropout = gr.Textbox(v["dropout"], label="Dropout", elem_id="pg-dropout",
                                         info="Share of units switched off at random while training, per layer.")
                with gr.Row(visible=v["model"] in ("mlp", "resmlp")) as mlp_row:
                    batch_norm = gr.Checkbox(v["batch_norm"], label="Batch norm (MLP)", elem_id="pg-batch-norm",
                                             info="Rescales each layer's outputs per batch; needs 2+ rows a batch.")
                    residual = gr.Checkbox(v["residual"], label="Residual skips (MLP)",
                                           info="Adds a layer's input to its output where the widths match.")
                with gr.Row(visible=v["model"] == "rnn") as rnn_row:
                    rnn_cell = gr.Radio(list(RNN_CELLS), value=v["rnn_cell"], label="RNN cell",
                                        info="LSTM or the lighter GRU.")
                    bidirectional = gr.Checkbox(v["bidirectional"], label="Bidirectional",
                                                info="Reads each sequence forwards and backwards.")
                    pooling = gr.Radio(list(POOLINGS), value=v["pooling"], label="RNN pooling",
                                       info="Summarise by learned attention or by the last step.")
                with gr.Row(visible=v["model"] == "transformer") as transformer_row:
                    heads = gr.Number(v["heads"], label="Attention heads",
                                      info="Parallel attention maps per block; must divide the width.")
                    norm = gr.Radio(list(NORM_PLACEMENTS), value=v["norm"], label="Norm placement",
                                    info="Layer norm before (pre) or after (post) each sub-layer.")
                    positions = gr.Radio(list(POSITIONS), value=v["positions"], label="Positions",
                                         info="Learned position vectors or fixed sine waves.")
            with gr.Accordion("Training", open=False):
                with gr.Row():
                    learning_rate = gr.Number(v["learning_rate"], label="Learning rate", elem_id="pg-lr",
                                              info="Step size of each update; too big diverges, too small crawls.")
                    batch_size = gr.Number(v["batch_size"], label="Batch size", elem_id="pg-batch",
                                           info="Examples per update.")
                    epochs = gr.Number(v["epochs"], label="Epochs", elem_id="pg-epochs",
                                       info="Passes over the training data (at most 2,000).")
                with gr.Row():
                    accumulation = gr.Number(v["accumulation"], label="Gradient accumulation",
                                             info="Batches summed into one update (a bigger batch in less memory).")
                    scheduler = gr.Dropdown(list(SCHEDULERS), value=v["scheduler"], label="Schedule",
                                            info="How the learning rate falls after warmup.")
                    warmup_steps = gr.Number(v["warmup_steps"], label="Warmup steps",
                                             info="Updates over which the learning rate ramps up from zero.")
                with gr.Row():
                    weight_decay = gr.Number(v["weight_decay"], label="Weight decay",
                                             info="Pulls weights towards zero; a brake on overfitting.")
                    clip_norm = gr.Number(v["clip_norm"], label="Gradient clipping",
                                          info="Largest gradient norm allowed per update; 0 turns it off.")
                    patience = gr.Number(v["patience"], label="Early-stop patience",
                                         info="Epochs without a better validation loss before stopping; 0 = off.")
            with gr.Row():
                share = gr.Textbox(share_link(start, None), label="Share this setup", elem_id="pg-share",
                                   scale=4, buttons=["copy"],
                                   info="Copy this link for a class; or paste a link or pg1. string and press Load.")
                load_btn = gr.Button("Load", elem_id="pg-load", scale=1)
        with gr.Column(scale=3, min_width=360):
            stats = gr.Markdown(READY, elem_id="pg-stats", elem_classes="studio-stats")
            # PNG, not Gradio's default WebP: lossless for flat colours, and it encodes several times faster
            # in the page process, which draws a picture or two every second while a run trains.
            picture = gr.Image(data_picture(start), label="Data (training points filled, test points as rings) "
                               "and the decision boundary", type="numpy", interactive=False, height=320,
                               format="png", elem_id="pg-boundary")
            predictions = gr.Dataframe(label="Predictions on test sequences", visible=False, interactive=False,
                                       elem_id="pg-predictions")
            inside = gr.Image(None, label="Inside the network", type="numpy", interactive=False, format="png",
                              elem_id="pg-inside")
            with gr.Row():
                loss_plot = gr.LinePlot(None, x="epoch", y="value", color="series", title="Loss",
                                        height=240, elem_id="pg-loss-plot")
                acc_plot = gr.LinePlot(None, x="epoch", y="value", color="series",
                                       title="Accuracy", y_lim=[0, 1], height=240, elem_id="pg-acc-plot")
            compare = CompareRow.build()
            story = gr.Markdown("", elem_id="pg-story")
            download = gr.File(label="Trained model and its record", elem_id="pg-download", interactive=False,
                               file_count="multiple")
            log = gr.Textbox(label="Log", lines=6, max_lines=12, interactive=False, autoscroll=True,
                             elem_id="pg-log")

    form = dict(zip(FORM_FIELDS, (
        model, dataset, samples, noise, test_fraction, balance, features, seed, layers, width, activation, dropout,
        batch_norm, residual, rnn_cell, bidirectional, pooling, heads, norm, positions, learning_rate,
        weight_decay, batch_size, epochs, accumulation, scheduler, warmup_steps, clip_norm, patience,
    )))
    inputs = list(form.values())
    point_controls = [form[name] for name in POINT_FIELDS]
    results = [stats, picture, predictions, inside, loss_plot, acc_plot, story, log, download]
    panes = [mlp_row, rnn_row, transformer_row]
    described = [share, diagram, picture]  # what follows the controls before any training
    cleared = [stats, predictions, inside, loss_plot, acc_plot, story, log, download]

    def show(config, request: gr.Request | None, clear: bool = True) -> dict:
        """Form values, panes, share link, diagram and data picture for a config; old results cleared."""
        values = form_values(config)
        updates = {form[name]: values[name] for name in FORM_FIELDS}
        updates[dataset] = gr.update(choices=list(DATASETS_FOR_MODEL[config.model]), value=config.dataset)
        for name in POINT_FIELDS:
            updates[form[name]] = gr.update(value=values[name], visible=config.task == "points")
        updates[mlp_row] = gr.update(visible=config.model in ("mlp", "resmlp"))
        updates[rnn_row] = gr.update(visible=config.model == "rnn")
        updates[transformer_row] = gr.update(visible=config.model == "transformer")
        updates[share] = share_link(config, request)
        updates[diagram] = network_diagram(config)
        updates[picture] = data_picture(config)
        if clear:
            updates.update({stats: READY, predictions: gr.update(value=None, visible=config.task == "sequence"),
                            inside: None, loss_plot: None, acc_plot: None, story: "", log: "", download: None})
        return updates

    @form_handler((*FORM_FIELDS, "kept"))
    @user_errors
    def train(values: dict, request: gr.Request):
        config = parse_form(values)
        if studio.attach(request, KIND) is not None:
            raise StudioError("A training run of yours is already going; press Stop first.")
        job = studio.submit(request, KIND, TASK, config, label=f"{config.model} on {config.dataset}")
        view = PlaygroundView(config, values["kept"])
        yield view.starting()
        yield from relay(studio, job, view, interval=UI_REFRESH_SECONDS)  # a failure shows on the stats line too

    def stop(request: gr.Request):
        studio.stop(request, KIND)

    @form_handler(FORM_FIELDS)
    def describe(values: dict, request: gr.Request):
        """Share link and diagram follow every control; a field that does not parse is named in the diagram."""
        try:
            config = parse_form(values)
        except (StudioError, ValueError) as err:
            return {diagram: f'<p class="pg-problem">⚠ {html.escape(str(err))}</p>', share: gr.skip()}
        return {share: share_link(config, request), diagram: network_diagram(config)}

    @form_handler(FORM_FIELDS)
    def draw_data(values: dict, request: gr.Request):
        """The data set is drawn the moment it is chosen (or its noise, size, split, balance or seed change)."""
        try:
            config = parse_form(values)
        except (StudioError, ValueError):
            return {picture: gr.skip(), **{c: gr.skip() for c in point_controls}}
        return {picture: data_picture(config), **{c: gr.update(visible=config.task == "points")
                                                  for c in point_controls}}

    @user_errors
    def change_model(name: str, request: gr.Request):
        return show(defaults_for(name), request)

    def reset(name: str, request: gr.Request):
        stop(request)
        return show(defaults_for(name if name in MODELS else "mlp"), request)

    @user_errors
    def load_setup(text: str, request: gr.Request):
        return show(decode(text), request)

    shown = inputs + panes + described + cleared
    open_lesson = lesson.wire(show, shown, form)
    compare.wire()

    def load_from_url(request: gr.Request):
        """A link with ?lesson= opens the lesson at step 1, one with ?setup= fills the form; otherwise only
        the share box learns the page's address (the form keeps whatever the visitor may already have typed)."""
        opened = open_lesson(request)
        if opened:
            return opened
        text = request.query_params.get("setup") if request else None
        if not text:
            return {share: share_link(start, request)}
        try:
            return show(decode(text), request, clear=False)
        except Exception:
            gr.Warning("The setup in this link could not be read; the defaults are shown instead.")
            return {share: share_link(start, request)}

    # The stats line is the run's progress (bar, step, ETA, from the first answer "Starting…" on), as every job's
    # status line is (no event shows Gradio's tracker: see `StudioBlocks`).
    train_event = job_event([train_btn.click], train, [*inputs, compare.kept], [*results, compare.last_run], stats,
                            api_name="playground_train")
    stop_btn.click(stop, None, None, queue=False, api_name="playground_stop")
    reset_btn.click(reset, model, shown, api_name="playground_reset")
    model.input(change_model, model, shown, api_visibility="private")
    load_btn.click(load_setup, share, shown, api_name="playground_load")
    demo.load(load_from_url, None, shown + lesson.shown + [lesson.link], api_visibility="private")
    typed = [c for c in inputs if c is not model]
    packed_on([c.input for c in typed], describe, inputs, [share, diagram], trigger_mode="always_last",
              api_visibility="private")
    packed_on([form[name].input for name in DATA_FIELDS], draw_data, inputs, [picture, *point_controls],
              trigger_mode="always_last", api_visibility="private")
    return {"train": train_event, "form": form, "results": results}

