"""The Fine-tune tab: data, method and training settings in; a live loss plot, a log and results out.

Thin by design: the form becomes a `FinetuneConfig` (`studio.finetune.form`) and is
checked here at once (fields, uploads, data, the step limit); training is a job in a
worker process of its own (`studio.finetune.tasks:train`), and `FinetuneView` turns
its events into a progress line, plots and a log. Everything a visitor sees or acts
on (runs, resume, merge, export, compare) is inside their own outputs folder. A
training keeps going when its page goes away: a reload re-attaches to it, and only
Stop (the visitor's own) ends it. No torch here: Check and merge are short jobs too.
"""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from studio.errors import StudioError
from studio.finetune.config import BIASES, METHODS, OVERLONG, PRECISIONS, QUANT_TYPES, SCHEDULERS
from studio.finetune.curriculum import load_stage_data
from studio.finetune.data import EXAMPLE_SETS
from studio.finetune.form import FORM_FIELDS, defaults, parse_form
from studio.finetune.limits import check_steps
from studio.finetune.requests import ModelScope, RunRequest, TrainRequest
from studio.finetune.runs import RunFolder, curve_rows, list_runs, runs_dir
from studio.registry import presets

from .common import form_handler, user_errors
from .context import Studio
from .finetune_view import (
    KIND, RUN_COLUMNS, SHORT_KIND, UI_REFRESH_SECONDS, AnswerView, FinetuneView, FirstCurveSoon, frame, run_choices,
    runs_table, single,
)
from .relay import job_event, relay


