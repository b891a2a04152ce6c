"""LoRAs per owner: each visitor's files in their own folder, their adapters named for them, chosen per request.

An image worker serves every visitor in turn with one loaded pipeline, so nothing
about LoRAs may be global:

- a loaded LoRA is a copy of the uploaded file in the owner's folder
  (`<outputs>/image-loras/<name>/lora.safetensors`): another visitor's folder is
  never looked in, and a restarted (or second) worker finds it again;
- inside the pipeline its adapter is named `<owner tag>_<name>`, so two visitors'
  "style" LoRAs are two adapters;
- every generation activates exactly the adapters its request lists, at its
  scales, and disables all others, so one visitor's "Unload all" or scale can
  never reach another's next picture.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import shutil
from pathlib import Path

from studio.errors import StudioError

log = logging.getLogger(__name__)

FOLDER = "image-loras"
WEIGHTS = "lora.safetensors"
MAX_ADAPTERS = 16  # per loaded pipeline; the least recently used beyond this are deleted (their files stay)


def owner_tag(outputs_dir: str | Path) -> str:
    """A short, stable name for the owner of `outputs_dir` (a job's settings carry the owner's own folder)."""
    return "v" + hashlib.sha256(str(Path(outputs_dir)).encode()).hexdigest()[:12]


def clean_name(name: str) -> str:
    """Adapter names become module keys in peft: letters, digits and underscores only."""
    return re.sub(r"\W+", "_", (name or "").strip()).strip("_")[:64] or "lora"


def lora_file(outputs_dir: str | Path, name: str) -> Path:
    return Path(outputs_dir) / FOLDER / clean_name(name) / WEIGHTS


def owned_loras(outputs_dir: str | Path) -> list[str]:
    root = Path(outputs_dir) / FOLDER
    return sorted(p.parent.name for p in root.glob(f"*/{WEIGHTS}")) if root.is_dir() else []


# ---------------------------------------------------------------- checking an upload


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


# ---------------------------------------------------------------- the owner's files


def keep_upload(upload: Path, outputs_dir: str | Path, name: str) -> tuple[str, Path]:
    """Check an uploaded LoRA and copy it into the owner's folder under `name`; returns (name, the copy)."""
    source = find_lora_file(upload)
    check_lora_file(source)
    name = clean_name(name or source.stem)
    target = lora_file(outputs_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    shutil.copyfile(source, partial)
    partial.replace(target)  # a generation reading the old file never sees half of the new one
    return name, target


def forget_owner(outputs_dir: str | Path) -> None:
    shutil.rmtree(Path(outputs_dir) / FOLDER, ignore_errors=True)


# ---------------------------------------------------------------- adapters in a loaded pipeline


def _stamp(file: Path) -> tuple[str, int, int]:
    stat = file.stat()
    return str(file), stat.st_mtime_ns, stat.st_size


def ensure_adapter(pipes, owner: str, name: str, file: Path, keep: set[str] = frozenset()) -> str:
    """The adapter for the owner's LoRA `name`, loaded from `file` unless this pipeline has it already."""
    adapter = f"{owner}_{clean_name(name)}"
    stamp = _stamp(file)
    if pipes.loras.get(adapter) == stamp:
        pipes.loras[adapter] = pipes.loras.pop(adapter)  # most recently used last
        return adapter
    if adapter in pipes.loras:  # the owner loaded a new file under the same name
        _delete(pipes, adapter)
    while len(pipes.loras) >= MAX_ADAPTERS:
        oldest = next((a for a in pipes.loras if a not in keep), None)
        if oldest is None:
            break
        _delete(pipes, oldest)
    pipe = pipes.text2img
    try:
        pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=adapter)
    except Exception as err:
        _delete(pipes, adapter)
        raise StudioError(lora_error_message(name, err)) from None
    present = {a for adapters in pipe.get_list_adapters().values() for a in adapters}
    if adapter not in present:
        raise StudioError(f"The LoRA {name} does not fit this model: none of its layers match the model's (it was "
                          "made for a different base model).")
    pipes.loras[adapter] = stamp
    return adapter


def _delete(pipes, adapter: str) -> None:
    """Remove an adapter (or whatever a failed load left of it), so the next generation is exactly as before."""
    pipes.loras.pop(adapter, None)
    pipe = pipes.text2img
    try:
        if any(adapter in adapters for adapters in pipe.get_list_adapters().values()):
            pipe.delete_adapters(adapter)
    except Exception:
        log.warning("could not delete LoRA adapter %s; unloading every LoRA", adapter, exc_info=True)
        pipe.unload_lora_weights()
        pipes.loras.clear()


def forget_adapters(pipes, owner: str) -> None:
    for adapter in [a for a in pipes.loras if a.startswith(f"{owner}_")]:
        _delete(pipes, adapter)


def activate(pipes, owner: str, outputs_dir: str | Path, choices) -> dict[str, str]:
    """Turn on exactly this request's LoRAs (the owner's) at its scales; every other adapter is off.

    Returns {name: sha256 of its file} for the record."""
    chosen = []
    for choice in choices:
        file = lora_file(outputs_dir, choice.name)
        if not file.is_file():
            raise StudioError(f"LoRA {choice.name} is not loaded; load it first (yours: "
                              f"{', '.join(owned_loras(outputs_dir)) or 'none'}).")
        chosen.append((choice, file))
    keep = {f"{owner}_{clean_name(c.name)}" for c, _ in chosen}
    adapters = [(ensure_adapter(pipes, owner, c.name, file, keep), float(c.scale)) for c, file in chosen]
    pipe = pipes.text2img
    if not pipes.loras:
        return {}
    if not adapters:
        pipe.disable_lora()
        return {}
    pipe.enable_lora()
    pipe.set_adapters([a for a, _ in adapters], adapter_weights=[s for _, s in adapters])
    return {c.name: _digest(*_stamp(file)) for c, file in chosen}


@functools.lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a LoRA file, once per version of it (real LoRAs are 10-200 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as weights:
        for block in iter(lambda: weights.read(2**20), b""):
            digest.update(block)
    return "sha256 " + digest.hexdigest()
