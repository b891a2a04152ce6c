"""Loading diffusers pipelines through the shared `ModelSlot`, and what a loaded pipeline can be asked to do.

The base pipeline is loaded once; its img2img twin is made with `from_pipe`, so
both share every weight. An SDXL refiner is loaded into its own slot and borrows
the base's second text encoder and VAE. Schedulers are swapped per request from
the model's own scheduler config; LoRA adapters live on the loaded pipeline (the
img2img twin sees them because it shares the UNet), named and switched per owner
and per request by `loras.py`.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.loading import LoadRequest, ModelSlot
from studio.registry import ModelSource

log = logging.getLogger(__name__)

# Request name -> diffusers scheduler class; "default" keeps the one the model was saved with.
SCHEDULER_CLASSES = {
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
}
SDXL_VAE_FP16_FIX = "madebyollin/sdxl-vae-fp16-fix"


@dataclass
class ImagePipelines:
    """One loaded model: its text-to-image pipeline and the img2img pipeline sharing its weights."""

    text2img: Any
    img2img: Any
    kind: str  # "sd", "sdxl" or "sdxl-refiner"
    device: str
    scheduler_config: dict  # the model's own, so every request starts from the same scheduler
    native_size: int  # the side the model was trained at (UNet sample size x VAE scale)
    fixed_size: bool = False  # draws only at its native size (the embedded model): larger asks are upscaled
    loras: dict[str, tuple] = field(default_factory=dict)  # adapter -> (file, mtime, size), least recently used first
    fingerprint: str | None = None  # filled on first save

    @property
    def vae_scale_factor(self) -> int:
        return getattr(self.text2img, "vae_scale_factor", 8)

    @property
    def config(self):
        """The pipeline's config (the shared loader reads its hub revision from here)."""
        return self.text2img.config


def pipeline_kind(pipe) -> str:
    name = type(pipe).__name__
    if "XL" in name:
        return "sdxl-refiner" if getattr(pipe, "text_encoder", None) is None or "Img2Img" in name else "sdxl"
    return "sd"


def load_pipelines(source: ModelSource, request: LoadRequest, device: str, dtype, token: str | None):
    """The image modality's loader for `ModelSlot`: returns (ImagePipelines, tokenizer)."""
    from diffusers import AutoPipelineForImage2Image, DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(source.location, dtype=dtype, token=token)
    kind = pipeline_kind(pipe)
    place(pipe, device, dtype, kind)  # before from_pipe, so the twin shares a swapped-in VAE too
    if "Img2Img" in type(pipe).__name__:
        img2img = pipe
        text2img = pipe  # a refiner has no text-to-image twin; `generate` refuses text2img for it
    else:
        text2img = pipe
        img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    for p in {id(text2img): text2img, id(img2img): img2img}.values():
        p.set_progress_bar_config(disable=True)
    native = int(pipe.unet.config.sample_size) * getattr(pipe, "vae_scale_factor", 8)
    pipes = ImagePipelines(text2img, img2img, kind, device, dict(pipe.scheduler.config), native,
                           fixed_size=is_embedded(source))
    return pipes, pipe.tokenizer


def is_embedded(source: ModelSource) -> bool:
    """The shipped model however it was named: its preset, or its folder typed as a path (command line, allow-list)."""
    from studio.embedded import EMBEDDED_DIR

    if source.kind == "embedded":
        return True
    if source.kind != "folder":
        return False
    root, folder = Path(EMBEDDED_DIR).resolve(), Path(source.location).resolve()
    return root in folder.parents


