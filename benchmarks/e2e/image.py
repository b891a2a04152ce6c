"""Image tab: Generate with the embedded model at its own 64x64, against the same diffusers call in this process."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

TAB = "Image"
PROMPT, STEPS, SEED, GUIDANCE = "a green triangle on a white background", 20, 7, 5.0
_seeds = itertools.count(SEED)  # a new picture each click (the same one would keep its cached file)
MODEL = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "image-shapes"


def click(page) -> None:
    """Generate once; returns when the new picture's line and a picture are shown."""
    from playwright.sync_api import expect

    page.locator("#image-prompt textarea").fill(PROMPT)
    page.locator("#image-steps input").fill(str(STEPS))
    seed = next(_seeds)
    page.locator("#image-seed input").fill(str(seed))
    page.locator("#image-generate").click()
    expect(page.locator("#image-status")).to_contain_text(f"seeds {seed} ", timeout=120_000)
    expect(page.locator("#image-gallery img").first).to_be_visible(timeout=120_000)


@functools.cache
def _pipeline():
    import torch
    from diffusers import DiffusionPipeline

    from studio.devices import auto_threads

    torch.set_num_threads(auto_threads())  # what the studio's worker uses with the default settings
    pipe = DiffusionPipeline.from_pretrained(MODEL, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bare() -> None:
    """The same picture with a plain diffusers pipeline (loaded once, like the studio's worker keeps it)."""
    import torch

    _pipeline()(PROMPT, width=64, height=64, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                generator=torch.Generator("cpu").manual_seed(SEED)).images[0]
