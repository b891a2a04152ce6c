"""The Image tab: prompt and settings, a model with its card, LoRAs, progress with previews, PNG info.

Handlers first, then the layout, then the wiring. The page does no tensor work:
a click checks the form into an `ImageRequest` and submits it to the image
worker (`studio.image.tasks`), and `ImageView` turns the job's events into the
gallery, preview and status. Every choice travels with the request, and LoRAs
belong to the visitor who loaded them, so visitors sharing the worker never see
each other's settings in their pictures.
"""

from __future__ import annotations

import math

import gradio as gr

from studio.errors import ConfigError, StudioError
from studio.events import ProgressEvent
from studio.image.request import MAX_STEPS, REFINER_MODES, SCHEDULERS, ImageRequest, LoraChoice, check_pixels
from studio.registry import presets

from .common import preset_card, user_errors
from .context import Studio
from .relay import JobView, relay, waiting_text

IMAGE_PRESETS = presets("image")
DEFAULT_MODEL = IMAGE_PRESETS[0].id
REFINER_MODEL = "stabilityai/stable-diffusion-xl-refiner-1.0"
EXAMPLES = [  # the first two were held out of the embedded model's training
    ["a red circle on a blue background", 0],
    ["a green triangle on a white background", 1],
    ["a yellow square on a green background", 2],
    ["a purple circle on a yellow background", 3],
    ["a white triangle on a blue background", 4],
]


def model_card(name: str, custom: str = "") -> str:
    return preset_card(name, custom, "image", "a diffusers folder the operator allows (with model_index.json)")


