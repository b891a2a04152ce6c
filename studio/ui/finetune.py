"""The Fine-tune tab: data, method and training settings in; a live loss plot, a log and results out.

Thin by design: the form becomes a `FinetuneConfig` (`studio.finetune.form`), the
engine trains on the event stream, and each batch of events becomes a progress
line, plot and log update. Training and Resume share one concurrency id, so one
training runs at a time and the next waits in the queue with its position shown.
Nothing heavy is imported until a handler runs.
"""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from studio.finetune.config import BIASES, METHODS, OVERLONG, PRECISIONS, QUANT_TYPES, SCHEDULERS
from studio.finetune.data import EXAMPLE_SETS
from studio.finetune.form import FORM_FIELDS, defaults, parse_form
from studio.finetune.runs import RunFolder, curve_rows, list_runs, stage_starts
from studio.registry import presets
from studio.settings import Settings

from .common import form_handler, session_key, user_errors

UI_REFRESH_SECONDS = 0.5
RUN_COLUMNS = ["run", "status", "model", "method", "data", "steps", "eval loss"]


def loss_frame(logs: list[dict]) -> pd.DataFrame | None:
    """Train and eval loss with a vertical mark where each curriculum stage starts; None until there is a point."""
    rows = [r for r in curve_rows(logs) if r["series"] != "learning rate"]
    if not rows:
        return None
    top = max(r["value"] for r in rows)
    starts = stage_starts(logs)
    if len(starts) > 1:
        for step, stage in starts:
            rows += [{"step": step, "value": 0.0, "series": f"stage: {stage}"},
                     {"step": step, "value": top, "series": f"stage: {stage}"}]
    return pd.DataFrame(rows).astype({"step": "float64", "value": "float64"})


def lr_frame(logs: list[dict]) -> pd.DataFrame | None:
    rows = [r for r in curve_rows(logs) if r["series"] == "learning rate"]
    return pd.DataFrame(rows).astype({"step": "float64", "value": "float64"}) if rows else None


def progress_line(step: int, total: int, started: float, first_step: int) -> str:
    elapsed = time.monotonic() - started
    rate = (step - first_step) / elapsed if elapsed > 0 and step > first_step else 0.0
    eta = f"ETA {(total - step) / rate:.0f}s" if rate > 0 and total else "ETA …"
    bar = "█" * int(20 * step / max(total, 1))
    return f"`{bar:<20}` step **{step}/{total}** · {rate:.2f} steps/s · {eta}"


def runs_table(settings: Settings) -> pd.DataFrame:
    return pd.DataFrame(list_runs(settings.outputs_dir), columns=RUN_COLUMNS)


