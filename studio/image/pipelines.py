"""Loading diffusers pipelines through the shared `ModelSlot`, and what a loaded pipeline can be asked to do.

The base pipeline is loaded once; its img2img twin is made with `from_pipe`, so
both share every weight. An SDXL refiner is loaded into its own slot and borrows
the base's second text encoder and VAE. Schedulers are swapped per request from
the model's own scheduler config, and LoRA adapters live on the loaded pipeline
(the img2img twin sees them because it shares the UNet).
"""

from __future__ import annotations

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
    native_size: int  # the side the model was trained at
    loras: dict[str, str] = field(default_factory=dict)  # adapter name -> file it came from
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
    return ImagePipelines(text2img, img2img, kind, device, dict(pipe.scheduler.config), native), pipe.tokenizer


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
    """A fresh scheduler for one request, from the model's own config: some (PNDM) keep state between runs."""
    import diffusers

    if name == "default":
        class_name = config.get("_class_name", "EulerDiscreteScheduler")
    else:
        class_name = SCHEDULER_CLASSES[name]
    return getattr(diffusers, class_name).from_config(config)


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


# ---------------------------------------------------------------- LoRA


def find_lora_file(path: Path) -> Path:
    """The weights file of a LoRA given as a file or a folder; only safetensors (a .bin can run code)."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        preferred = [p for p in candidates if p.name == "pytorch_lora_weights.safetensors"]
        if not candidates:
            raise StudioError(f"The folder {path.name} has no .safetensors LoRA file.")
        if len(candidates) > 1 and not preferred:
            raise StudioError(f"The folder {path.name} has several .safetensors files; load one of them directly.")
        return (preferred or candidates)[0]
    if not path.is_file():
        raise StudioError(f"There is no LoRA file at {path.name}.")
    if path.suffix != ".safetensors":
        raise StudioError(f"{path.name} is not a .safetensors file; the studio loads LoRA weights only from "
                          "safetensors, since .bin/.pt files can run code when opened.")
    return path


def load_lora(pipes: ImagePipelines, path: Path, name: str) -> str:
    """Load a LoRA as adapter `name`; a file that is damaged or made for another model leaves the pipeline as it was."""
    file = find_lora_file(path)
    check_lora_file(file)
    if name in pipes.loras:
        raise StudioError(f"A LoRA named {name} is already loaded; unload it or pick another name.")
    pipe = pipes.text2img
    try:
        pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=name)
    except Exception as err:
        _forget_adapter(pipes, name)
        raise StudioError(lora_error_message(file.name, err)) from None
    loaded = {adapter for adapters in pipe.get_list_adapters().values() for adapter in adapters}
    if name not in loaded:
        raise StudioError(f"The LoRA {file.name} does not fit this model: none of its layers match the model's "
                          "(it was made for a different base model).")
    pipes.loras[name] = str(file)
    return name


def check_lora_file(file: Path) -> None:
    """Read the safetensors header before diffusers does: a damaged file or a non-LoRA gets its own message."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as weights:
            keys = list(weights.keys())
    except Exception:
        raise StudioError(f"The LoRA file {file.name} cannot be read: it is damaged or not a safetensors file.") from None
    if not any("lora" in key.lower() or "hada" in key or "lokr" in key for key in keys):
        raise StudioError(f"The file {file.name} holds weights, but no LoRA layers: it is not a LoRA.")


def lora_error_message(filename: str, err: Exception) -> str:
    text = str(err)
    kind = type(err).__name__
    if "SafetensorError" in kind or any(w in text.lower() for w in ("header", "deserializ", "unable to load")):
        return f"The LoRA file {filename} cannot be read: it is damaged or not a safetensors file."
    if "size mismatch" in text or "shape" in text.lower():
        return (f"The LoRA {filename} does not fit this model: its layer sizes differ (it was made for a "
                "different base model, e.g. SD 1.5 vs SDXL).")
    if "Invalid LoRA checkpoint" in text or "lora" in text.lower():
        return f"The file {filename} is not a LoRA this model can use ({kind}: {text.splitlines()[0][:200]})."
    return f"The LoRA {filename} could not be loaded ({kind})."


def _forget_adapter(pipes: ImagePipelines, name: str) -> None:
    """Remove whatever a failed load left behind, so the next generation is exactly as before."""
    pipe = pipes.text2img
    try:
        if any(name in adapters for adapters in pipe.get_list_adapters().values()):
            pipe.delete_adapters(name)
    except Exception:
        log.warning("could not delete a half-loaded LoRA; unloading all LoRAs", exc_info=True)
        pipe.unload_lora_weights()
        pipes.loras.clear()


def unload_loras(pipes: ImagePipelines) -> None:
    if pipes.loras:
        pipes.text2img.unload_lora_weights()
    pipes.loras.clear()


def apply_loras(pipes: ImagePipelines, choices) -> None:
    """Activate exactly the chosen adapters at their scales; none chosen turns LoRA off."""
    if not pipes.loras:
        if choices:
            raise StudioError(f"LoRA {choices[0].name} is not loaded; load it first.")
        return
    missing = [c.name for c in choices if c.name not in pipes.loras]
    if missing:
        raise StudioError(f"LoRA {missing[0]} is not loaded; loaded: {', '.join(pipes.loras)}.")
    pipe = pipes.text2img
    if not choices:
        pipe.disable_lora()
        return
    pipe.enable_lora()
    pipe.set_adapters([c.name for c in choices], adapter_weights=[float(c.scale) for c in choices])
