"""Model presets per modality, and how a name the user typed resolves to something loadable.

A name is, in this order: an embedded preset (a folder under assets/embedded/),
a local folder, or a Hugging Face hub id. Each modality keeps its own list of
presets (`TEXT_PRESETS`, ...) and registers it in `PRESETS`, so the Image and
Audio tabs add their entries without touching the text ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .embedded import EMBEDDED_DIR
from .errors import StudioError

# Bytes a parameter takes at each precision; 8/4-bit keep some layers (norms, embeddings) wider,
# which `OVERHEAD` covers together with activations and the KV cache of a short chat.
BYTES_PER_PARAMETER = {"full": 4.0, "fp16": 2.0, "bf16": 2.0, "8bit": 1.0, "4bit": 0.5}
OVERHEAD = 1.2
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def estimate_bytes(parameters: int, precision: str) -> int:
    """Memory a model of `parameters` needs at `precision`, including a margin for activations."""
    return int(parameters * BYTES_PER_PARAMETER[precision] * OVERHEAD)


def format_bytes(n: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@dataclass(frozen=True)
class Preset:
    """One selectable model with an honest one-line card."""

    id: str  # hub id, or the embedded name (resolved to assets/embedded/<folder>)
    modality: str  # "text", "image", "audio"
    card: str  # size, what it was trained on, what it can do, licence
    parameters: int  # for memory estimates before anything is downloaded
    gated: bool = False  # needs an accepted licence and HF_TOKEN
    embedded: bool = False
    folder: str | None = None  # for embedded presets: the folder under assets/embedded/

    def memory(self) -> dict[str, int]:
        """Estimated bytes at every precision, shown before loading."""
        return {p: estimate_bytes(self.parameters, p) for p in BYTES_PER_PARAMETER}


TEXT_PRESETS = [
    Preset(
        id="embedded/text-tiny",
        modality="text",
        card="0.85M-parameter Llama trained here for a few CPU minutes on generated simple stories, facts "
        "and sums (Q: 12+7= A:). Writes short, simple sentences and gets most small sums right; knows "
        "nothing else. Ships with the studio, works offline. Licence: the studio's.",
        parameters=853_120,
        embedded=True,
        folder="text-tiny",
    ),
    Preset(
        id="HuggingFaceTB/SmolLM2-135M-Instruct",
        modality="text",
        card="135M-parameter instruction-tuned model from Hugging Face, trained on 2T tokens of web, code "
        "and maths; short chats and simple tasks. Needs a download (270 MB). Licence: Apache-2.0.",
        parameters=134_515_008,
    ),
    Preset(
        id="Qwen/Qwen2.5-0.5B-Instruct",
        modality="text",
        card="494M-parameter instruction-tuned multilingual model from Alibaba; chat, simple coding and "
        "maths. Needs a download (1 GB). Licence: Apache-2.0.",
        parameters=494_032_768,
    ),
    Preset(
        id="meta-llama/Llama-2-7b-hf",
        modality="text",
        card="6.7B-parameter base (not chat) model from Meta, trained on 2T tokens; completes text. Gated: "
        "accept Meta's licence on the hub and set HF_TOKEN. Needs a GPU or 4-bit with ~5 GB of memory.",
        parameters=6_738_415_616,
        gated=True,
    ),
]

IMAGE_PRESETS = [
    Preset(
        id="embedded/image-shapes",
        modality="image",
        card="1.4M-parameter Stable Diffusion (CLIP text encoder, UNet, 4-level VAE) trained here on CPU on "
        "generated pictures of one circle, square or triangle in red, yellow, green, blue, purple or white on a "
        "plain background of another of those colours. Draws only that, at 64x64 pixels. Ships with the studio, "
        "works offline. Licence: the studio's.",
        parameters=1_430_099,
        embedded=True,
        folder="image-shapes",
    ),
    Preset(
        id="stabilityai/stable-diffusion-xl-base-1.0",
        modality="image",
        card="3.5B-parameter SDXL base from Stability AI; 1024x1024 pictures of almost anything. Needs a download "
        "(7 GB in fp16) and a GPU with 8+ GB for reasonable speed. Licence: CreativeML Open RAIL++-M.",
        parameters=3_470_000_000,
    ),
    Preset(
        id="stabilityai/stable-diffusion-xl-refiner-1.0",
        modality="image",
        card="SDXL refiner (2.3B with its text encoder); polishes the last steps of an SDXL base picture, as an "
        "ensemble (base hands over its latents) or as a second img2img pass. Not a text-to-image model on its own. "
        "Licence: CreativeML Open RAIL++-M.",
        parameters=2_300_000_000,
    ),
    Preset(
        id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        modality="image",
        card="Stable Diffusion 1.5 (0.9B; the former runwayml/stable-diffusion-v1-5), 512x512 pictures; the base "
        "most community LoRAs are made for. Needs a download (2 GB in fp16). Licence: CreativeML OpenRAIL-M.",
        parameters=1_066_000_000,
    ),
    Preset(
        id="stabilityai/stable-diffusion-2-1",
        modality="image",
        card="Stable Diffusion 2.1 (1.3B) with an OpenCLIP text encoder, 768x768 pictures. Needs a download "
        "(2.6 GB in fp16). Licence: CreativeML Open RAIL++-M.",
        parameters=1_300_000_000,
    ),
]

AUDIO_PRESETS = [
    Preset(
        id="embedded/musicgen-tiny",
        modality="audio",
        card="A tiny MusicGen (1.6M parameters: T5 encoder, 16 kHz Encodec, decoder; 6.5 MB) trained here on CPU on "
        "synthetic pentatonic melodies: low (110-220 Hz) or high (880-1760 Hz), slow (about 2 notes/s) or fast "
        "(about 8), in sine, triangle or square tones. Plays only that, in words like 'a slow low melody'. Mono, "
        "16 kHz. Ships with the studio, works offline. Licence: the studio's.",
        parameters=1_604_058,
        embedded=True,
        folder="musicgen-tiny",
    ),
    Preset(
        id="facebook/musicgen-small",
        modality="audio",
        card="MusicGen small from Meta (300M decoder, 590M with its T5 and Encodec): mono music at 32 kHz from a "
        "text description, up to 30 s a window; continues an uploaded clip. Needs a download (2.4 GB). "
        "Licence: CC-BY-NC 4.0 (weights).",
        parameters=593_000_000,
    ),
    Preset(
        id="facebook/musicgen-medium",
        modality="audio",
        card="MusicGen medium (1.5B): better musical structure than small; a GPU is advised. Needs a download "
        "(6 GB). Licence: CC-BY-NC 4.0.",
        parameters=1_500_000_000,
    ),
    Preset(
        id="facebook/musicgen-large",
        modality="audio",
        card="MusicGen large (3.3B): the best text-to-music quality of the family; needs a GPU with 16+ GB. "
        "Download 13 GB. Licence: CC-BY-NC 4.0.",
        parameters=3_300_000_000,
    ),
    Preset(
        id="facebook/musicgen-melody",
        modality="audio",
        card="MusicGen melody (1.5B): text plus the chroma (melody) of an uploaded clip; it follows the tune, not "
        "the sound. Does not continue clips. Download 6 GB. Licence: CC-BY-NC 4.0.",
        parameters=1_500_000_000,
    ),
    Preset(
        id="facebook/musicgen-stereo-small",
        modality="audio",
        card="MusicGen small, stereo (590M): two channels at 32 kHz. Download 2.4 GB. Licence: CC-BY-NC 4.0.",
        parameters=593_000_000,
    ),
    Preset(
        id="facebook/musicgen-stereo-medium",
        modality="audio",
        card="MusicGen medium, stereo (1.5B). Download 6 GB; GPU advised. Licence: CC-BY-NC 4.0.",
        parameters=1_500_000_000,
    ),
    Preset(
        id="facebook/musicgen-stereo-large",
        modality="audio",
        card="MusicGen large, stereo (3.3B). Download 13 GB; GPU with 16+ GB. Licence: CC-BY-NC 4.0.",
        parameters=3_300_000_000,
    ),
    Preset(
        id="facebook/musicgen-stereo-melody",
        modality="audio",
        card="MusicGen melody, stereo (1.5B): text plus an uploaded clip's melody, two channels. Download 6 GB. "
        "Licence: CC-BY-NC 4.0.",
        parameters=1_500_000_000,
    ),
]

PRESETS: dict[str, list[Preset]] = {"text": TEXT_PRESETS, "image": IMAGE_PRESETS, "audio": AUDIO_PRESETS}


def presets(modality: str) -> list[Preset]:
    return list(PRESETS.get(modality, []))


def find_preset(name: str, modality: str | None = None) -> Preset | None:
    lists = [PRESETS.get(modality, [])] if modality else list(PRESETS.values())
    for entries in lists:
        for preset in entries:
            if preset.id == name:
                return preset
    return None


def is_model_folder(folder: Path) -> bool:
    """A transformers model has config.json; a diffusers pipeline has model_index.json; a peft adapter (a fine-tune
    run's `final/` folder) has adapter_config.json, and `from_pretrained` loads its base model plus the adapter."""
    return any((folder / name).is_file() for name in ("config.json", "model_index.json", "adapter_config.json"))


def finetuned_text_models(outputs_dir: Path) -> list[str]:
    """Finished Fine-tune runs' model folders (base + adapter, or a fully trained model), newest first.

    The Text tab adds these to its model list; each loads like any local folder.
    """
    base = Path(outputs_dir) / "finetune"
    if not base.is_dir():
        return []
    return [str(run / "final") for run in sorted(base.iterdir(), reverse=True)
            if (run / "record.json").is_file() and is_model_folder(run / "final")]


@dataclass(frozen=True)
class ModelSource:
    """Where a name points: `location` is a folder for embedded/folder sources, a hub id otherwise."""

    name: str
    kind: str  # "embedded", "folder" or "hub"
    location: str
    preset: Preset | None = None

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"


def path_allowed(name: str, roots) -> bool:
    """True when `name` names a folder inside one of `roots` (symlinks and `..` resolved first)."""
    try:
        resolved = Path(name).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    for root in roots:
        root = Path(root).resolve()
        if resolved == root or root in resolved.parents:
            return True
    return False


def not_offered(name: str, presets_only: bool = False) -> StudioError:
    """The same sentence whether or not a server path exists, so a visitor learns nothing of the disk."""
    if presets_only:
        return StudioError(f"{name!r} is not one of the studio's models: this studio is limited to the preset list.")
    return StudioError(
        f"{name!r} is not a model this studio offers. Pick a preset or type a hub id such as "
        "HuggingFaceTB/SmolLM2-135M-Instruct; server folders are available only when the operator lists them "
        "in STUDIO_LOCAL_MODELS.")


def resolve(name: str, modality: str, local_roots=(), any_path: bool = False,
            presets_only: bool = False) -> ModelSource:
    """Turn what the user picked or typed into a `ModelSource`, or say clearly why it cannot be one.

    A visitor's text names a preset, a hub id, or a folder inside `local_roots` (their own runs, the
    operator's allow-list); only the command line (`any_path`) may name any folder on the machine.
    """
    name = (name or "").strip()
    if not name:
        raise StudioError("Choose a model: pick a preset or type a hub id or a local folder.")
    preset = find_preset(name, modality)
    if not any_path and not (preset and preset.embedded) and not path_allowed(name, local_roots):
        if presets_only and preset is None:
            raise not_offered(name, presets_only=True)
        if name.startswith(("/", ".", "~", "\\")) or "\\" in name or not HUB_ID.match(name) or ".." in name:
            raise not_offered(name)
        return ModelSource(name, "hub", name, preset)  # owner/name is a hub id, never a relative server path
    if preset and preset.embedded:
        folder = EMBEDDED_DIR / (preset.folder or name)
        if not is_model_folder(folder):
            raise StudioError(
                f"The embedded model {name} is missing from {folder}. Rebuild it with: python -m studio embedded build"
            )
        return ModelSource(name, "embedded", str(folder), preset)
    path = Path(name).expanduser()
    if path.is_dir():
        if not is_model_folder(path):
            raise StudioError(
                f"The folder {name} is not a model: it has no config.json (or model_index.json for a diffusers "
                "pipeline). Pick a folder written by save_pretrained."
            )
        return ModelSource(name, "folder", str(path.resolve()))
    if path.exists():
        raise StudioError(f"{name} is a file, not a model folder or a hub id.")
    if name.startswith(("/", ".", "~")) or not HUB_ID.match(name):
        raise StudioError(
            f"{name} is neither a local folder nor a hub id. Hub ids look like owner/name, "
            "e.g. HuggingFaceTB/SmolLM2-135M-Instruct."
        )
    return ModelSource(name, "hub", name, preset)