def create_finetune_tab(demo: gr.Blocks, settings: Settings) -> dict:
    runs: dict = {}  # session -> Run: a Stop stops only its owner's training
    v = defaults()
    text_models = [p.id for p in presets("text")]

    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="ft-train")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop")
                check_btn = gr.Button("Check", elem_id="ft-check")
            upload = gr.File(label="Data: upload .jsonl, .json, .csv or .txt", file_types=[".jsonl", ".json", ".csv",
                             ".txt"], type="filepath", elem_id="ft-upload")
            example = gr.Dropdown(list(EXAMPLE_SETS), value=v["example"], label="…or an example set",
                                  info="used when nothing is uploaded", elem_id="ft-example")
            model = gr.Dropdown(text_models, value=v["model"], allow_custom_value=True, label="Base model",
                                info="a preset, hub id or local folder", elem_id="ft-model")
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
            with gr.Accordion("Curriculum and comparison", open=False):
                stages = gr.Code("", language="json", label="Curriculum stages (JSON; empty = one stage)",
                                 elem_id="ft-stages")
                gr.Markdown('e.g. `[{"name": "easy", "data": "sums-in-words-easy", "difficulty": 1}, '
                            '{"name": "hard", "data": "sums-in-words", "difficulty": 2, "learning_rate": 0.001}]`')
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
                                      "(greedy, fixed seed)", interactive=False, wrap=True, elem_id="ft-comparison")
            with gr.Accordion("Runs", open=True):
                with gr.Row():
                    run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, elem_id="ft-run", scale=3)
                    resume_btn = gr.Button("Resume", elem_id="ft-resume", scale=1)
                    refresh_btn = gr.Button("Refresh", elem_id="ft-refresh", scale=1)
                runs_df = gr.Dataframe(runs_table(settings), label="Runs (newest first)", interactive=False,
                                       elem_id="ft-runs")
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
        validation_fraction, precision, stages, compare_prompts,
    )))
    outputs = [status, loss_plot, lr_plot, log, result, comparison, runs_df, run_pick]

    def run_choices(selected: str | None = None):
        names = [r["run"] for r in list_runs(settings.outputs_dir)]
        return gr.update(choices=names, value=selected if selected in names else (names[0] if names else None))

    def stream(run, folder, key: str):
        """Yield UI updates for each batch of events until the run ends (or the page goes away)."""
        from studio.events import DoneEvent, ErrorEvent, EvalEvent, LogEvent, StepEvent

        runs[key] = run
        logs = folder.logs()  # on Resume the curve continues from the earlier steps
        lines = [f"Run {folder.name} in {folder.path}"]
        step = first_step = max((r["step"] for r in logs), default=0)
        total, started = 0, time.monotonic()
        try:
            for batch in run.batches(UI_REFRESH_SECONDS):
                update = {}
                for event in batch:
                    if isinstance(event, StepEvent):
                        step, total = event.step, event.total_steps
                    elif isinstance(event, LogEvent):
                        lines.append(event.message)
                    elif isinstance(event, ErrorEvent):
                        raise gr.Error(event.message)
                    elif isinstance(event, DoneEvent):
                        update.update(finished(event.result, folder))
                if status not in update:
                    update[status] = f"**{folder.name}** · " + progress_line(step, total, started, first_step)
                if any(isinstance(e, (LogEvent, EvalEvent, DoneEvent)) for e in batch):
                    logs = folder.logs()  # the run's own logs.jsonl: the plot shows exactly what was saved
                    update[loss_plot], update[lr_plot] = loss_frame(logs), lr_frame(logs)
                update[log] = "\n".join(lines[-200:])
                yield update
        finally:
            run.request_stop()  # the page went away or the run ended: never leave a trainer running

    def finished(res, folder) -> dict:
        loss = ""
        if res.first_eval_loss and res.last_eval_loss:
            drop = 100 * (1 - res.last_eval_loss / res.first_eval_loss)
            loss = f" · eval loss {res.first_eval_loss:.3f} → **{res.last_eval_loss:.3f}** ({drop:.0f}% lower)"
        state = "Stopped" if res.stopped else "Done"
        text = f"**{state}** at step {res.steps} in {res.seconds:.0f}s{loss} · {res.trainable}"
        result_text = ("Stopped: a checkpoint was saved; pick the run and press **Resume** to continue."
                       if res.stopped else
                       f"Saved to `{res.final}`. It is in the **Text** tab's model list (base model plus adapter); "
                       "you can also type this folder there.")
        table = pd.DataFrame(res.comparison, columns=["prompt", "expected", "before", "after"])
        return {status: text, result: result_text, comparison: table, runs_df: runs_table(settings),
                run_pick: run_choices(folder.name)}

    @form_handler(FORM_FIELDS)
    @user_errors
    def train(values: dict, request: gr.Request):
        from studio.finetune.session import start_finetune

        config, uploads = parse_form(values)
        key = session_key(request)
        if key in runs and not runs[key].finished:
            raise gr.Error("A training run is already going in this tab; press Stop first.")
        yield {status: "Checking the data and loading the model…", result: "", comparison: None}
        run, folder = start_finetune(config, settings, uploads=uploads)
        yield {runs_df: runs_table(settings), run_pick: run_choices(folder.name)}
        yield from stream(run, folder, key)

    @user_errors
    def resume(run_name: str, request: gr.Request):
        from studio.finetune.config import FinetuneConfig
        from studio.finetune.session import start_finetune

        key = session_key(request)
        if key in runs and not runs[key].finished:
            raise gr.Error("A training run is already going in this tab; press Stop first.")
        folder = RunFolder.find(settings.outputs_dir, run_name)
        config = FinetuneConfig.from_dict(folder.read_json("config.json"))
        run, folder = start_finetune(config, settings, folder=folder, resume=True)
        yield {status: f"Resuming {folder.name}…", result: ""}
        yield from stream(run, folder, key)

    def stop(request: gr.Request):
        run = runs.get(session_key(request))
        if run is not None:
            run.request_stop()

    @form_handler(FORM_FIELDS)
    @user_errors
    def check(values: dict, request: gr.Request):
        from studio.finetune.curriculum import load_stage_data
        from studio.finetune.lora import preview

        config, uploads = parse_form(values)
        datasets = load_stage_data(config, uploads)
        trainable = preview(config.model, config.method, settings, config.trust_remote_code)
        data = " · ".join(f"{d.name}: {len(d.rows)} rows ({d.shape})" for d in datasets.values())
        return f"{trainable.describe()}  \n{data}"

    def show_runs(selected):
        return runs_table(settings), run_choices(selected), gr.update(choices=[r["run"] for r in
                                                                               list_runs(settings.outputs_dir)])

    @user_errors
    def compare_runs(names: list[str]):
        rows = []
        for name in names or []:
            logs = RunFolder.find(settings.outputs_dir, name).logs()
            rows += [r for r in curve_rows(logs, run=name) if r["series"] == "eval loss"]
        return pd.DataFrame(rows).astype({"step": "float64", "value": "float64"}) if rows else None

    @user_errors
    def merge(run_name: str):
        from studio.finetune.runs import merge_and_save

        path = merge_and_save(RunFolder.find(settings.outputs_dir, run_name), settings)
        return f"# merged model saved to\n{path}"

    @user_errors
    def export(run_name: str):
        from studio.finetune.runs import accelerate_files

        files = accelerate_files(RunFolder.find(settings.outputs_dir, run_name))
        return f"# config: {files['config_file']}\n{files['command']}"

    inputs = list(form.values())
    train_event = train_btn.click(train, inputs, outputs, api_name="finetune_train", concurrency_limit=1,
                                  concurrency_id="finetune")
    resume_event = resume_btn.click(resume, run_pick, outputs, api_name="finetune_resume", concurrency_limit=1,
                                    concurrency_id="finetune")
    stop_btn.click(stop, None, None, queue=False, api_name="finetune_stop")
    check_btn.click(check, inputs, status, api_name="finetune_check")
    refresh_btn.click(show_runs, run_pick, [runs_df, run_pick, compare_pick], api_name="finetune_runs")
    compare_pick.change(compare_runs, compare_pick, runs_plot, api_name="finetune_compare_runs")
    merge_btn.click(merge, run_pick, export_out, api_name="finetune_merge", concurrency_id="finetune")
    export_btn.click(export, run_pick, export_out, api_name="finetune_export")
    demo.load(show_runs, run_pick, [runs_df, run_pick, compare_pick], api_visibility="private")
    return {"train": train_event, "resume": resume_event, "form": form}
