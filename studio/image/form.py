"""Every Image field declared once: name, default, range or choices, one sentence of help, and its kind of control.

The tab builds its Gradio controls from `FIELDS` (label, help, slider bounds,
choices), the CLI builds its flags from it, and `ImageRequest` checks its
values with `Field.check`, so a default or a range is written here and nowhere
else. No Gradio and no torch here: the form is tested without a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.errors import ConfigError

MAX_STEPS = 150
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 2000
SCHEDULERS = ("default", "euler", "euler_ancestral", "dpmpp_2m", "ddim", "pndm", "unipc")
REFINER_MODES = ("none", "ensemble", "second_pass")
MODES = ("text2img", "img2img")
DEFAULT_MODEL = "embedded/image-shapes"
REFINER_MODEL = "stabilityai/stable-diffusion-xl-refiner-1.0"
LORA_SCALE = (-4.0, 4.0)


@dataclass(frozen=True)
class Field:
    """One form field. `attr` is its name in `ImageRequest` (and in error messages) when that differs from `name`,
    the form's and the public API's name; `ui` is the kind of control: text, number, slider, choice, radio,
    checkbox, image or model (a choice of presets that also takes a typed name)."""

    name: str
    default: Any
    help: str
    ui: str
    label: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False  # the range excludes `low` itself
    open_high: bool = False
    whole: bool = False
    step: float | None = None
    choices: tuple = ()
    zero: str = ""  # what 0 means when 0 is allowed outside the range (width: the model's own size)
    multiple: int = 1
    attr: str = ""
    cli: bool = True  # a flag of `python -m studio image`

    @property
    def key(self) -> str:
        return self.attr or self.name

    def range_text(self) -> str:
        if self.low is None:
            return ""
        if self.zero:
            return f"a whole number between {self.low} and {self.high}, or 0 for {self.zero}"
        if self.whole:
            return f"a whole number from {self.low} to {self.high}"
        if self.open_low and self.open_high:
            return f"a number between {self.low:g} and {self.high:g}, e.g. {self.default:g}"
        if self.open_low:
            return f"a number above {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def parse(self, value: Any) -> Any:
        """A form or API value as this field's type (Gradio sends 20.0 for 20, None for an empty box)."""
        if self.ui == "checkbox":
            return bool(value)
        if self.low is None:
            return value if self.choices else ("" if value is None else value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(self.key, value, f"use {self.range_text()}")
        if self.whole:
            if float(value) != int(value):
                raise ConfigError(self.key, value, f"use {self.range_text()}")
            return int(value)
        return float(value)

    def check(self, value: Any) -> None:
        """Refuse a value outside this field's type, range or choices, naming the field."""
        if self.choices:
            if value not in self.choices:
                raise ConfigError(self.key, value, f"choose one of {', '.join(self.choices)}")
        elif self.low is None:
            if not isinstance(value, str):
                raise ConfigError(self.key, value, "use text")
            if len(value) > MAX_PROMPT_CHARS:
                raise ConfigError(self.key, f"{value[:40]}...", f"keep it under {MAX_PROMPT_CHARS} characters")
        elif self.whole:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(self.key, value, f"use {self.range_text()}")
            if self.zero and value == 0:
                return
            if value % self.multiple:
                lower = value // self.multiple * self.multiple
                raise ConfigError(self.key, value, f"use a multiple of {self.multiple} (the VAE works on "
                                                   f"{self.multiple}x{self.multiple} blocks), e.g. {lower} or "
                                                   f"{lower + self.multiple}")
            if not self.low <= value <= self.high:
                raise ConfigError(self.key, value, f"use {self.range_text()}")
        else:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or not (self.low < value if self.open_low else self.low <= value) \
                    or not (value < self.high if self.open_high else value <= self.high):
                raise ConfigError(self.key, value, f"use {self.range_text()}")


def _size(name: str, label: str) -> Field:
    return Field(name, 0, f"Pixels, a multiple of 8; 0 uses the model's own {name}.", "number", label, low=32,
                 high=2048, whole=True, zero="the model's own size", multiple=8)


FIELDS: dict[str, Field] = {f.name: f for f in (
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

    typed = {name: field.parse(values.get(name, field.default)) for name, field in FIELDS.items()}
    mode = typed["mode"]
    request_values = {FIELDS[n].key: typed[n] for n in REFILL_FIELDS if n not in ("custom_model", "loras")}
    request_values.update(
        prompt=typed["prompt"] or "", negative_prompt=typed["negative"] or "",
        model=str(typed["custom_model"] or "").strip() or typed["model"],
        refiner_model=str(typed["refiner_model"] or "").strip() or REFINER_MODEL,
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
