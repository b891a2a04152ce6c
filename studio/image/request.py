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

MIN_SIDE, MAX_SIDE = 32, 2048
NATIVE = 0  # a width or height of 0 means the model's own size (its UNet's sample size times the VAE's scale)
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_IMAGES = 8
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
SCHEDULERS = ("default", "euler", "euler_ancestral", "dpmpp_2m", "ddim", "pndm", "unipc")
REFINER_MODES = ("none", "ensemble", "second_pass")
MODES = ("text2img", "img2img")


@dataclass(frozen=True)
class LoraChoice:
    """A loaded LoRA adapter to apply, and how strongly (0 turns it off, 1 is as trained)."""

    name: str
    scale: float = 1.0


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = ""
    model: str = "embedded/image-shapes"
    mode: str = "text2img"  # img2img starts from `init_image`
    width: int = NATIVE  # pixels; 0 = the model's native size, resolved when the model is loaded
    height: int = NATIVE
    steps: int = 20
    guidance: float = 5.0
    strength: float = 0.6  # img2img only: how much of the start image is re-noised (1 = all of it)
    scheduler: str = "default"  # "default" keeps the model's own
    images: int = 1
    seed: int = 0  # image i of a batch uses seed + i; -1 picks a random seed, recorded once resolved
    refiner: str = "none"  # SDXL: "ensemble" hands the base's latents over, "second_pass" refines its picture
    refiner_model: str = "stabilityai/stable-diffusion-xl-refiner-1.0"
    refiner_fraction: float = 0.8  # ensemble: share of the steps the base does before handing over
    refiner_strength: float = 0.3  # second pass: img2img strength of the refiner
    loras: tuple[LoraChoice, ...] = ()
    init_image: str | None = None  # img2img: a local file the user uploaded; never a URL
    low_memory: bool = False  # attention slicing and VAE tiling: less memory, a little slower

    def __post_init__(self):
        _check_text("prompt", self.prompt)
        _check_text("negative_prompt", self.negative_prompt)
        if self.mode not in MODES:
            raise ConfigError("mode", self.mode, f"choose one of {', '.join(MODES)}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(name, value, "use a whole number of pixels")
            if value == NATIVE:
                continue
            if value % 8:
                lower, upper = value // 8 * 8, value // 8 * 8 + 8
                raise ConfigError(name, value, f"use a multiple of 8 (the VAE works on 8x8 blocks), e.g. {lower} or {upper}")
            if not MIN_SIDE <= value <= MAX_SIDE:
                raise ConfigError(name, value, f"use between {MIN_SIDE} and {MAX_SIDE} pixels, or 0 for the model's "
                                  "own size")
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("images", self.images, 1, MAX_IMAGES)
        _check_int("seed", self.seed, -1, MAX_SEED)
        _check_number("guidance", self.guidance, 0.0, MAX_GUIDANCE)
        _check_fraction("strength", self.strength)
        _check_fraction("refiner_strength", self.refiner_strength)
        if not 0.0 < float(self.refiner_fraction) < 1.0:
            raise ConfigError("refiner_fraction", self.refiner_fraction, "use a share between 0 and 1, e.g. 0.8")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError("scheduler", self.scheduler, f"choose one of {', '.join(SCHEDULERS)}")
        if self.refiner not in REFINER_MODES:
            raise ConfigError("refiner", self.refiner, f"choose one of {', '.join(REFINER_MODES)}")
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
            _check_number(f"scale of LoRA {lora.name}", lora.scale, -4.0, 4.0)

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


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ConfigError(name, value, "use text")
    if len(value) > MAX_PROMPT_CHARS:
        raise ConfigError(name, f"{value[:40]}...", f"keep it under {MAX_PROMPT_CHARS} characters")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(name, value, f"use a whole number from {low} to {high}")


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= float(value) <= high:
        raise ConfigError(name, value, f"use a number from {low:g} to {high:g}")


def _check_fraction(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < float(value) <= 1.0:
        raise ConfigError(name, value, "use a number above 0 and at most 1")

