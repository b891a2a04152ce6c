"""Every Image field declared once: name, default, range or choices, one sentence of help, and its kind of control.

The tab builds its Gradio controls from `FIELDS` (label, help, slider bounds,
choices), the CLI builds its flags from it, and `ImageRequest` checks its
values with `Field.check` (`studio.forms`), so a default or a range is
written here and nowhere else. No Gradio and no torch here: the form is tested without a browser.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from studio.errors import ConfigError
from studio.forms import MAX_TEXT_CHARS as MAX_PROMPT_CHARS  # noqa: F401 - re-exported for the request
from studio.forms import Field, chosen_model, parse_values

MAX_STEPS = 150
MAX_SEED = 2**32 - 1
SCHEDULERS = ("default", "euler", "euler_ancestral", "dpmpp_2m", "ddim", "pndm", "unipc")
REFINER_MODES = ("none", "ensemble", "second_pass")
MODES = ("text2img", "img2img")
DEFAULT_MODEL = "embedded/image-shapes"
REFINER_MODEL = "stabilityai/stable-diffusion-xl-refiner-1.0"
LORA_SCALE = (-4.0, 4.0)


def _size(name: str, label: str) -> Field:
    return Field(name, 0, f"Pixels, a multiple of 8; 0 uses the model's own {name}.", "number", label, low=32,
                 high=2048, whole=True, zero="the model's own size", multiple=8,
                 multiple_why="the VAE works on 8x8 blocks")


# The Image form answers a NaN or infinity with the field's range alone (`finite_hint=False`).
FIELDS: dict[str, Field] = {f.name: dataclasses.replace(f, finite_hint=False) for f in (
    Field("prompt", "a red circle on a blue background", "What to draw.", "text", "Prompt"),
    Field("negative", "", "What to keep out of the picture.", "text", "Negative prompt", attr="negative_prompt"),
    Field("model", DEFAULT_MODEL, "The diffusers model that draws the picture.", "model", "Model"),
    Field("custom_model", "", "A hub id, or a folder the operator allows; it replaces the model above.", "text",
          "Or type a hub id", cli=False),
    Field("mode", "text2img", "img2img starts from a picture you upload.", "radio", "Mode", choices=MODES,
          cli=False),
    Field("init_image", None, "The start picture of img2img (uploaded, never fetched from a URL).", "image",
          "Start image", cli=False),
    _size("width", "Width"),
    _size("height", "Height"),
    Field("steps", 20, "Denoising steps: more are slower and often cleaner.", "number", "Steps", low=1,
          high=MAX_STEPS, whole=True),
    Field("guidance", 5.0, "How closely to follow the prompt (0 ignores it).", "slider", "Guidance scale", low=0,
          high=30, step=0.5),
    Field("strength", 0.6, "img2img: how much of the start picture is redrawn (1: all of it).", "number",
          "Strength", low=0, high=1, open_low=True, step=0.05),
    Field("scheduler", "default", "The sampler; default keeps the model's own.", "choice", "Scheduler",
          choices=SCHEDULERS),
    Field("images", 1, "Pictures in the batch; picture i uses seed + i.", "number", "Pictures", low=1, high=8,
          whole=True),
    Field("seed", 0, "The same seed and settings make the same picture; -1 picks one at random.", "number", "Seed",
          low=-1, high=MAX_SEED, whole=True),
    Field("refiner", "none", "SDXL: ensemble hands the base's latents over, second_pass refines its picture.",
          "radio", "Refiner", choices=REFINER_MODES),
    Field("refiner_model", REFINER_MODEL, "The SDXL refiner to load.", "text", "Refiner model"),
    Field("refiner_fraction", 0.8, "Ensemble: the share of the steps the base model does.", "slider",
          "Ensemble: base's share", low=0, high=1, open_low=True, open_high=True, step=0.05),
    Field("refiner_strength", 0.3, "Second pass: how much of the base's picture the refiner redraws.", "slider",
          "Second pass: strength", low=0, high=1, open_low=True, step=0.05),
    Field("loras", "", "Loaded LoRAs and their scales, e.g. style=0.8 (0 turns one off).", "text",
          "Active LoRAs (name=scale, ...)", cli=False),
    Field("low_memory", False, "Attention slicing and VAE tiling: less memory, a little slower.", "checkbox",
          "Save memory"),
    Field("preview_every", 0, "Send a preview picture every N steps (0: none).", "slider", "Preview every N steps",
          low=0, high=20, whole=True, step=1, cli=False),
)}
FORM_FIELDS = tuple(FIELDS)  # the Generate button's inputs and its API parameters, in this order
REFILL_FIELDS = tuple(n for n in FORM_FIELDS if n not in ("init_image", "preview_every"))  # what a PNG refills


def default(name: str) -> Any:
    return FIELDS[name].default


def parse_loras(text: str) -> tuple:
    """'name=0.8, other=0.5' -> LoraChoice tuple; a name alone means scale 1."""
    from .request import LoraChoice

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


def parse_form(values: dict) -> tuple:
    """(ImageRequest, preview_every) from the form's values; a bad field raises a `ConfigError` naming it."""
    from .request import ImageRequest

    typed = parse_values(FIELDS, values)
    mode = typed["mode"]
    request_values = {FIELDS[n].key: typed[n] for n in REFILL_FIELDS if n not in ("custom_model", "loras")}
    request_values.update(
        prompt=typed["prompt"] or "", negative_prompt=typed["negative"] or "",
        model=chosen_model(typed["custom_model"], typed["model"]),
        refiner_model=chosen_model(typed["refiner_model"], REFINER_MODEL),
        init_image=typed["init_image"] if mode == "img2img" else None, loras=parse_loras(typed["loras"]),
    )
    request = ImageRequest(**request_values)
    FIELDS["preview_every"].check(typed["preview_every"])
    return request, typed["preview_every"]


def form_values(request, presets: tuple[str, ...]) -> dict:
    """The form values that show `request` (a hub id or folder goes into the typed-name box)."""
    values = {n: getattr(request, FIELDS[n].key) for n in REFILL_FIELDS if n not in ("custom_model", "loras")}
    preset = request.model in presets
    values.update(model=request.model if preset else DEFAULT_MODEL, custom_model="" if preset else request.model,
                  loras=format_loras(request.loras))
    return {n: values[n] for n in REFILL_FIELDS}