def parse_loras(text: str) -> tuple[LoraChoice, ...]:
    """'name=0.8, other=0.5' -> LoraChoice tuple; a name alone means scale 1."""
    choices = []
    for part in (text or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, _, scale = part.partition("=")
        try:
            value = float(scale) if scale.strip() else 1.0
        except ValueError:
            raise ConfigError("LoRA scales", part.strip(), "write name=scale, e.g. style=0.8") from None
        if not math.isfinite(value):
            raise ConfigError("LoRA scales", part.strip(), "use a finite number, e.g. style=0.8")
        choices.append(LoraChoice(name.strip(), value))
    return tuple(choices)


def format_loras(choices) -> str:
    return ", ".join(f"{c.name}={c.scale:g}" for c in choices)


def format_result(result) -> str:
    seeds = ", ".join(str(s) for s in result.seeds)
    request = result.request
    lines = [f"{len(result.paths)} picture(s) of {request.width}x{request.height} in {result.seconds:.2f} s · "
             f"{result.steps_per_second:.1f} steps/s · seeds {seeds} (picture i used seed + i)"]
    if result.folder:
        lines.append(f"Saved with its record in `{result.folder.name}`; every PNG carries its settings.")
    lines += [f"Note: {n}" for n in result.notes]
    return "  \n".join(lines)


def whole(value, name: str, low: int, high: int) -> int:
    """A whole number from a form field (API clients can send anything), or a message naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or float(value) != int(value):
        raise ConfigError(name, value, "use a whole number")
    if not low <= int(value) <= high:
        raise ConfigError(name, value, f"use a whole number from {low} to {high}")
    return int(value)


def number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(name, value, "use a finite number")
    return float(value)


class ImageView(JobView):
    """Outputs: gallery, preview, status, downloads. A Stop leaves the gallery showing the previous pictures."""

    outputs = 4

    def __init__(self, model: str):
        self.model = model
        self.last = ""

    def waiting(self, position: int, kind: str) -> tuple:
        return gr.skip(), gr.skip(), waiting_text(position, kind), gr.skip()

    def update(self, events: list) -> tuple | None:
        progress = [e for e in events if isinstance(e, ProgressEvent)]
        if not progress:
            return None
        last = progress[-1]
        preview = next((e.preview for e in reversed(progress) if e.preview is not None), None)
        status = f"{last.message or 'Denoising'}: step {last.step} of {last.total}" if last.step else \
            (last.message or f"Working on {self.model}...")
        self.last = status
        return gr.skip(), preview if preview is not None else gr.skip(), status, gr.skip()

    def done(self, event) -> tuple:
        result = event.result
        if event.stopped:
            steps = f" after {result.denoise_steps} step(s)" if result is not None and result.denoise_steps else ""
            return gr.skip(), gr.skip(), f"Stopped{steps}; the pictures shown are from before.", gr.skip()
        files = [str(p) for p in result.paths]
        return files, gr.skip(), format_result(result), files or None


def create_image_tab(demo: gr.Blocks, studio: Studio) -> dict:
    studio.warm_up_with("image", "studio.image.tasks:warm")

    # ---- handlers ------------------------------------------------------------------------------

    def build_request(prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance,
                      strength, scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength,
                      loras, low_memory) -> ImageRequest:
        image_request = ImageRequest(
            prompt=prompt or "", negative_prompt=negative or "", model=(custom_model or "").strip() or model,
            mode=mode, init_image=init_image if mode == "img2img" else None,
            width=whole(width, "width", 0, 2048), height=whole(height, "height", 0, 2048),
            steps=whole(steps, "steps", 1, MAX_STEPS), guidance=number(guidance, "guidance"),
            strength=number(strength, "strength"), scheduler=scheduler, images=whole(images, "images", 1, 8),
            seed=whole(seed, "seed", -1, 2**32 - 1), refiner=refiner,
            refiner_model=(refiner_model or "").strip() or REFINER_MODEL,
            refiner_fraction=number(refiner_fraction, "refiner_fraction"),
            refiner_strength=number(refiner_strength, "refiner_strength"),
            loras=parse_loras(loras), low_memory=bool(low_memory),
        )
        if image_request.width and image_request.height:  # 0 (the model's size) is checked once it is known
            check_pixels(image_request.width, image_request.height, studio.settings.max_image_pixels)
        return image_request

    @user_errors
    def generate(prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance, strength,
                 scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength, loras,
                 low_memory, preview_every, request: gr.Request, progress=gr.Progress()):
        from studio.image.tasks import ImageJob

        image_request = build_request(prompt, negative, model, custom_model, mode, init_image, width, height, steps,
                                      guidance, strength, scheduler, images, seed, refiner, refiner_model,
                                      refiner_fraction, refiner_strength, loras, low_memory)
        payload = ImageJob(image_request, studio.model_scope(request),
                           whole(preview_every or 0, "preview_every", 0, MAX_STEPS))
        job = studio.submit(request, "image", "studio.image.tasks:generate", payload,
                            label=f"image: {image_request.model}")
        yield from relay(studio, job, ImageView(image_request.model), progress)

    def stop_generation(request: gr.Request):
        studio.stop(request, "image")  # this visitor's image jobs only

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

    class LoraView(JobView):
        outputs = 2

        def __init__(self, current: str):
            self.current = current

        def done(self, event):
            if event.result is None:
                return gr.skip(), "Stopped before the LoRA was loaded."
            loaded = event.result
            current = [c for c in parse_loras(self.current) if c.name != loaded]
            text = format_loras(current) + (", " if current else "") + f"{loaded}=1"
            return text, f"Loaded LoRA **{loaded}** (yours only); set its scale in the box (0 turns it off)."

    @user_errors
    def load_lora(file, name, model, custom_model, loras, request: gr.Request):
        from studio.image.tasks import LoraJob

        if not file:
            raise StudioError("Upload a LoRA .safetensors file first.")
        parse_loras(loras)
        payload = LoraJob((custom_model or "").strip() or model, str(file), (name or "").strip(),
                          studio.model_scope(request))
        job = studio.submit(request, "image", "studio.image.tasks:load_lora", payload, label="image: load LoRA")
        yield from relay(studio, job, LoraView(loras))

    class UnloadView(JobView):
        outputs = 2

        def done(self, event):
            return "", "All your LoRAs unloaded (other visitors' LoRAs are theirs and stay)."

    @user_errors
    def unload_loras(request: gr.Request):
        job = studio.submit(request, "image", "studio.image.tasks:unload_loras", None, label="image: unload LoRAs")
        yield from relay(studio, job, UnloadView())

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
            # Native size, uncropped: a 64 px picture is scaled up with hard pixel edges, never cut to fill a tile.
            gallery = gr.Gallery(label="Pictures (PNG with settings inside)", columns=4, height=320, format="png",
                                 object_fit="contain", elem_id="image-gallery", elem_classes="studio-pixelated")
            status = gr.Markdown(elem_id="image-status", elem_classes="studio-stats")
            preview = gr.Image(label="Preview while denoising", height=160, interactive=False,
                               elem_id="image-preview", elem_classes="studio-pixelated")
            downloads = gr.File(label="Download the PNGs", file_count="multiple", elem_id="image-downloads")
        with gr.Column(scale=2):
            with gr.Accordion("PNG info: drop a studio PNG to refill every control", open=True):
                png_drop = gr.File(label="Studio PNG", file_types=[".png"], type="filepath", height=90,
                                   elem_id="image-png-info")
                png_note = gr.Markdown(elem_id="image-png-note")
            model = gr.Dropdown([p.id for p in IMAGE_PRESETS], value=DEFAULT_MODEL, label="Model",
                                elem_id="image-model")
            custom_model = gr.Textbox(label="Or type a hub id", placeholder="owner/name",
                                      elem_id="image-custom-model")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="image-model-card")
            mode = gr.Radio(["text2img", "img2img"], value="text2img", label="Mode", elem_id="image-mode")
            init_image = gr.Image(label="Start image (img2img; uploaded, never fetched from a URL)", type="filepath",
                                  sources=["upload", "clipboard"], height=160, visible=False,
                                  elem_id="image-init-image", elem_classes="studio-pixelated")
            strength = gr.Number(value=0.6, step=0.05, label="Strength (img2img; above 0, at most 1)",
                                 visible=False, elem_id="image-strength")
            with gr.Row():
                width = gr.Number(value=0, precision=0, label="Width (0 = the model's own; multiple of 8)",
                                  elem_id="image-width")
                height = gr.Number(value=0, precision=0, label="Height (0 = the model's own)", elem_id="image-height")
            steps = gr.Number(value=20, precision=0, label=f"Steps (1-{MAX_STEPS})", elem_id="image-steps")
            guidance = gr.Slider(0, 30, value=5, step=0.5, label="Guidance scale", elem_id="image-guidance")
            scheduler = gr.Dropdown(list(SCHEDULERS), value="default", label="Scheduler", elem_id="image-scheduler")
            with gr.Row():
                images = gr.Number(value=1, precision=0, label="Pictures (1-8)", elem_id="image-count")
                seed = gr.Number(value=0, precision=0, label="Seed (-1 random)", elem_id="image-seed")
            preview_every = gr.Slider(0, 20, value=0, step=1, label="Preview every N steps (0 = off)",
                                      elem_id="image-preview-every")
            low_memory = gr.Checkbox(label="Save memory (attention slicing, VAE tiling; a little slower)",
                                     value=False, elem_id="image-low-memory")
            with gr.Accordion("SDXL refiner", open=False):
                refiner = gr.Radio(list(REFINER_MODES), value="none", label="Refiner", elem_id="image-refiner")
                refiner_model = gr.Textbox(value=REFINER_MODEL, label="Refiner model", elem_id="image-refiner-model")
                refiner_fraction = gr.Slider(0.05, 0.95, value=0.8, step=0.05,
                                             label="Ensemble: share of steps the base does",
                                             elem_id="image-refiner-fraction")
                refiner_strength = gr.Slider(0.05, 1, value=0.3, step=0.05, label="Second pass: strength",
                                             elem_id="image-refiner-strength")
            with gr.Accordion("LoRA (yours only: other visitors never see your LoRAs)", open=False):
                loras = gr.Textbox(label="Active LoRAs and scales (name=scale, ...)", elem_id="image-loras")
                lora_file = gr.File(label="LoRA weights (.safetensors)", file_types=[".safetensors"],
                                    type="filepath", elem_id="image-lora-file")
                lora_name = gr.Textbox(label="Name (default: the file's name)", elem_id="image-lora-name")
                with gr.Row():
                    load_lora_btn = gr.Button("Load LoRA", elem_id="image-lora-load")
                    unload_lora_btn = gr.Button("Unload all", elem_id="image-lora-unload")
                lora_status = gr.Markdown(elem_id="image-lora-status")
    gr.Examples(EXAMPLES, inputs=[prompt, seed], label="Examples (click one, then Generate)")

    # ---- wiring --------------------------------------------------------------------------------

    settings_inputs = [prompt, negative, model, custom_model, mode, init_image, width, height, steps, guidance,
                       strength, scheduler, images, seed, refiner, refiner_model, refiner_fraction, refiner_strength,
                       loras, low_memory]
    outputs = [gallery, preview, status, downloads]
    gen_event = generate_btn.click(generate, settings_inputs + [preview_every], outputs, api_name="image_generate")
    stop_btn.click(stop_generation, None, None, api_name="image_stop", concurrency_limit=None, queue=False)
    refill = [c for c in settings_inputs if c is not init_image] + [png_note]
    png_drop.upload(png_info, png_drop, refill, api_name="image_png_info")
    mode.change(toggle_mode, mode, [init_image, strength], api_visibility="private")
    load_lora_btn.click(load_lora, [lora_file, lora_name, model, custom_model, loras], [loras, lora_status],
                        api_name="image_load_lora")
    unload_lora_btn.click(unload_loras, None, [loras, lora_status], api_name="image_unload_loras")
    for control in (model, custom_model):
        control.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, gallery=gallery, status=status, model=model, generate=generate_btn, stop=stop_btn,
                png_info=png_drop, generate_event=gen_event)
