"""The Image tab: prompt and settings, a model with its card, LoRAs, progress with previews, PNG info.

Handlers first, then the layout, then the wiring. torch and diffusers are
imported inside the handlers (through `studio.image`), so building the app stays
fast. Generation runs on a worker thread (`studio.events.start_run`); the
handler relays its progress and ends it when this session's Stop is pressed.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import gradio as gr

from studio.registry import presets
from studio.settings import Settings

from .common import preset_card, session_key, SessionStops, user_errors

IMAGE_PRESETS = presets("image")
DEFAULT_MODEL = IMAGE_PRESETS[0].id
REFINER_MODEL = "stabilityai/stable-diffusion-xl-refiner-1.0"
SCHEDULER_CHOICES = ["default", "euler", "euler_ancestral", "dpmpp_2m", "ddim", "pndm", "unipc"]
REFINER_CHOICES = ["none", "ensemble", "second_pass"]
EXAMPLES = [  # the first two were held out of the embedded model's training
    ["a red circle on a blue background", 0],
    ["a green triangle on a white background", 1],
    ["a yellow square on a green background", 2],
    ["a purple circle on a yellow background", 3],
    ["a white triangle on a blue background", 4],
]


def model_card(name: str, custom: str = "") -> str:
    return preset_card(name, custom, "image", "a local diffusers folder (with model_index.json)")


def parse_loras(text: str):
    """'name=0.8, other=0.5' -> LoraChoice tuple; a name alone means scale 1."""
    from studio.errors import ConfigError
    from studio.image.request import LoraChoice

    choices = []
    for part in (text or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, _, scale = part.partition("=")
        try:
            choices.append(LoraChoice(name.strip(), float(scale) if scale.strip() else 1.0))
        except ValueError:
            raise ConfigError("LoRA scales", part.strip(), "write name=scale, e.g. style=0.8") from None
    return tuple(choices)


def format_loras(choices) -> str:
    return ", ".join(f"{c.name}={c.scale:g}" for c in choices)


def format_result(result) -> str:
    if result.stopped:
        return "Stopped: no picture was kept."
    seeds = ", ".join(str(s) for s in result.seeds)
    lines = [f"{len(result.images)} picture(s) in {result.seconds:.2f} s · {result.steps_per_second:.1f} steps/s · "
             f"seeds {seeds} (picture i used seed + i)"]
    if result.folder:
        lines.append(f"Saved with its record in `{result.folder.name}`; every PNG carries its settings.")
    lines += [f"Note: {n}" for n in result.notes]
    return "  \n".join(lines)


def create_image_tab(demo: gr.Blocks, settings: Settings) -> dict:
    stops = SessionStops()

    @functools.cache  # one ImageGenerator, made on first use so the app starts without torch
    def engine():
        from studio.image.generate import ImageGenerator

        return ImageGenerator(settings)

    # ---- handlers ------------------------------------------------------------------------------

    def build_request(prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance,
                      strength, scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength,
                      loras, low_memory):
        from studio.image.request import ImageRequest

        def whole(value, name):
            if value is None or (isinstance(value, float) and not value.is_integer()):
                from studio.errors import ConfigError

                raise ConfigError(name, value, "use a whole number")
            return int(value)

        return ImageRequest(
            prompt=prompt or "", negative_prompt=negative or "", model=(custom_model or "").strip() or model,
            mode=mode, init_image=init_image if mode == "img2img" else None,
            width=whole(width, "width"), height=whole(height, "height"), steps=whole(steps, "steps"),
            guidance=float(guidance), strength=float(strength), scheduler=scheduler, images=whole(images, "images"),
            seed=whole(seed, "seed"), refiner=refiner, refiner_model=(refiner_model or "").strip() or REFINER_MODEL,
            refiner_fraction=float(refiner_fraction), refiner_strength=float(refiner_strength),
            loras=parse_loras(loras), low_memory=bool(low_memory),
        )

    @user_errors
    def generate(prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance, strength,
                 scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength, loras,
                 low_memory, preview_every, request: gr.Request, progress=gr.Progress()):
        from studio.events import DoneEvent, ErrorEvent, EvalEvent, StepEvent, start_run
        from studio.errors import StudioError

        image_request = build_request(prompt, negative, model, custom_model, mode, init_image, width, height, steps,
                                      guidance, strength, scheduler, images, seed, refiner, refiner_model,
                                      refiner_fraction, refiner_strength, loras, low_memory)
        key = session_key(request)
        stop = stops.start(key)

        def work(run):
            def on_progress(p):
                run.emit(StepEvent(step=p.step, total_steps=p.total, epoch=0.0, loss=math.nan))
                if p.preview is not None:
                    run.emit(EvalEvent(step=p.step, epoch=0.0, metrics={}, extras={"preview": p.preview}))

            return engine().generate(image_request, on_progress=on_progress,
                                     should_stop=lambda: stop.is_set() or run.should_stop,
                                     preview_every=int(preview_every or 0))

        run = start_run(work, name="image generation")
        preview = None
        try:
            yield gr.update(), None, f"Working on {image_request.model}...", gr.update()
            for batch in run.batches(interval=0.2):
                status = None
                for event in batch:
                    if isinstance(event, StepEvent):
                        progress((event.step, event.total_steps), desc="Denoising", unit="steps")
                        status = f"Step {event.step} of {event.total_steps}"
                    elif isinstance(event, EvalEvent):
                        preview = event.extras.get("preview")
                    elif isinstance(event, ErrorEvent):
                        raise StudioError(event.message)
                    elif isinstance(event, DoneEvent):
                        result = event.result
                        files = [str(p) for p in result.paths]
                        yield files or None, None, format_result(result), files or None
                        return
                if status:
                    yield gr.update(), preview, status, gr.update()
        finally:
            if not run.finished:
                run.request_stop()
            stops.finish(key)

    def stop_generation(request: gr.Request):
        stops.stop(session_key(request))

    @user_errors
    def png_info(file):
        from studio.image.pnginfo import read_png_settings

        if not file:
            raise gr.Error("Drop a PNG made by the studio first.")
        info = read_png_settings(file)
        r = info.request
        preset = any(p.id == r.model for p in IMAGE_PRESETS)
        note = (f"Refilled from a picture made with seed {r.seed} (picture {info.batch.get('index', 0) + 1} of "
                f"{info.batch.get('images', 1)} in its batch).")
        if r.mode == "img2img":
            note += " It was made from a start image: upload that image again."
        if r.loras:
            note += f" It used LoRA(s) {format_loras(r.loras)}: load them before generating."
        return (r.prompt, r.negative_prompt, r.model if preset else DEFAULT_MODEL, "" if preset else r.model,
                r.mode, r.width, r.height, r.steps, r.guidance, r.strength, r.scheduler, r.images, r.seed, r.refiner,
                r.refiner_model, r.refiner_fraction, r.refiner_strength, format_loras(r.loras), r.low_memory, note)

    @user_errors
    def load_lora(file, name, model, custom_model, loras):
        if not file:
            raise gr.Error("Upload a LoRA .safetensors file first.")
        loaded = engine().load_lora((custom_model or "").strip() or model, Path(file), (name or "").strip() or None)
        current = [c for c in parse_loras(loras) if c.name != loaded]
        text = format_loras(current) + (", " if current else "") + f"{loaded}=1"
        return text, f"Loaded LoRA **{loaded}**; set its scale in the box (0 turns it off)."

    @user_errors
    def unload_loras():
        if engine.cache_info().currsize:  # nothing loaded yet: nothing to unload
            engine().unload_loras()
        return "", "All LoRAs unloaded."

    def toggle_mode(mode):
        return gr.update(visible=mode == "img2img"), gr.update(visible=mode == "img2img")

    # ---- layout --------------------------------------------------------------------------------

    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=2, value=EXAMPLES[0][0], elem_id="image-prompt")
            negative = gr.Textbox(label="Negative prompt", lines=1, elem_id="image-negative-prompt")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="image-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="image-stop")
            gallery = gr.Gallery(label="Pictures (PNG with settings inside)", columns=4, height=320, format="png",
                                 elem_id="image-gallery")
            status = gr.Markdown(elem_id="image-status", elem_classes="studio-stats")
            preview = gr.Image(label="Preview while denoising", height=160, interactive=False,
                               elem_id="image-preview")
            downloads = gr.File(label="Download the PNGs", file_count="multiple", elem_id="image-downloads")
        with gr.Column(scale=2):
            model = gr.Dropdown([p.id for p in IMAGE_PRESETS], value=DEFAULT_MODEL, label="Model",
                                elem_id="image-model")
            custom_model = gr.Textbox(label="Or type a hub id or a local folder", placeholder="owner/name",
                                      elem_id="image-custom-model")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="image-model-card")
            mode = gr.Radio(["text2img", "img2img"], value="text2img", label="Mode", elem_id="image-mode")
            init_image = gr.File(label="Start image (img2img; uploaded, never fetched from a URL)",
                                 file_types=["image"], type="filepath", visible=False, elem_id="image-init-image")
            strength = gr.Number(value=0.6, step=0.05, label="Strength (img2img; above 0, at most 1)",
                                 visible=False, elem_id="image-strength")
            with gr.Row():
                width = gr.Number(value=64, precision=0, label="Width (multiple of 8)", elem_id="image-width")
                height = gr.Number(value=64, precision=0, label="Height (multiple of 8)", elem_id="image-height")
            steps = gr.Number(value=20, precision=0, label="Steps", elem_id="image-steps")
            guidance = gr.Slider(0, 30, value=5, step=0.5, label="Guidance scale", elem_id="image-guidance")
            scheduler = gr.Dropdown(SCHEDULER_CHOICES, value="default", label="Scheduler", elem_id="image-scheduler")
            with gr.Row():
                images = gr.Number(value=1, precision=0, label="Pictures (1-8)", elem_id="image-count")
                seed = gr.Number(value=0, precision=0, label="Seed (-1 random)", elem_id="image-seed")
            preview_every = gr.Slider(0, 20, value=0, step=1, label="Preview every N steps (0 = off)",
                                      elem_id="image-preview-every")
            low_memory = gr.Checkbox(label="Save memory (attention slicing, VAE tiling; a little slower)",
                                     value=False, elem_id="image-low-memory")
            with gr.Accordion("SDXL refiner", open=False):
                refiner = gr.Radio(REFINER_CHOICES, value="none", label="Refiner", elem_id="image-refiner")
                refiner_model = gr.Textbox(value=REFINER_MODEL, label="Refiner model", elem_id="image-refiner-model")
                refiner_fraction = gr.Slider(0.05, 0.95, value=0.8, step=0.05,
                                             label="Ensemble: share of steps the base does",
                                             elem_id="image-refiner-fraction")
                refiner_strength = gr.Slider(0.05, 1, value=0.3, step=0.05, label="Second pass: strength",
                                             elem_id="image-refiner-strength")
            with gr.Accordion("LoRA", open=False):
                loras = gr.Textbox(label="Active LoRAs and scales (name=scale, ...)", elem_id="image-loras")
                lora_file = gr.File(label="LoRA weights (.safetensors)", file_types=[".safetensors"],
                                    type="filepath", elem_id="image-lora-file")
                lora_name = gr.Textbox(label="Name (default: the file's name)", elem_id="image-lora-name")
                with gr.Row():
                    load_lora_btn = gr.Button("Load LoRA", elem_id="image-lora-load")
                    unload_lora_btn = gr.Button("Unload all", elem_id="image-lora-unload")
                lora_status = gr.Markdown(elem_id="image-lora-status")
            with gr.Accordion("PNG info: drop a studio PNG to refill every control", open=True):
                png_drop = gr.File(label="Studio PNG", file_types=[".png"], type="filepath",
                                   elem_id="image-png-info")
                png_note = gr.Markdown(elem_id="image-png-note")
    gr.Examples(EXAMPLES, inputs=[prompt, seed], label="Examples (click one, then Generate)")

    # ---- wiring --------------------------------------------------------------------------------

    settings_inputs = [prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance,
                       strength, scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength,
                       loras, low_memory]
    outputs = [gallery, preview, status, downloads]
    gen_event = generate_btn.click(generate, settings_inputs + [preview_every], outputs, api_name="image_generate",
                                   concurrency_id="image")
    stop_btn.click(stop_generation, None, None, api_name="image_stop", concurrency_limit=None, queue=False).then(
        None, None, None, cancels=[gen_event])
    refill = [c for c in settings_inputs if c is not init_image] + [png_note]
    png_drop.upload(png_info, png_drop, refill, api_name="image_png_info")
    mode.change(toggle_mode, mode, [init_image, strength], api_visibility="private")
    load_lora_btn.click(load_lora, [lora_file, lora_name, model, custom_model, loras], [loras, lora_status],
                        api_name="image_load_lora", concurrency_id="image")
    unload_lora_btn.click(unload_loras, None, [loras, lora_status], api_name="image_unload_loras",
                          concurrency_id="image")
    for control in (model, custom_model):
        control.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, gallery=gallery, status=status, model=model, generate=generate_btn, stop=stop_btn,
                png_info=png_drop, generate_event=gen_event)
