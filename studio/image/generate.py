"""`ImageGenerator`: load a model once, then make pictures from `ImageRequest`s.

`generate` follows diffusers' own shape: check the inputs, prepare (model,
scheduler, LoRAs, start image, seeds), run the denoising phases with progress
and Stop through `callback_on_step_end`, then post-process (upscale to the
asked size where the model is fixed-size), write PNGs with their settings and a
JSON record, and return a small `ImageResult`. A Stop returns no pictures at all.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.loading import LoadRequest, ModelSlot, weights_digest
from studio.records import make_record, new_output_dir, write_record
from studio.registry import find_preset

from . import pipelines
from .pnginfo import save_png
from .request import ImageRequest

MAX_UPLOAD_BYTES = 20 * 2**20
MAX_UPLOAD_PIXELS = 4096 * 4096
UPLOAD_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "GIF"}


@dataclass(frozen=True)
class StepProgress:
    """One denoising step of one phase ("base", "img2img" or "refiner"); `preview` is a PIL image or None."""

    phase: str
    step: int
    total: int
    preview: Any = None


@dataclass
class ImageResult:
    request: ImageRequest  # with the seed resolved
    images: list = field(default_factory=list)  # PIL images, in batch order
    paths: list[Path] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    folder: Path | None = None
    seconds: float = 0.0
    denoise_steps: int = 0
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        return self.denoise_steps / self.seconds if self.seconds else 0.0


class _Stopped(Exception):
    """Raised inside the step callback to leave the pipeline at once, before anything is decoded."""


def load_start_image(path: str | Path, width: int, height: int):
    """An uploaded start image, checked to be a real, reasonably sized picture, resized to the request."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise StudioError("The start image is missing; upload it again.")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise StudioError(f"The start image is {size / 2**20:.0f} MB; upload one under {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        with Image.open(path) as probe:
            fmt = probe.format
            pixels = probe.width * probe.height
            probe.verify()
        if fmt not in UPLOAD_FORMATS:
            raise StudioError(f"The start image is a {fmt} file; use PNG, JPEG, WebP, BMP or GIF.")
        if pixels > MAX_UPLOAD_PIXELS:
            raise StudioError(f"The start image has {pixels:,} pixels; use one under {MAX_UPLOAD_PIXELS:,} (4096x4096).")
        with Image.open(path) as image:
            return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise StudioError("The start image is not a picture the studio can read (PNG, JPEG, WebP, BMP or GIF).") from None


class ImageGenerator:
    """Holds the loaded image model (one at a time) and makes pictures with it; one generation at a time."""

    def __init__(self, settings):
        from studio.devices import set_torch_threads

        set_torch_threads(settings.torch_threads)  # half the cores: a busy CPU makes more threads far slower
        self.settings = settings
        self.slot = ModelSlot("image", pipelines.load_pipelines, device_preference=settings.device,
                              token=settings.hf_token)
        self.refiner_slot = ModelSlot("image", pipelines.load_refiner(self.slot), device_preference=settings.device,
                                      token=settings.hf_token)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- loading

    def load(self, model: str) -> pipelines.ImagePipelines:
        before = self.slot.current
        pipes = self.slot.load(LoadRequest(model, modality="image", precision=self._precision())).model
        if self.slot.current is not before:
            self.refiner_slot.unload()  # it borrowed the previous base's text encoder and VAE
        return pipes

    def _precision(self) -> str:
        from studio.devices import pick_device

        return "fp16" if pick_device(self.settings.device) == "cuda" else "full"  # fp32 on the CPU, always

    def model_description(self) -> dict:
        current = self.slot.current
        if current is None:
            return {}
        described = current.describe()
        if current.source.is_local:
            pipes = current.model
            pipes.fingerprint = pipes.fingerprint or weights_digest(current.source.location)
            described["fingerprint"] = pipes.fingerprint
        return {k: described[k] for k in ("model", "source", "fingerprint", "precision", "device")}

    def load_lora(self, model: str, path: str | Path, name: str | None = None) -> str:
        with self._lock:
            pipes = self.load(model)
            # adapter names become module keys in peft: letters, digits and underscores only
            name = re.sub(r"\W+", "_", (name or Path(path).stem).strip()).strip("_") or "lora"
            return pipelines.load_lora(pipes, Path(path), name)

    def unload_loras(self) -> None:
        with self._lock:
            if self.slot.current is not None:
                pipelines.unload_loras(self.slot.current.model)

    def loaded_loras(self) -> dict[str, str]:
        return dict(self.slot.current.model.loras) if self.slot.current else {}

    # ---------------------------------------------------------------- generating

    def generate(self, request: ImageRequest, on_progress: Callable[[StepProgress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, preview_every: int = 0,
                 save: bool = True) -> ImageResult:
        with self._lock:
            return self._generate(request.with_resolved_seed(), on_progress, should_stop, preview_every, save)

    def _generate(self, request, on_progress, should_stop, preview_every, save) -> ImageResult:
        import torch

        # 1. check what depends on the model (loading it first if needed; `seconds` excludes the load)
        pipes = self.load(request.model)
        started = time.perf_counter()
        result = ImageResult(request=request, seeds=request.seeds())
        width, height = self._working_size(request, pipes, result.notes)
        if request.mode == "text2img" and pipes.kind == "sdxl-refiner":
            raise StudioError(f"{request.model} is a refiner: use it as the refiner of an SDXL base, or in img2img mode.")
        if request.refiner != "none" and pipes.kind != "sdxl":
            raise StudioError("The refiner works only with an SDXL base model; set refiner to none for this model.")
        # 2. prepare
        start_image = load_start_image(request.init_image, width, height) if request.mode == "img2img" else None
        pipelines.apply_loras(pipes, request.loras)
        refiner = self._refiner(request) if request.refiner != "none" else None
        common = dict(
            prompt=[request.prompt] * request.images, negative_prompt=[request.negative_prompt] * request.images,
            guidance_scale=request.guidance, num_inference_steps=request.steps,
            generator=[torch.Generator("cpu").manual_seed(s) for s in result.seeds],
        )
        counter = _StepCounter(on_progress, should_stop, preview_every)
        # 3. run the phases
        try:
            images = self._run(request, pipes, refiner, common, width, height, start_image, counter)
        except _Stopped:
            result.stopped = True
            result.seconds = time.perf_counter() - started
            return result
        finally:
            for loaded in (pipes, refiner):
                if loaded is not None:
                    loaded.text2img.maybe_free_model_hooks()
        result.denoise_steps = counter.steps
        # 4. post-process and save
        if (width, height) != (request.width, request.height):
            from PIL import Image

            images = [image.resize((request.width, request.height), Image.Resampling.LANCZOS) for image in images]
        result.images = images
        result.seconds = time.perf_counter() - started
        if save:
            self._save(result)
        return result

    def _run(self, request, pipes, refiner, common, width, height, start_image, counter):
        size = dict(width=width, height=height)
        if request.mode == "img2img":
            pipe = self._prepared(pipes.img2img, request, pipes, width * height)
            return pipe(image=start_image, strength=request.strength, **common, output_type="pil",
                        **counter.hook("img2img", pipe)).images
        base = self._prepared(pipes.text2img, request, pipes, width * height)
        if request.refiner == "none":
            return base(**size, **common, output_type="pil", **counter.hook("base", base)).images
        refiner_pipe = self._prepared(refiner.text2img, request, refiner, width * height)
        if request.refiner == "ensemble":  # the base denoises the noisy part, the refiner the rest, on latents
            latents = base(**size, **common, denoising_end=request.refiner_fraction, output_type="latent",
                           **counter.hook("base", base)).images
            return refiner_pipe(image=latents, denoising_start=request.refiner_fraction, **common, output_type="pil",
                                **counter.hook("refiner", refiner_pipe)).images
        pictures = base(**size, **common, output_type="pil", **counter.hook("base", base)).images
        return refiner_pipe(image=pictures, strength=request.refiner_strength, **common, output_type="pil",
                            **counter.hook("refiner", refiner_pipe)).images

    def _prepared(self, pipe, request, pipes, pixels):
        pipe.scheduler = pipelines.make_scheduler(request.scheduler, pipes.scheduler_config)
        pipelines.set_memory_options(pipe, request.low_memory, pixels)
        return pipe

    def _refiner(self, request) -> pipelines.ImagePipelines:
        return self.refiner_slot.load(LoadRequest(request.refiner_model, modality="image",
                                                  precision=self._precision())).model

    def _working_size(self, request, pipes, notes: list[str]) -> tuple[int, int]:
        """Fixed-size (embedded) models draw at their native size; larger requests are upscaled afterwards."""
        preset = find_preset(request.model, "image")
        native = pipes.native_size
        if not (preset and preset.embedded) or max(request.width, request.height) <= native:
            return request.width, request.height
        scale = native / max(request.width, request.height)
        width, height = (max(8, round(side * scale / 8) * 8) for side in (request.width, request.height))
        notes.append(f"{request.model} draws at {native}x{native}; made at {width}x{height} and upscaled to "
                     f"{request.width}x{request.height}.")
        return width, height

    def _save(self, result: ImageResult) -> None:
        folder = new_output_dir(self.settings.outputs_dir, "image")
        model = self.model_description()
        for index, (image, seed) in enumerate(zip(result.images, result.seeds)):
            result.paths.append(save_png(image, folder / f"image-{index:02d}-seed-{seed}.png", result.request, index,
                                         model))
        result.folder = folder
        write_record(folder, make_record(
            "image", result.request, model=model, seeds=result.seeds, files=[p.name for p in result.paths],
            seconds=round(result.seconds, 3), denoise_steps=result.denoise_steps, notes=result.notes,
            loras=self.loaded_loras(),
        ))


class _StepCounter:
    """Builds the `callback_on_step_end` hook of each phase: progress, optional previews, and Stop."""

    def __init__(self, on_progress, should_stop, preview_every: int):
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.preview_every = preview_every
        self.steps = 0

    def hook(self, phase: str, pipe) -> dict:
        if self.on_progress is None and self.should_stop is None:
            return {"callback_on_step_end": self._count}
        wants_latents = self.preview_every > 0 and self.on_progress is not None
        callback = self._make(phase)
        return {"callback_on_step_end": callback,
                "callback_on_step_end_tensor_inputs": ["latents"] if wants_latents else []}

    def _count(self, pipe, step, timestep, tensors):
        self.steps += 1
        return {}

    def _make(self, phase: str):
        def callback(pipe, step, timestep, tensors):
            self.steps += 1
            if self.should_stop is not None and self.should_stop():
                raise _Stopped
            if self.on_progress is not None:
                preview = None
                if self.preview_every > 0 and (step + 1) % self.preview_every == 0 and "latents" in tensors:
                    preview = decode_preview(pipe, tensors["latents"])
                self.on_progress(StepProgress(phase, step + 1, pipe.num_timesteps, preview))
            return {}

        return callback


def decode_preview(pipe, latents):
    """The first picture of the batch as it stands (still noisy), decoded by the VAE."""
    import torch

    with torch.no_grad():
        first = latents[:1].to(pipe.vae.dtype) / pipe.vae.config.scaling_factor
        picture = pipe.vae.decode(first, return_dict=False)[0]
    return pipe.image_processor.postprocess(picture.float(), output_type="pil")[0]

