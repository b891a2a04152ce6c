"""Text tab: Generate 128 tokens with the embedded model (the tab's default sampling, end of text ignored so
both sides write exactly as many tokens), against `generate` on the same model in this process.

The result is the finished answer: the stats line that comes with it (tokens/s, for this click's seed).
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

TAB = "Text"
BUTTON = "#text-generate"
PROMPT, TOKENS = "Once upon a time", 128  # the tab's default max new tokens
TEMPERATURE, TOP_P, TOP_K = 0.8, 0.95, 50  # the tab's defaults
SEEDS = itertools.count(3)  # a new seed a click: this click's answer is told from the one before by its seed
MODEL = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "text-tiny"


def prepare(page) -> str:
    seed = next(SEEDS)
    page.locator("#text-prompt textarea").fill(PROMPT)
    page.locator("#text-ignore-eos input").check()
    page.locator("#text-seed input").fill(str(seed))
    return f"""() => {{
      const stats = document.querySelector('#text-stats').textContent;
      return /seed {seed} \\u00b7/.test(stats) && stats.includes('tokens/s')
        && document.querySelector('#text-answer textarea').value.length > 0;
    }}"""


@functools.cache
def _model():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    return AutoModelForCausalLM.from_pretrained(MODEL).eval(), tokenizer


def bare() -> str:
    """The same answer's work with a plain `generate` (loaded once, as the studio's worker keeps it), decoded."""
    import torch

    from studio.devices import auto_threads

    torch.set_num_threads(auto_threads())  # what the studio's text worker uses with the default settings
    model, tokenizer = _model()
    inputs = tokenizer(PROMPT, return_tensors="pt")
    eos = model.generation_config.eos_token_id
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=True, temperature=TEMPERATURE, top_p=TOP_P, top_k=TOP_K,
                             max_new_tokens=TOKENS, suppress_tokens=eos if isinstance(eos, list) else [eos])
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