def create_finetune_tab(demo: gr.Blocks, studio: Studio) -> dict:
    # Each run gets a fresh worker, which does a one-step run of these defaults before it takes the visitor's.
    studio.warm_up_with(KIND, "studio.finetune.tasks:warm")
    v = defaults()
    text_models = [p.id for p in presets("text")]

    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="ft-train")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop")
                check_btn = gr.Button("Check", elem_id="ft-check")
            upload = gr.File(label="Data: upload .jsonl, .json, .csv or .txt (several for a curriculum)",
                             file_types=[".jsonl", ".json", ".csv", ".txt"], file_count="multiple", type="filepath",
                             elem_id="ft-upload")
            example = gr.Dropdown(list(EXAMPLE_SETS), value=v["example"], label="…or an example set",
                                  info="used when nothing is uploaded", elem_id="ft-example")
            model = gr.Dropdown(text_models, value=v["model"], allow_custom_value=True, label="Base model",
                                info="a preset or a hub id", elem_id="ft-model")
            method = gr.Radio(list(METHODS), value=v["method"], label="Method",
                              info="LoRA adapter, LoRA on a 4-bit base (QLoRA), or every weight", elem_id="ft-method")
            with gr.Accordion("LoRA / QLoRA", open=False):
                with gr.Row():
                    rank = gr.Number(v["rank"], label="Rank", precision=0)
                    alpha = gr.Number(v["alpha"], label="Alpha", precision=0)
                    dropout = gr.Number(v["dropout"], label="Dropout")
                with gr.Row():
                    target_modules = gr.Textbox(v["target_modules"], label="Target modules",
                                                info="all-linear, default (peft's), or q_proj, v_proj")
                    bias = gr.Dropdown(list(BIASES), value=v["bias"], label="Bias")
                with gr.Row():
                    quant_type = gr.Radio(list(QUANT_TYPES), value=v["quant_type"], label="4-bit type (QLoRA)")
                    double_quant = gr.Checkbox(v["double_quant"], label="Double quantization (QLoRA)")
            with gr.Accordion("Training", open=False):
                with gr.Row():
                    learning_rate = gr.Number(v["learning_rate"], label="Learning rate", elem_id="ft-lr")
                    epochs = gr.Number(v["epochs"], label="Epochs", elem_id="ft-epochs")
                    max_steps = gr.Number(v["max_steps"], label="Max steps", precision=0, info="0 = use epochs",
                                          elem_id="ft-max-steps")
                with gr.Row():
                    batch_size = gr.Number(v["batch_size"], label="Batch size", precision=0)
                    grad_accumulation = gr.Number(v["grad_accumulation"], label="Gradient accumulation", precision=0)
                    warmup_steps = gr.Number(v["warmup_steps"], label="Warmup steps", precision=0)
                with gr.Row():
                    scheduler = gr.Dropdown(list(SCHEDULERS), value=v["scheduler"], label="Schedule")
                    weight_decay = gr.Number(v["weight_decay"], label="Weight decay")
                    precision = gr.Dropdown(list(PRECISIONS), value=v["precision"], label="Precision")
                with gr.Row():
                    max_length = gr.Number(v["max_length"], label="Max length (tokens)", precision=0)
                    overlong = gr.Radio(list(OVERLONG), value=v["overlong"], label="Longer rows")
                    gradient_checkpointing = gr.Checkbox(v["gradient_checkpointing"], label="Gradient checkpointing")
                with gr.Row():
                    eval_steps = gr.Number(v["eval_steps"], label="Eval every", precision=0)
                    logging_steps = gr.Number(v["logging_steps"], label="Log every", precision=0)
                    save_steps = gr.Number(v["save_steps"], label="Save every", precision=0)
                with gr.Row():
                    seed = gr.Number(v["seed"], label="Seed", precision=0)
                    validation_fraction = gr.Number(v["validation_fraction"], label="Validation fraction")
                    restore_best = gr.Checkbox(v["restore_best"], label="End with the best eval weights",
                                               elem_id="ft-restore-best")
                processes = gr.Number(v["processes"], label="Processes", precision=0, minimum=1,
                                      info="more than 1: accelerate launch on that many CPU cores or GPUs",
                                      elem_id="ft-processes")
            with gr.Accordion("Curriculum and comparison", open=False):
                stages = gr.Code("", language="json", label="Curriculum stages (JSON; empty = one stage)",
                                 elem_id="ft-stages")
                gr.Markdown('e.g. `[{"name": "easy", "data": "sums-in-words-easy", "difficulty": 1}, '
                            '{"name": "hard", "data": "sums-in-words", "difficulty": 2, "learning_rate": 0.001}]`; '
                            "a stage's data is an example set or the file name of one of your uploads")
                compare_prompts = gr.Textbox("", lines=3, label="Before/after prompts (one a line; empty = "
                                             "held-out rows)")
        with gr.Column(scale=3, min_width=380):
            status = gr.Markdown("Press **Check** to see the trainable parameters, or **Train**.",
                                 elem_id="ft-status", elem_classes="studio-stats")
            with gr.Row():
                loss_plot = gr.LinePlot(None, x="step", y="value", color="series", title="Loss", height=260,
                                        elem_id="ft-loss-plot")
                lr_plot = gr.LinePlot(None, x="step", y="value", color="series", title="Learning rate", height=260,
                                      elem_id="ft-lr-plot")
            log = gr.Textbox(label="Log", lines=6, max_lines=12, interactive=False, autoscroll=True, elem_id="ft-log")
            result = gr.Markdown("", elem_id="ft-result")
            comparison = gr.Dataframe(headers=["prompt", "expected", "before", "after"], label="Before / after "
                                      "(greedy)", interactive=False, wrap=True, elem_id="ft-comparison")
            with gr.Accordion("Runs", open=True):
                with gr.Row():
                    run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, elem_id="ft-run", scale=3)
                    resume_btn = gr.Button("Resume", elem_id="ft-resume", scale=1)
                    refresh_btn = gr.Button("Refresh", elem_id="ft-refresh", scale=1)
                runs_df = gr.Dataframe(pd.DataFrame(columns=RUN_COLUMNS), label="Your runs (newest first)",
                                       interactive=False, elem_id="ft-runs")
                compare_pick = gr.Dropdown([], multiselect=True, label="Compare runs' eval loss",
                                           elem_id="ft-compare-runs")
                runs_plot = gr.LinePlot(None, x="step", y="value", color="run", title="Eval loss by run",
                                        height=240, elem_id="ft-runs-plot")
                with gr.Row():
                    merge_btn = gr.Button("Merge LoRA into the base and save", elem_id="ft-merge")
                    export_btn = gr.Button("Export accelerate launch", elem_id="ft-export")
                export_out = gr.Code("", language="shell", label="Result", elem_id="ft-export-out")

    form = dict(zip(FORM_FIELDS, (
        upload, example, model, method, rank, alpha, dropout, target_modules, bias, quant_type, double_quant,
        learning_rate, epochs, max_steps, batch_size, grad_accumulation, warmup_steps, scheduler, weight_decay,
        max_length, overlong, gradient_checkpointing, eval_steps, logging_steps, save_steps, seed,
        validation_fraction, precision, restore_best, processes, stages, compare_prompts,
    )))
    outputs = [status, loss_plot, lr_plot, log, result, comparison, runs_df, run_pick]

    # ---- helpers: the visitor's own folder, a checked request -------------------------------------------
    def mine(request: gr.Request):
        return studio.settings_for(request).outputs_dir

    def scope(request: gr.Request) -> ModelScope:
        return ModelScope.of(studio.model_scope(request))

    def train_request(values: dict, request: gr.Request, check_only: bool = False) -> TrainRequest:
        """The form checked here, at once: fields, uploads (count), data (names, rows) and the step limit."""
        settings = studio.settings  # read now: the admin may have changed a limit
        config, uploads = parse_form(values, settings.max_uploads)
        check_steps(config, load_stage_data(config, uploads), settings.max_finetune_steps)
        return TrainRequest(config, uploads, scope(request), check_only=check_only)

    def view_for(request: gr.Request, run: str | None = None, lines=None) -> FinetuneView:
        return FinetuneView(mine(request), run, studio.settings.max_job_minutes * 60, lines)

    def start(request: gr.Request, task: str, payload, label: str, view: FinetuneView):
        if studio.attach(request, KIND) is not None:
            raise StudioError("A fine-tune of yours is already running; press Stop first (or wait for it to end).")
        job = studio.submit(request, KIND, f"studio.finetune.tasks:{task}", payload, label=label)
        yield (view.status, *view.skip()[1:4], "", None, *view.skip()[6:])
        yield from relay(studio, job, view, interval=UI_REFRESH_SECONDS, stop_on_leave=False,  # reload re-attaches
                         events=FirstCurveSoon(job.run))

    # ---- handlers ----------------------------------------------------------------------------------------
    @form_handler(FORM_FIELDS)
    @user_errors
    def train(values: dict, request: gr.Request):
        payload = train_request(values, request)
        yield from start(request, "train", payload, f"fine-tune {payload.config.model}", view_for(request))

    @user_errors
    def resume(run_name: str, request: gr.Request):
        folder = RunFolder.find(mine(request), run_name)  # another visitor's run is "no such run"
        if folder.status in ("finished", "failed"):
            raise StudioError(f"Run {folder.name} is {folder.status}; start a new run to train more.")
        view = view_for(request, folder.name, [f"Resuming run {folder.name}"])
        view.status = f"Resuming {folder.name}…"
        yield from start(request, "resume", RunRequest(folder.name, scope(request)), f"resume {folder.name}", view)

    def stop(request: gr.Request):
        studio.stop(request, KIND)  # this visitor's fine-tune only

    @form_handler(FORM_FIELDS)
    @user_errors
    def check(values: dict, request: gr.Request):
        job = studio.submit(request, SHORT_KIND, "studio.finetune.tasks:train",
                            train_request(values, request, check_only=True), label="fine-tune check")
        yield from single(relay(studio, job, AnswerView()))

    def show_runs(selected, request: gr.Request):
        names = [r["run"] for r in list_runs(mine(request))]
        return runs_table(mine(request)), run_choices(mine(request), selected), gr.update(choices=names)

    @user_errors
    def compare_runs(names: list[str], request: gr.Request):
        rows = []
        for name in names or []:
            logs = RunFolder.find(mine(request), name).logs()
            rows += [r for r in curve_rows(logs, run=name) if r["series"] == "eval loss"]
        return frame(rows)

    @user_errors
    def merge(run_name: str, request: gr.Request):
        folder = RunFolder.find(mine(request), run_name)
        if folder.status != "finished":
            raise StudioError(f"Run {folder.name} is {folder.status}: finish it (Resume) before merging.")
        job = studio.submit(request, SHORT_KIND, "studio.finetune.tasks:merge", RunRequest(folder.name,
                                                                                        scope(request)),
                            label=f"merge {folder.name}")
        yield from single(relay(studio, job, AnswerView(lambda name: f"# merged model saved as run {name}/merged\n"
                                                                     "# (the Text tab loads it by that folder)")))

    @user_errors
    def export(run_name: str, request: gr.Request):
        folder = RunFolder.find(mine(request), run_name)
        job = studio.submit(request, SHORT_KIND, "studio.finetune.tasks:export", RunRequest(folder.name,
                                                                                         scope(request)),
                            label=f"export {folder.name}")
        yield from single(relay(studio, job, AnswerView(lambda f: f"# config: {f['config_file']}\n{f['command']}")))

    def reattach(selected, request: gr.Request):
        """Page load: the visitor's runs, then, when a fine-tune of theirs is running, its progress again."""
        yield (gr.skip(),) * 6 + (runs_table(mine(request)), run_choices(mine(request), selected))
        job = studio.attach(request, KIND)
        if job is None:
            return
        payload = job.payload
        run = payload.run if isinstance(payload, RunRequest) else None
        view = view_for(request, run, ["Re-attached to your running fine-tune."])
        if run is None:  # a new run: its folder is the visitor's newest run made since the job began
            since, outputs_dir = time.strftime("%Y%m%d-%H%M%S", time.localtime(job.created)), mine(request)

            def find_run():
                newest = next((r["run"] for r in list_runs(outputs_dir) if r["run"] >= since), None)
                return RunFolder(runs_dir(outputs_dir) / newest) if newest else None

            view.find_run = find_run
            view._look_for_run()
        yield (view.status, *view.plots(), "\n".join(view.lines), "", gr.skip(), gr.skip(), gr.skip())
        yield from relay(studio, job, view, interval=UI_REFRESH_SECONDS, stop_on_leave=False, events=job.follow())

    inputs = list(form.values())
    # Progress on the status line alone (no Gradio tracker: one on each of the 8 outputs cost the browser 0.4 s
    # of CPU in the first second of a run, which the run itself needed on a small machine).
    train_event = job_event([train_btn.click], train, inputs, outputs, status, api_name="finetune_train")
    resume_event = job_event([resume_btn.click], resume, run_pick, outputs, status, api_name="finetune_resume")
    stop_btn.click(stop, None, None, queue=False, api_name="finetune_stop")
    job_event([check_btn.click], check, inputs, status, status, api_name="finetune_check")
    refresh_btn.click(show_runs, run_pick, [runs_df, run_pick, compare_pick], api_name="finetune_runs")
    compare_pick.change(compare_runs, compare_pick, runs_plot, api_name="finetune_compare_runs")
    for button, handler, name in ((merge_btn, merge, "finetune_merge"), (export_btn, export, "finetune_export")):
        job_event([button.click], handler, run_pick, export_out, export_out, working="# working…", api_name=name)
    # Hidden: a run to re-attach shows itself on the status line; nothing to re-attach answers at once.
    demo.load(reattach, run_pick, outputs, api_name="finetune_attach")
    return {"train": train_event, "resume": resume_event, "form": form}
