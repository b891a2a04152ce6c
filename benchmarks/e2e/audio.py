"""Audio tab: Generate 2 s with the embedded MusicGen, against the same `MusicgenForConditionalGeneration.generate`
in this process (the shipped folder, the tab's default sampling: guidance 3, temperature 1, top-k 250)."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

TAB = "Audio"
PROMPT, SECONDS = "a slow low melody", 2.0
# A new seed per click: the same seed makes the same picture, which Gradio serves under the same (content-hashed)
# address, so the page's waveform would not visibly change. The seed does not change the work's cost.
SEEDS = itertools.count(7)
GUIDANCE, TEMPERATURE, TOP_K = 3.0, 1.0, 250
MODEL = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "musicgen-tiny"


def click(page) -> None:
    """Generate once; returns when the new clip's waveform picture is shown."""
    from playwright.sync_api import expect

    seed = next(SEEDS)
    page.locator("#audio-prompt textarea").fill(PROMPT)
    page.locator("#audio-seconds input").fill(f"{SECONDS:g}")
    page.locator("#audio-seed input").fill(str(seed))
    waveform = page.locator("#audio-waveform img")
    before = waveform.first.get_attribute("src") if waveform.count() else None
    page.locator("#audio-generate").click()
    expect(page.locator("#audio-status")).to_contain_text(f"seed {seed}", timeout=120_000)
    expect(waveform.first).to_be_visible(timeout=120_000)
    if before is not None:
        expect(waveform.first).not_to_have_attribute("src", before, timeout=120_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=waveform.first.element_handle(),
                           timeout=120_000)  # the picture's file arrived and decoded


@functools.cache
def _model():
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    from studio.devices import auto_threads

    torch.set_num_threads(auto_threads())  # what the studio's worker uses with the default settings
    model = MusicgenForConditionalGeneration.from_pretrained(MODEL).eval()
    processor = AutoProcessor.from_pretrained(MODEL)
    inputs = processor(text=[PROMPT], padding=True, return_tensors="pt")
    channels = model.config.decoder.audio_channels
    steps = int(round(SECONDS * model.config.audio_encoder.frame_rate)) + model.decoder.num_codebooks // channels - 1
    return model, inputs, steps  # the codebook delay pattern adds one step per codebook after the first


def bare() -> None:
    """The same clip with a plain `generate` (loaded once, as the studio's worker keeps it), decoded to audio."""
    import torch

    model, inputs, steps = _model()
    torch.manual_seed(7)
    with torch.inference_mode():
        model.generate(**inputs, do_sample=True, guidance_scale=GUIDANCE, temperature=TEMPERATURE, top_k=TOP_K,
                       max_new_tokens=steps)
