"""The one owner of `from_pretrained`: checks before loading, clear errors, one model per modality.

Every model load goes through `ModelSlot.load`, which
1. resolves the name (embedded preset, local folder or hub id, see `registry.resolve`),
2. checks, before anything heavy happens, that it can work: the precision on this
   device, a gated model without a token, a hub id that cannot be reached (one
   request with a short timeout, or the local cache when offline), the memory
   estimate against free memory,
3. unloads the previous model (freeing memory) and loads the new one; if that
   fails, the previous model is loaded back so the tab keeps working.
`HF_TOKEN` reaches only `from_pretrained`/hub calls: never a message, log line or record.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .devices import PRECISIONS, pick_device, precision_problem, torch_dtype
from .errors import ConfigError, StudioError
from .registry import ModelSource, estimate_bytes, format_bytes, resolve

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 5.0  # one metadata request; no retries, so an unreachable hub fails in seconds
QUANT_TYPES = ("nf4", "fp4")


@dataclass(frozen=True)
class LoadRequest:
    """What to load and how; equal requests reuse the loaded model."""

    name: str
    modality: str = "text"
    precision: str = "full"  # one of devices.PRECISIONS
    quant_type: str = "nf4"  # 4-bit only: nf4 or fp4
    double_quant: bool = True  # 4-bit only: quantize the quantization constants too
    trust_remote_code: bool = False  # ignored: the slot applies the operator's setting (STUDIO_TRUST_REMOTE_CODE)
    # Which server folders this request may name. The page sets these (the visitor's own runs, the operator's
    # STUDIO_LOCAL_MODELS); the command line sets `any_path`. A visitor's text never reaches a folder otherwise.
    local_roots: tuple[str, ...] = ()
    any_path: bool = False
    presets_only: bool = False  # teacher mode: the preset list only

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", self.precision, f"choose one of {', '.join(PRECISIONS)}")
        if self.quant_type not in QUANT_TYPES:
            raise ConfigError("quant_type", self.quant_type, "choose nf4 or fp4")


@dataclass
class LoadedModel:
    request: LoadRequest
    source: ModelSource
    model: Any
    processor: Any  # tokenizer for text
    device: str
    dtype: Any
    fingerprint: str  # hub revision, or sha256 of the weights for local folders
    load_seconds: float
    memory_estimate: int | None = None

    def describe(self) -> dict:
        """What a record needs to say which weights made an output."""
        return {
            "model": self.source.name,
            "source": self.source.kind,
            "fingerprint": self.fingerprint,
            "precision": self.request.precision,
            "quant_type": self.request.quant_type if self.request.precision == "4bit" else None,
            "double_quant": self.request.double_quant if self.request.precision == "4bit" else None,
            "device": self.device,
            "dtype": str(self.dtype),
            "load_seconds": round(self.load_seconds, 3),
        }


# ---- helpers any modality's loader can reuse -------------------------------------------------


def scrub(text: str, token: str | None) -> str:
    """Remove the token from text that may come from a library's exception."""
    return text.replace(token, "***") if token else text


def free_memory() -> None:
    """Drop unreferenced tensors and hand cached GPU blocks back, so the next model has room."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def available_bytes(device: str) -> int | None:
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def check_fits(name: str, estimate: int | None, device: str, precision: str, already_used: int = 0) -> None:
    """Refuse, before loading, a model whose estimate exceeds the free memory (plus what unloading frees)."""
    free = available_bytes(device)
    if estimate is None or free is None:
        return
    free += already_used
    if estimate > 0.9 * free:
        quantized = precision in {"8bit", "4bit"}
        hint = " Try a smaller model." if quantized else " Try 8bit or 4bit, or a smaller model."
        raise StudioError(
            f"{name} needs about {format_bytes(estimate)} at {precision}, but only {format_bytes(free)} is free "
            f"on {device}.{hint}"
        )


def hub_is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def check_hub_id(source: ModelSource, token: str | None, gated_hint: bool = False) -> int | None:
    """Fail fast for a hub id that cannot load; return its parameter count when the hub says it.

    Offline (HF_HUB_OFFLINE=1) only the local cache counts. Online, one metadata
    request with a short timeout distinguishes no network, no such model and a
    gated model without access, instead of ~23 s of retries inside from_pretrained.
    """
    name = source.location
    if gated_hint and not token:
        raise StudioError(gated_message(name))
    if hub_is_offline():
        if cached_snapshot(name) is None:
            raise StudioError(
                f"Cannot load {name}: the studio is offline (HF_HUB_OFFLINE=1) and the model is not in the local "
                "cache. Connect to the internet and unset HF_HUB_OFFLINE, or pick an embedded model or a local folder."
            )
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        info = HfApi().model_info(name, token=token or False, timeout=HUB_TIMEOUT_S, expand=["gated", "safetensors"])
    except RepositoryNotFoundError:
        raise StudioError(
            f"There is no model {name} on the hub (or it is private and HF_TOKEN has no access). Check the spelling."
        ) from None
    except GatedRepoError:
        raise StudioError(gated_message(name, token)) from None
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", "?")
        raise StudioError(f"The hub refused {name} (HTTP {status}). Try again later.") from None
    except Exception as err:  # connection refused, DNS failure, timeout: all mean "no network"
        log.info("hub unreachable for %s: %s", name, type(err).__name__)
        raise StudioError(
            f"Cannot load {name}: the Hugging Face hub cannot be reached ({type(err).__name__}). Check the internet "
            "connection, or pick an embedded model or a local folder."
        ) from None
    if getattr(info, "gated", False):
        if not token:
            raise StudioError(gated_message(name))
        from huggingface_hub import auth_check

        try:
            auth_check(name, token=token)
        except GatedRepoError:
            raise StudioError(gated_message(name, token)) from None
    stats = getattr(info, "safetensors", None)
    return int(stats.total) if stats is not None and getattr(stats, "total", None) else None


MARKER_FILES = ("config.json", "model_index.json", "adapter_config.json")


def cached_snapshot(name: str) -> Path | None:
    """The local cache's snapshot folder of a hub id (transformers, diffusers or peft repo), or None."""
    from huggingface_hub import try_to_load_from_cache

    for marker in MARKER_FILES:  # a diffusers repo has model_index.json and no top-level config.json
        cached = try_to_load_from_cache(name, marker)
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def gated_message(name: str, token: str | None = None) -> str:
    if token:
        return (
            f"{name} is gated and HF_TOKEN has no access yet: accept the model's licence on its hub page with the "
            "account the token belongs to, then try again."
        )
    return f"{name} is gated: accept its licence on the hub and set HF_TOKEN in .env, then restart the studio."


