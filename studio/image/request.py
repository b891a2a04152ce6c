"""`ImageRequest`: every setting of one image generation, checked in one place.

A request is plain data (no tensors, no PIL images): it is what a PNG carries in
its text chunk and what the PNG-info drop zone turns back into controls, so the
same request always makes the same picture again.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass

from studio.errors import ConfigError, StudioError

from .form import (FIELDS, LORA_SCALE, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS, MODES, REFINER_MODES,  # noqa: F401
                   SCHEDULERS, default)

NATIVE = 0  # a width or height of 0 means the model's own size (its UNet's sample size times the VAE's scale)
# Each of these is checked by its declaration; the rest are merged into `model`, checked below, or not the request's.
CHECKED = tuple(n for n in FIELDS if n not in ("custom_model", "init_image", "loras", "low_memory", "preview_every"))


@dataclass(frozen=True)
class LoraChoice:
    """A loaded LoRA adapter to apply, and how strongly (0 turns it off, 1 is as trained)."""

    name: str
    scale: float = 1.0


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = default("negative")
    model: str = default("model")
    mode: str = default("mode")  # img2img starts from `init_image`
    width: int = default("width")  # pixels; 0 = the model's native size, resolved when the model is loaded
    height: int = default("height")
    steps: int = default("steps")
    guidance: float = default("guidance")
    strength: float = default("strength")  # img2img only: how much of the start image is re-noised (1 = all)
    scheduler: str = default("scheduler")  # "default" keeps the model's own
    images: int = default("images")
    seed: int = default("seed")  # image i of a batch uses seed + i; -1 picks a random seed, recorded once resolved
    refiner: str = default("refiner")  # SDXL: "ensemble" hands the base's latents over, "second_pass" refines
    refiner_model: str = default("refiner_model")
    refiner_fraction: float = default("refiner_fraction")  # ensemble: share of the steps the base does first
    refiner_strength: float = default("refiner_strength")  # second pass: img2img strength of the refiner
    loras: tuple[LoraChoice, ...] = ()
    init_image: str | None = default("init_image")  # img2img: a local file the user uploaded; never a URL
    low_memory: bool = default("low_memory")  # attention slicing and VAE tiling: less memory, a little slower

    def __post_init__(self):
        for name in CHECKED:  # type, range, choices: as declared in form.py
            FIELDS[name].check(getattr(self, FIELDS[name].key))
        if self.mode == "img2img":
            if self.refiner != "none":
                raise ConfigError("refiner", self.refiner, "the refiner follows text-to-image; set it to none for img2img")
            if not self.init_image:
                raise ConfigError("init_image", self.init_image, "img2img needs a start image: upload one")
            if str(self.init_image).lower().startswith(("http://", "https://", "ftp://", "file://")):
                raise ConfigError("init_image", self.init_image,
                                  "upload the image instead; the studio never fetches images from URLs")
        if self.mode == "img2img":
            _check_some_steps("strength", self.steps, self.strength)
        if self.refiner == "second_pass":
            _check_some_steps("refiner_strength", self.steps, self.refiner_strength)
        names = [lora.name for lora in self.loras]
        if len(set(names)) != len(names):
            raise ConfigError("loras", names, "name each LoRA once")
        for lora in self.loras:
            scale = lora.scale
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
                    or not LORA_SCALE[0] <= scale <= LORA_SCALE[1]:
                raise ConfigError(f"scale of LoRA {lora.name}", scale, "use a number from %g to %g" % LORA_SCALE)

    def seeds(self) -> list[int]:
        """One seed per image; `with_resolved_seed` must have replaced -1 first."""
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.images)]

    def with_resolved_seed(self) -> ImageRequest:
        if self.seed >= 0:
            return self
        return dataclasses.replace(self, seed=random.SystemRandom().randrange(MAX_SEED + 1))

    def for_image(self, index: int) -> ImageRequest:
        """The request that makes image `index` of this batch again, alone."""
        return dataclasses.replace(self, seed=self.seeds()[index], images=1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImageRequest:
        """Rebuild a request from `to_dict` output (e.g. a PNG's text chunk); unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["loras"] = tuple(LoraChoice(**lora) if isinstance(lora, dict) else LoraChoice(*lora)
                                for lora in values.get("loras", ()))
        return cls(**values)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """The operator's bound on one picture (`STUDIO_MAX_IMAGE_PIXELS`), named in the message."""
    if width * height > max_pixels:
        raise StudioError(
            f"{width}x{height} is {width * height:,} pixels; this studio allows at most {max_pixels:,} pixels a "
            f"picture (max_image_pixels, set by the operator with STUDIO_MAX_IMAGE_PIXELS). Choose a smaller width "
            "or height.")


def _check_some_steps(name: str, steps: int, strength: float) -> None:
    """diffusers runs int(steps x strength) steps of a partial denoise; 0 of them crashes inside the pipeline."""
    if isinstance(strength, (int, float)) and int(steps * float(strength)) < 1:
        needed = math.ceil(1 / float(strength) - 1e-9)
        raise ConfigError(name, strength, f"{steps} steps x {float(strength):g} strength gives no denoising step; "
                                          f"raise steps to at least {needed} or the {name} to at least "
                                          f"{math.ceil(100 / steps) / 100:g}")
