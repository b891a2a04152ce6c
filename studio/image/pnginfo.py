"""Settings inside the PNG: every picture carries the request that makes it again.

Two text chunks are written: `genai-studio`, a JSON object the studio reads
back exactly, and `parameters`, the one-paragraph form other Stable Diffusion
tools show. Nothing time-dependent goes into a PNG, so the same request and
seed give byte-identical files.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError

from .request import ImageRequest

STUDIO_KEY = "genai-studio"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PngSettings:
    request: ImageRequest  # makes this one picture again, alone (its own seed, one image)
    batch: dict  # the batch it came from: {"seed", "images", "index"}
    model: dict  # what the loaded weights were, e.g. {"fingerprint": "sha256 ..."}


def png_text(request: ImageRequest, index: int, model: dict) -> dict[str, str]:
    """The text chunks for image `index` of the batch `request` made."""
    alone = request.for_image(index)
    payload = {
        "format": FORMAT_VERSION,
        "request": alone.to_dict(),
        "batch": {"seed": request.seed, "images": request.images, "index": index},
        "model": model,
    }
    parameters = (
        f"{alone.prompt}\nNegative prompt: {alone.negative_prompt}\n"
        f"Steps: {alone.steps}, Sampler: {alone.scheduler}, CFG scale: {alone.guidance:g}, Seed: {alone.seed}, "
        f"Size: {alone.width}x{alone.height}, Model: {alone.model}"
    )
    if alone.mode == "img2img":
        parameters += f", Denoising strength: {alone.strength:g}"
    return {STUDIO_KEY: json.dumps(payload, sort_keys=True), "parameters": parameters}


def png_bytes(image, text: dict[str, str]) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)  # iTXt keeps any prompt's characters (UTF-8)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(image, path: Path, request: ImageRequest, index: int, model: dict) -> Path:
    path = Path(path)
    path.write_bytes(png_bytes(image, png_text(request, index, model)))
    return path


def read_png_settings(source) -> PngSettings:
    """The settings a studio PNG carries; `source` is a path, bytes or a PIL image."""
    from PIL import Image, UnidentifiedImageError

    try:
        if hasattr(source, "info"):
            image = source
        elif isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        else:
            image = Image.open(source)
    except (UnidentifiedImageError, OSError):
        raise StudioError("That file is not an image the studio can read; drop a PNG made by the studio.") from None
    raw = getattr(image, "text", None)
    raw = raw if raw is not None else image.info
    payload = raw.get(STUDIO_KEY) if raw else None
    if not payload:
        if raw and raw.get("parameters"):
            raise StudioError("This PNG was made by another tool: it has settings text, but not the studio's. "
                              "Its text reads: " + str(raw["parameters"])[:300])
        raise StudioError("This image carries no studio settings (it was not made by the studio, or its text "
                          "was removed, e.g. by an image editor or a chat app).")
    try:
        data = json.loads(payload)
        request = ImageRequest.from_dict(data["request"])
    except (ValueError, KeyError, TypeError) as err:
        raise StudioError(f"The studio settings in this PNG are damaged ({err}).") from None
    return PngSettings(request, data.get("batch", {}), data.get("model", {}))
