"""`ImageGenerator`: load a model once, then make pictures from `ImageRequest`s.

`generate` follows diffusers' own shape: check the inputs, prepare (model,
scheduler, LoRAs, start image, seeds), run the denoising phases with progress
and Stop through `callback_on_step_end`, then post-process (upscale to the
asked size where the model is fixed-size, withhold what a safety checker
blacked out), write PNGs with their settings and a JSON record, and return a
small `ImageResult`. A Stop returns no pictures (the page keeps its previous ones).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.loading import LoadRequest, ModelSlot, weights_digest
from studio.records import make_record, new_output_dir, write_record

from . import loras, pipelines
from .pnginfo import save_png
from .request import ImageRequest, check_pixels

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
    withheld: list[int] = field(default_factory=list)  # batch indexes a safety checker flagged (not kept)
    kept_seeds: list[int] = field(default_factory=list)  # the seeds of `images`
    loras: dict[str, str] = field(default_factory=dict)  # active LoRA name -> sha256 of its file

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
    """Holds the loaded image model (one at a time) and makes pictures with it; one generation at a time.

    Nothing a request chooses outlives it: the scheduler, memory options and active LoRAs are set for every
    generation from its own request, and LoRAs belong to the owner whose `outputs_dir` a call names."""

    def __init__(self, settings):
        self.settings = settings
        self.slot = ModelSlot("image", pipelines.load_pipelines, device_preference=settings.device,
                              token=settings.hf_token)
        self.refiner_slot = ModelSlot("image", pipelines.load_refiner(self.slot), device_preference=settings.device,
                                      token=settings.hf_token)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- loading

    def load(self, model: str, scope: dict | None = None) -> pipelines.ImagePipelines:
        """`scope` is what the name may point at (`Studio.model_scope` for a visitor, any_path for the CLI)."""
        before = self.slot.current
        pipes = self.slot.load(self._load_request(model, scope)).model
        if self.slot.current is not before:
            self.refiner_slot.unload()  # it borrowed the previous base's text encoder and VAE
        return pipes

    def _load_request(self, model: str, scope: dict | None) -> LoadRequest:
        return LoadRequest(model, modality="image", precision=self._precision(), **(scope or {}))

    def _precision(self) -> str:
        from studio.devices import pick_device

        return "fp16" if pick_device(self.settings.device) == "cuda" else "full"  # fp32 on the CPU, always

    def model_description(self, slot: ModelSlot | None = None) -> dict:
        current = (slot or self.slot).current
        if current is None:
            return {}
        described = current.describe()
        if current.source.is_local:
            pipes = current.model
            pipes.fingerprint = pipes.fingerprint or weights_digest(current.source.location)
            described["fingerprint"] = pipes.fingerprint
        return {k: described[k] for k in ("model", "source", "fingerprint", "precision", "device")}

    # ---------------------------------------------------------------- LoRAs (per owner, see loras.py)

    def load_lora(self, model: str, path: str | Path, name: str | None = None, scope: dict | None = None,
                  outputs_dir: str | Path | None = None) -> str:
        """Keep an uploaded LoRA in the owner's folder and check, by loading it, that it fits `model`."""
        outputs_dir = Path(outputs_dir or self.settings.outputs_dir)
        with self._lock:
            pipes = self.load(model, scope)
            name, kept = loras.keep_upload(Path(path), outputs_dir, name or Path(path).stem)
            try:
                loras.ensure_adapter(pipes, loras.owner_tag(outputs_dir), name, kept)
            except StudioError:
                shutil.rmtree(kept.parent, ignore_errors=True)
                raise
            return name

    def unload_loras(self, outputs_dir: str | Path | None = None) -> None:
        """Forget this owner's LoRAs (files and adapters); other owners' stay as they were."""
        outputs_dir = Path(outputs_dir or self.settings.outputs_dir)
        with self._lock:
            if self.slot.current is not None:
                loras.forget_adapters(self.slot.current.model, loras.owner_tag(outputs_dir))
            loras.forget_owner(outputs_dir)

    def loaded_loras(self, outputs_dir: str | Path | None = None) -> list[str]:
        return loras.owned_loras(outputs_dir or self.settings.outputs_dir)

    # ---------------------------------------------------------------- generating

    def generate(self, request: ImageRequest, on_progress: Callable[[StepProgress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, preview_every: int = 0, save: bool = True,
                 scope: dict | None = None, outputs_dir: str | Path | None = None,
                 max_pixels: int | None = None) -> ImageResult:
        """`outputs_dir` is the owner's folder (their LoRAs, their pictures); `max_pixels` the operator's bound."""
        with self._lock:
            return self._generate(request.with_resolved_seed(), on_progress, should_stop, preview_every, save,
                                  scope, Path(outputs_dir or self.settings.outputs_dir),
                                  max_pixels or self.settings.max_image_pixels)

    def _generate(self, request, on_progress, should_stop, preview_every, save, scope, outputs_dir,
                  max_pixels) -> ImageResult:
        import torch

        # 1. check what depends on the model (loading it first if needed; `seconds` excludes the load)
        pipes = self.load(request.model, scope)
        request = self._resolve_size(request, pipes)
        check_pixels(request.width, request.height, max_pixels)
        started = time.perf_counter()
        result = ImageResult(request=request, seeds=request.seeds())
        width, height = self._working_size(request, pipes, result.notes)
        if request.mode == "text2img" and pipes.kind == "sdxl-refiner":
            raise StudioError(f"{request.model} is a refiner: use it as the refiner of an SDXL base, or in img2img mode.")
        if request.refiner != "none" and pipes.kind != "sdxl":
            raise StudioError("The refiner works only with an SDXL base model; set refiner to none for this model.")
        # 2. prepare
        start_image = load_start_image(request.init_image, width, height) if request.mode == "img2img" else None
        result.loras = loras.activate(pipes, loras.owner_tag(outputs_dir), outputs_dir, request.loras)
        refiner = self._refiner(request, scope) if request.refiner != "none" else None
        common = dict(
            prompt=[request.prompt] * request.images,
            # None, not "": SDXL then uses its zero embedding for "no negative prompt" (force_zeros_for_empty_prompt)
            negative_prompt=[request.negative_prompt] * request.images if request.negative_prompt else None,
            guidance_scale=request.guidance, num_inference_steps=request.steps,
            generator=[torch.Generator("cpu").manual_seed(s) for s in result.seeds],
        )
        counter = _StepCounter(on_progress, should_stop, preview_every)
        # 3. run the phases
        try:
            images, flagged = self._run(request, pipes, refiner, common, width, height, start_image, counter)
        except _Stopped:
            result.stopped = True
            result.denoise_steps = counter.steps
            result.seconds = time.perf_counter() - started
            return result
        finally:
            for loaded in (pipes, refiner):
                if loaded is not None:
                    loaded.text2img.maybe_free_model_hooks()
        result.denoise_steps = counter.steps
        # 4. post-process and save
        result.withheld = [i for i, bad in enumerate(flagged) if bad]
        if result.withheld:
            result.notes.append(withheld_note(result.withheld, result.seeds))
        if (width, height) != (request.width, request.height):
            from PIL import Image

            images = [image.resize((request.width, request.height), Image.Resampling.LANCZOS) for image in images]
        result.images = [image for i, image in enumerate(images) if i not in result.withheld]
        result.kept_seeds = [seed for i, seed in enumerate(result.seeds) if i not in result.withheld]
        result.seconds = time.perf_counter() - started
        if save:
            self._save(result, outputs_dir, refiner is not None)
        return result

    def _run(self, request, pipes, refiner, common, width, height, start_image, counter):
        """The denoising phases; returns the pictures and, per picture, whether a safety checker flagged it."""
        size = dict(width=width, height=height)
        if request.mode == "img2img":
            pipe = self._prepared(pipes.img2img, request, pipes, width * height, request.strength)
            return _pictures(pipe(image=start_image, strength=request.strength, **common, output_type="pil",
                                  **counter.hook("img2img", pipe)))
        base = self._prepared(pipes.text2img, request, pipes, width * height)
        if request.refiner == "none":
            return _pictures(base(**size, **common, output_type="pil", **counter.hook("base", base)))
        refiner_pipe = self._prepared(refiner.text2img, request, refiner, width * height)
        if request.refiner == "ensemble":  # the base denoises the noisy part, the refiner the rest, on latents
            latents = base(**size, **common, denoising_end=request.refiner_fraction, output_type="latent",
                           **counter.hook("base", base)).images
            return _pictures(refiner_pipe(image=latents, denoising_start=request.refiner_fraction, **common,
                                          output_type="pil", **counter.hook("refiner", refiner_pipe)))
        pictures = base(**size, **common, output_type="pil", **counter.hook("base", base)).images
        return _pictures(refiner_pipe(image=pictures, strength=request.refiner_strength, **common, output_type="pil",
                                      **counter.hook("refiner", refiner_pipe)))

    def _prepared(self, pipe, request, pipes, pixels, strength: float = 1.0):
        pipe.scheduler = pipelines.make_scheduler(request.scheduler, pipes.scheduler_config)
        pipelines.check_scheduler(pipe.scheduler, int(request.steps * strength))
        pipelines.set_memory_options(pipe, request.low_memory, pixels)
        return pipe

    def _refiner(self, request, scope) -> pipelines.ImagePipelines:
        return self.refiner_slot.load(self._load_request(request.refiner_model, scope)).model

    @staticmethod
    def _resolve_size(request: ImageRequest, pipes) -> ImageRequest:
        """Width or height 0: the model's own size, so a hub model draws at 512/768/1024 px, not at 64."""
        if request.width and request.height:
            return request
        return dataclasses.replace(request, width=request.width or pipes.native_size,
                                   height=request.height or pipes.native_size)

    def _working_size(self, request, pipes, notes: list[str]) -> tuple[int, int]:
        """Fixed-size (embedded) models draw at their native size however named; larger asks are upscaled after."""
        native = pipes.native_size
        if not pipes.fixed_size or max(request.width, request.height) <= native:
            return request.width, request.height
        scale = native / max(request.width, request.height)
        width, height = (max(8, round(side * scale / 8) * 8) for side in (request.width, request.height))
        notes.append(f"{request.model} draws at {native}x{native}; made at {width}x{height} and upscaled to "
                     f"{request.width}x{request.height}.")
        return width, height

    def _save(self, result: ImageResult, outputs_dir: Path, refined: bool) -> None:
        folder = new_output_dir(outputs_dir, "image")
        model = self.model_description()
        for image, seed in zip(result.images, result.kept_seeds):
            index = result.seeds.index(seed)
            result.paths.append(save_png(image, folder / f"image-{index:02d}-seed-{seed}.png", result.request, index,
                                         model))
        result.folder = folder
        write_record(folder, make_record(
            "image", result.request, model=model, seeds=result.seeds, files=[p.name for p in result.paths],
            seconds=round(result.seconds, 3), denoise_steps=result.denoise_steps, notes=result.notes,
            loras=result.loras, withheld=[{"index": i, "seed": result.seeds[i], "reason": "safety checker"}
                                          for i in result.withheld],
            refiner=self.model_description(self.refiner_slot) if refined else None,
        ))


def _pictures(output) -> tuple[list, list[bool]]:
    """A pipeline output's pictures and its safety checker's flags (all False for models without a checker)."""
    flags = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
    return output.images, [bool(flag) for flag in flags]


def withheld_note(indexes: list[int], seeds: list[int]) -> str:
    which = ", ".join(f"{i + 1} (seed {seeds[i]})" for i in indexes)
    return (f"Picture(s) {which} withheld: the model's safety checker flagged them and the pipeline blacked them "
            "out. Try another seed or prompt.")


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