def load_refiner(base_slot: ModelSlot):
    """A loader for the refiner slot that borrows the loaded base's second text encoder and VAE."""

    def loader(source: ModelSource, request: LoadRequest, device: str, dtype, token: str | None):
        from diffusers import AutoPipelineForImage2Image

        shared = {}
        base = base_slot.current.model if base_slot.current else None
        if base is not None and base.kind == "sdxl":
            shared = {"text_encoder_2": base.text2img.text_encoder_2, "vae": base.text2img.vae}
        refiner = AutoPipelineForImage2Image.from_pretrained(source.location, dtype=dtype, token=token, **shared)
        if "XL" not in type(refiner).__name__:
            raise StudioError(f"{source.name} is not an SDXL refiner (it loads as {type(refiner).__name__}).")
        place(refiner, device, dtype, "sdxl-refiner", fix_vae=not shared)  # a borrowed VAE is already fixed
        refiner.set_progress_bar_config(disable=True)
        native = int(refiner.unet.config.sample_size) * refiner.vae_scale_factor
        return ImagePipelines(refiner, refiner, "sdxl-refiner", device, dict(refiner.scheduler.config), native), None

    return loader


def place(pipe, device: str, dtype, kind: str, fix_vae: bool = True) -> None:
    """Move to the device; on an accelerator offload to the CPU when short of memory; fix SDXL's fp16 VAE."""
    import torch

    if device == "cpu":
        return  # already fp32 on the CPU (the loader asked for the slot's dtype, which is fp32 there)
    if dtype == torch.float16 and kind.startswith("sdxl") and fix_vae:
        # SDXL's own VAE overflows in fp16; use the fixed one when it can be had, else decode in fp32.
        try:
            from diffusers import AutoencoderKL

            pipe.vae = AutoencoderKL.from_pretrained(SDXL_VAE_FP16_FIX, dtype=dtype)
        except Exception:
            log.info("fp16-fixed SDXL VAE unavailable; decoding in fp32 instead")
            pipe.vae.config.force_upcast = True
    if device == "cuda" and _needs_offload(pipe):
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)


def _needs_offload(pipe) -> bool:
    import torch

    weights = sum(p.numel() * p.element_size() for name in ("unet", "text_encoder", "text_encoder_2", "vae")
                  if getattr(pipe, name, None) is not None for p in getattr(pipe, name).parameters())
    free, _ = torch.cuda.mem_get_info()
    return weights * 1.5 > free


def make_scheduler(name: str, config: dict):
    """A fresh scheduler for one request, from the model's own config: some (PNDM) keep state between runs.

    Built from a cached template by deepcopy: diffusers' `from_config` inspects signatures and costs ~5 ms, 1% of a
    64 px picture (measured with cProfile, see benchmarks/image_speed.py)."""
    return copy.deepcopy(_scheduler_template(name, json.dumps(config, sort_keys=True, default=str)))


@functools.lru_cache(maxsize=32)
def _scheduler_template(name: str, config_json: str):
    import diffusers

    config = json.loads(config_json)
    if name == "default":
        class_name = config.get("_class_name", "EulerDiscreteScheduler")
        return getattr(diffusers, class_name).from_config(config)
    if name == "pndm":  # PLMS as SD 1.x ships it: any number of steps, and it starts part-way (img2img) too
        return diffusers.PNDMScheduler.from_config(config, skip_prk_steps=True)
    return getattr(diffusers, SCHEDULER_CLASSES[name]).from_config(config)


def check_scheduler(scheduler, steps: int) -> None:
    """A model whose own PNDM runs Runge-Kutta warm-up steps needs at least 4 of them (diffusers fails below)."""
    if type(scheduler).__name__ == "PNDMScheduler" and not scheduler.config.get("skip_prk_steps", False) and steps < 4:
        raise StudioError(f"steps: {steps} is not valid; this model's PNDM scheduler needs at least 4 denoising "
                          "steps (or choose the pndm scheduler explicitly, which skips the warm-up).")


def set_memory_options(pipe, low_memory: bool, pixels: int) -> None:
    """Attention slicing only when asked (it costs speed); VAE slicing always; VAE tiling for big pictures.

    Slicing is switched only on a change: switching resets the attention processors.
    """
    if low_memory != getattr(pipe, "_studio_sliced", False):
        pipe.enable_attention_slicing() if low_memory else pipe.disable_attention_slicing()
        pipe._studio_sliced = low_memory
    vae = pipe.vae
    vae.use_slicing = True  # decode a batch one picture at a time
    vae.use_tiling = bool(low_memory or pixels > 1024 * 1024)
