"""Image tab: Generate with the embedded model at its own 64x64, against the same diffusers call in this process."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

TAB = "Image"
PROMPT, STEPS, SEED, GUIDANCE = "a green triangle on a white background", 20, 7, 5.0
_seeds = itertools.count(SEED)  # a new picture each click (the same one would keep its cached file)
MODEL = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "image-shapes"
BUTTON = "#image-generate"


def prepare(page) -> str:
    """A new seed (a new picture; the same one would keep its cached file): this click's status line and its
    picture, loaded, are the result."""
    page.locator("#image-prompt textarea").fill(PROMPT)
    page.locator("#image-steps input").fill(str(STEPS))
    seed = next(_seeds)
    page.locator("#image-seed input").fill(str(seed))
    before = page.locator("#image-gallery img").first.get_attribute("src") \
        if page.locator("#image-gallery img").count() else None
    return f"""() => {{
      const img = document.querySelector('#image-gallery img');
      return document.querySelector('#image-status').textContent.includes('seeds {seed} ') && img !== null
        && img.getAttribute('src') !== {json.dumps(before)} && img.complete && img.naturalWidth > 0;
    }}"""


@functools.cache
def _pipeline():
    import torch
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(MODEL, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bare() -> None:
    """The same picture with a plain diffusers pipeline (loaded once, like the studio's worker keeps it)."""
    import torch

    from studio.devices import auto_threads

    torch.set_num_threads(auto_threads())  # what the studio's worker uses with the default settings
    _pipeline()(PROMPT, width=64, height=64, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                generator=torch.Generator("cpu").manual_seed(SEED)).images[0]
