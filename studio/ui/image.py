"""The Image tab: prompt and settings, a model with its card, LoRAs, progress with previews, PNG info.

Handlers first, then the layout, then the wiring. The page does no tensor work:
a click checks the form into an `ImageRequest` and submits it to the image
worker (`studio.image.tasks`), and `ImageView` turns the job's events into the
gallery, preview and status. Every choice travels with the request, and LoRAs
belong to the visitor who loaded them, so visitors sharing the worker never see
each other's settings in their pictures.
"""

from __future__ import annotations

import gradio as gr

from studio.errors import StudioError
from studio.events import ProgressEvent
from studio.image.form import (DEFAULT_MODEL, FIELDS, FORM_FIELDS, REFILL_FIELDS, form_values, format_loras,
                               parse_form, parse_loras)
from studio.image.request import check_pixels
from studio.registry import presets

from .common import control, form_handler, preset_card, user_errors
from .context import Studio
from .relay import JobView, job_event, relay

IMAGE_PRESETS = presets("image")
EXAMPLES = [  # the first two were held out of the embedded model's training
    [FIELDS["prompt"].default, 0],  # a red circle on a blue background
    ["a green triangle on a white background", 1],
    ["a yellow square on a green background", 2],
    ["a purple circle on a yellow background", 3],
    ["a white triangle on a blue background", 4],
]


def model_card(name: str, custom: str = "") -> str:
    return preset_card(name, custom, "image", "a diffusers folder the operator allows (with model_index.json)")


def format_result(result) -> str:
    seeds = ", ".join(str(s) for s in result.seeds)
    request = result.request
    lines = [f"{len(result.paths)} picture(s) of {request.width}x{request.height} in {result.seconds:.2f} s · "
             f"{result.steps_per_second:.1f} steps/s · seeds {seeds} (picture i used seed + i)"]
    if result.folder:
        lines.append(f"Saved with its record in `{result.folder.name}`; every PNG carries its settings.")
    lines += [f"Note: {n}" for n in result.notes]
    return "  \n".join(lines)


ELEM_IDS = {"negative": "image-negative-prompt", "images": "image-count"}  # the rest: image-<name>


class ImageView(JobView):
    """Outputs: gallery, preview, status, downloads. A Stop leaves the gallery showing the previous pictures."""

    outputs = 4
    status_at = 2

    def __init__(self, model: str):
        self.model = model
        self.last = ""

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

    @form_handler(FORM_FIELDS)
    @user_errors
    def generate(values: dict, request: gr.Request):
        from studio.image.tasks import ImageJob

        image_request, preview_every = parse_form(values)
        if image_request.width and image_request.height:  # 0 (the model's size) is checked once it is known
            check_pixels(image_request.width, image_request.height, studio.settings.max_image_pixels)
        payload = ImageJob(image_request, studio.model_scope(request), preview_every)
        job = studio.submit(request, "image", "studio.image.tasks:generate", payload,
                            label=f"image: {image_request.model}")
        yield from relay(studio, job, ImageView(image_request.model))

    def stop_generation(request: gr.Request):
        studio.stop(request, "image")  # this visitor's image jobs only

    @user_errors
    def png_info(file):
        from studio.image.pnginfo import read_png_settings

        if not file:
            raise gr.Error("Drop a PNG made by the studio first.")
        info = read_png_settings(file)
        r = info.request
        note = (f"Refilled from a picture made with seed {r.seed} (picture {info.batch.get('index', 0) + 1} of "
                f"{info.batch.get('images', 1)} in its batch).")
        if r.mode == "img2img":
            note += " It was made from a start image: upload that image again."
        if r.loras:
            note += f" It used LoRA(s) {format_loras(r.loras)}: load them before generating."
        return (*form_values(r, tuple(p.id for p in IMAGE_PRESETS)).values(), note)

    class LoraView(JobView):
        outputs = 2
        status_at = 1

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
        status_at = 1

        def done(self, event):
            return "", "All your LoRAs unloaded (other visitors' LoRAs are theirs and stay)."

    @user_errors
    def unload_loras(request: gr.Request):
        job = studio.submit(request, "image", "studio.image.tasks:unload_loras", None, label="image: unload LoRAs")
        yield from relay(studio, job, UnloadView())

    def toggle_mode(mode):
        return gr.update(visible=mode == "img2img"), gr.update(visible=mode == "img2img")

    # ---- layout --------------------------------------------------------------------------------

    form: dict = {}

    def add(name: str, **extra):
        field = FIELDS[name]
        elem_id = ELEM_IDS.get(name, "image-" + name.replace("_", "-"))
        whole = {"precision": 0} if field.ui == "number" and field.whole else {}  # the box shows whole numbers
        form[name] = control(field, elem_id=elem_id, **whole | extra)
        return form[name]

    with gr.Row():
        with gr.Column(scale=3):
            prompt = add("prompt", lines=2)
            add("negative", lines=1)
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
            model = add("model", choices=[p.id for p in IMAGE_PRESETS])
            custom_model = add("custom_model", placeholder="owner/name")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="image-model-card")
            mode = add("mode")
            init_image = add("init_image", height=160, visible=False, elem_classes="studio-pixelated")
            strength = add("strength", visible=False)
            with gr.Row():
                add("width")
                add("height")
            add("steps")
            add("guidance")
            add("scheduler")
            with gr.Row():
                add("images")
                seed = add("seed")
            add("preview_every")
            add("low_memory")
            with gr.Accordion("SDXL refiner", open=False):
                for name in ("refiner", "refiner_model", "refiner_fraction", "refiner_strength"):
                    add(name)
            with gr.Accordion("LoRA (yours only: other visitors never see your LoRAs)", open=False):
                loras = add("loras")
                lora_file = gr.File(label="LoRA weights (.safetensors)", file_types=[".safetensors"],
                                    type="filepath", elem_id="image-lora-file")
                lora_name = gr.Textbox(label="Name (default: the file's name)", elem_id="image-lora-name")
                with gr.Row():
                    load_lora_btn = gr.Button("Load LoRA", elem_id="image-lora-load")
                    unload_lora_btn = gr.Button("Unload all", elem_id="image-lora-unload")
                lora_status = gr.Markdown(elem_id="image-lora-status")
    gr.Examples(EXAMPLES, inputs=[prompt, seed], label="Examples (click one, then Generate)")

    # ---- wiring --------------------------------------------------------------------------------

    outputs = [gallery, preview, status, downloads]
    # Progress and errors show on the status line only (`relay`): a refused click leaves the pictures and the form
    # as they were.
    gen_event = job_event([generate_btn.click], generate, [form[n] for n in FORM_FIELDS], outputs, status,
                          api_name="image_generate")
    stop_btn.click(stop_generation, None, None, api_name="image_stop", concurrency_limit=None, queue=False)
    refill = [form[n] for n in REFILL_FIELDS] + [png_note]
    png_drop.upload(png_info, png_drop, refill, api_name="image_png_info")
    mode.change(toggle_mode, mode, [init_image, strength], api_visibility="private")
    job_event([load_lora_btn.click], load_lora, [lora_file, lora_name, model, custom_model, loras],
              [loras, lora_status], lora_status, api_name="image_load_lora")
    job_event([unload_lora_btn.click], unload_loras, None, [loras, lora_status], lora_status,
              api_name="image_unload_loras")
    for choice in (model, custom_model):
        choice.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, gallery=gallery, status=status, model=model, generate=generate_btn, stop=stop_btn,
                png_info=png_drop, generate_event=gen_event)
