"""The one place that decides where tensors live and in what precision.

Tabs and generators ask this module instead of probing CUDA themselves, so a
classroom laptop, a Space and a GPU box all follow the same rules, and the
`STUDIO_DEVICE` setting can override them.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from .errors import StudioError

PRECISIONS = ("full", "fp16", "bf16", "8bit", "4bit")


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # "cuda", "mps" or "cpu"
    label: str  # human description, e.g. "NVIDIA H100 (80 GB)"
    total_memory_bytes: int | None


def pick_device(preference: str = "auto") -> str:
    """Return "cuda", "mps" or "cpu", honouring an explicit preference when it is available."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if preference == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if preference == "cuda" and not cuda:
        raise StudioError("STUDIO_DEVICE is cuda, but no CUDA GPU is visible. Set it to auto or cpu.")
    if preference == "mps" and not mps:
        raise StudioError("STUDIO_DEVICE is mps, but Apple's MPS backend is not available. Set it to auto or cpu.")
    return preference


def describe_device(device: str) -> DeviceInfo:
    import torch

    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        return DeviceInfo("cuda", f"{props.name} ({gib:.0f} GiB)", props.total_memory)
    if device == "mps":
        return DeviceInfo("mps", "Apple GPU (MPS)", None)
    try:
        import psutil

        total = psutil.virtual_memory().total
    except ImportError:  # psutil comes with gradio; the engine does not require it
        total = None
    return DeviceInfo("cpu", "CPU", total)


def precision_problem(precision: str, device: str) -> str | None:
    """Why `precision` cannot work on `device`, or None when it can. Asked before loading."""
    if precision not in PRECISIONS:
        return f"Precision {precision!r} is unknown; choose one of {', '.join(PRECISIONS)}."
    if precision in {"8bit", "4bit"} and importlib.util.find_spec("bitsandbytes") is None:
        return f"{precision} loading needs the bitsandbytes package: pip install bitsandbytes."
    if precision == "fp16" and device == "cpu":
        return "fp16 is not supported for computing on the CPU here; use full or bf16."
    if precision == "bf16" and device == "cuda":
        import torch

        if not torch.cuda.is_bf16_supported():
            return "This GPU has no bf16 support; use fp16 or full."
    return None


def torch_dtype(precision: str, device: str):
    """The compute dtype for a precision choice; quantized models compute in this dtype too."""
    import torch

    problem = precision_problem(precision, device)
    if problem:
        raise StudioError(problem)
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if precision in {"8bit", "4bit"} and device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def auto_threads() -> int:
    """Half the cores, at most 8: on a 2-core machine (a free Space, a class laptop) one thread.

    Measured here: with another process busy on the second core, two torch threads made
    small-model generation 80x slower than one (3.6 vs 293 tokens/s).
    """
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def set_torch_threads(threads: int) -> None:
    """Apply the STUDIO_TORCH_THREADS setting; 0 picks `auto_threads()`."""
    import torch

    wanted = threads if threads > 0 else auto_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