def fingerprint(source: ModelSource, model: Any, limit_bytes: int = 256 * 2**20) -> str:
    """Hub revision for hub models; sha256 of the weight files for local folders small enough to hash."""
    if source.kind == "hub":
        config = getattr(model, "config", None)
        commit = getattr(config, "_commit_hash", None) if config is not None and not isinstance(config, dict) else None
        if not commit:  # offline, or a diffusers pipeline: the snapshot folder is named by its commit
            snapshot = cached_snapshot(source.location)
            commit = snapshot.name if snapshot is not None else None
        return f"revision {commit or 'unknown'}"
    return weights_digest(source.location, limit_bytes)


def weights_digest(folder: str | Path, limit_bytes: int = 256 * 2**20) -> str:
    """sha256 over a folder's weight files, sub-folders included (a diffusers pipeline keeps them there)."""
    weights = sorted(p for p in Path(folder).rglob("*") if p.suffix in {".safetensors", ".bin"})
    total = sum(p.stat().st_size for p in weights)
    if not weights or total > limit_bytes:
        return f"unhashed ({format_bytes(total)} of weights)"
    digest = hashlib.sha256()
    for path in weights:
        digest.update(path.read_bytes())
    return f"sha256 {digest.hexdigest()}"


def folder_bytes(folder: str | Path) -> int:
    """Bytes of the weights a loader reads: top-level files for transformers, the component sub-folders for a
    diffusers pipeline (whose top level may also hold big single-file checkpoints that `from_pretrained` never
    reads). Of several formats of one component only one is read: safetensors first."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return sum(folder_bytes(sub) for sub in folder.iterdir() if sub.is_dir())
    files = [p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"}]
    chosen = [p for p in files if p.suffix == ".safetensors"] or files
    variants = [p for p in chosen if ".fp16." not in p.name]  # a repo may ship fp16 copies beside full ones
    return sum(p.stat().st_size for p in (variants or chosen))


def translate_load_error(err: Exception, name: str, token: str | None) -> StudioError:
    """A `from_pretrained` failure as a sentence that names the model and the cause."""
    if isinstance(err, StudioError):
        return err
    kind = type(err).__name__
    text = scrub(str(err).strip().splitlines()[0] if str(err).strip() else kind, token)
    if "gated" in text.lower() or kind == "GatedRepoError":
        return StudioError(gated_message(name, token))
    if "trust_remote_code" in text or "custom code" in text:
        return StudioError(
            f"{name} needs to run code shipped with the model, which this studio does not allow. Pick a model that "
            "transformers supports natively (the server's operator can allow remote code with STUDIO_TRUST_REMOTE_CODE)."
        )
    if kind in {"RepositoryNotFoundError", "LocalEntryNotFoundError", "OfflineModeIsEnabled"}:
        return StudioError(f"Cannot load {name}: {text}")
    return StudioError(f"Cannot load {name}: {kind}: {text}")


# ---- one loaded model per modality -----------------------------------------------------------


Loader = Callable[[ModelSource, LoadRequest, str, Any, str | None], tuple[Any, Any]]


@dataclass
class ModelSlot:
    """Holds at most one loaded model for one modality; loading another unloads this one first.

    `loader(source, request, device, dtype, token) -> (model, processor)` is the
    modality's own `from_pretrained` call; everything around it is shared here.
    """

    modality: str
    loader: Loader
    # optional modality check on a resolved source before loading, e.g. "4-bit needs sizes that are multiples of 64"
    precheck: Callable[[ModelSource, LoadRequest, str], None] | None = None
    device_preference: str = "auto"
    token: str | None = field(default=None, repr=False)
    trust_remote_code: bool = False  # the operator's setting; a request cannot turn it on
    current: LoadedModel | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load(self, request: LoadRequest, progress: Callable[[str], None] | None = None) -> LoadedModel:
        with self._lock:
            # Resolve with this request's scope first: a model loaded for one visitor is reused for another
            # only when this visitor may name it too (same weights, same precision), never by its name alone.
            wanted = resolve(request.name, self.modality, local_roots=request.local_roots,
                             any_path=request.any_path, presets_only=request.presets_only)
            if self.current is not None and same_weights(self.current, wanted, request):
                return self.current
            source, device, dtype, estimate = self.check(request)
            previous = self.current
            self.unload()
            try:
                if progress:
                    progress(f"Loading {source.name} ({request.precision}) on {device}...")
                self.current = self._load(source, request, device, dtype, estimate)
            except Exception as err:
                error = translate_load_error(err, source.name, self.token)
                log.warning("loading %s failed: %s", source.name, error)
                if previous is not None:
                    self.current = self._load(previous.source, previous.request, previous.device, previous.dtype,
                                              previous.memory_estimate)
                raise error from None
            return self.current

    def check(self, request: LoadRequest) -> tuple[ModelSource, str, Any, int | None]:
        """Everything that can be known before loading; raises a `StudioError` that says what to change."""
        if request.modality != self.modality:
            raise StudioError(f"This slot loads {self.modality} models, not {request.modality}.")
        device = pick_device(self.device_preference)
        problem = precision_problem(request.precision, device)
        if problem:
            raise StudioError(problem)
        source = resolve(request.name, self.modality, local_roots=request.local_roots, any_path=request.any_path,
                         presets_only=request.presets_only)
        parameters = source.preset.parameters if source.preset else None
        weights_folder = source.location if source.is_local else None
        if source.kind == "hub":
            hub_parameters = check_hub_id(source, self.token, gated_hint=bool(source.preset and source.preset.gated))
            if self.modality != "image":  # a diffusers repo's hub total also counts single-file checkpoints
                parameters = parameters or hub_parameters
            snapshot = cached_snapshot(source.location)
            weights_folder = str(snapshot) if snapshot is not None else None
            if snapshot is not None:  # what is on disk is what loads: count it rather than the preset's card
                parameters = None
        if parameters:
            estimate = estimate_bytes(parameters, request.precision)
        elif weights_folder:  # weights on disk, scaled from their stored width (assume 2 bytes) to the target
            estimate = int(folder_bytes(weights_folder) / 2 * 4 * {"full": 1, "fp16": 0.5, "bf16": 0.5,
                                                                  "8bit": 0.25, "4bit": 0.125}[request.precision])
        else:
            estimate = None
        if self.precheck:
            self.precheck(source, request, device)
        used = (self.current.memory_estimate or 0) if self.current else 0
        check_fits(source.name, estimate, device, request.precision, already_used=used)
        return source, device, torch_dtype(request.precision, device), estimate

    def _load(self, source, request, device, dtype, estimate) -> LoadedModel:
        import dataclasses

        start = time.perf_counter()
        token = self.token if source.kind == "hub" else None
        request = dataclasses.replace(request, trust_remote_code=self.trust_remote_code)
        model, processor = self.loader(source, request, device, dtype, token)
        return LoadedModel(request, source, model, processor, device, dtype, fingerprint(source, model),
                           time.perf_counter() - start, estimate)

    def unload(self) -> None:
        if self.current is not None:
            self.current = None
            free_memory()


def same_weights(loaded: LoadedModel, source: ModelSource, request: LoadRequest) -> bool:
    """True when `loaded` is what `request` asks for: the same weights at the same precision and quantization."""
    had = loaded.request
    return (loaded.source.kind, loaded.source.location) == (source.kind, source.location) and (
        had.precision, had.quant_type, had.double_quant) == (request.precision, request.quant_type,
                                                              request.double_quant)


def quantization_config(request: LoadRequest, dtype):
    """BitsAndBytesConfig for 8bit/4bit requests, None otherwise."""
    if request.precision not in {"8bit", "4bit"}:
        return None
    from transformers import BitsAndBytesConfig

    if request.precision == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=request.quant_type,
        bnb_4bit_use_double_quant=request.double_quant,
        bnb_4bit_compute_dtype=dtype,
    )
