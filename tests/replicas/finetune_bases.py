"""Tiny fine-tune bases: the text replicas (`text.py`) with the one trait fine-tuning adds to the list.

The real Mistral v0.1, Gemma-2 and Gemma-3 tokenizers add their start token to any text they encode
(`add_bos_token: true` in their tokenizer_config.json) *and* their chat templates write `{{ bos_token }}`;
that pair is what doubled the start token of chat fine-tunes. The replicas in `text.py` leave the
first half out, so it is switched on here before they are saved. Everything else (classes, sizes,
templates, hub ids) is text.py's.
"""

from __future__ import annotations

from pathlib import Path

from . import hub_cache
from . import text

ADDS_BOS = {"mistral-v0.1", "gemma-2", "gemma-3-text"}
FINETUNE_FAMILIES = ("smollm2-llama", "qwen2.5", "gpt2", "gemma-2", "mistral-v0.1")
FAMILIES = {f.name: f for f in text.FAMILIES}


def tokenizer(name: str):
    """The family's tokenizer as a download brings it (start token added where the real one adds it)."""
    tok = FAMILIES[name].build()[2]
    return with_real_bos(name, tok)


def with_real_bos(name: str, tok):
    if name in ADDS_BOS:
        tok.add_bos_token = True
        tok.update_post_processor()
    return tok


def build(name: str, folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import GenerationConfig

    model_class, config, tok, generation = FAMILIES[name].build()
    torch.manual_seed(seed)
    model = model_class(config).eval()
    if generation:
        model.generation_config = GenerationConfig(**generation)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    with_real_bos(name, tok).save_pretrained(folder)
    return folder


def build_bases(root: Path, cache_dir: Path, names=FINETUNE_FAMILIES) -> dict[str, tuple[Path, str]]:
    """{family: (folder, hub id)}: each base as a folder and in the offline cache under its real hub id."""
    bases = {}
    for name in names:
        folder = build(name, Path(root) / name)
        hub_cache.place(folder, FAMILIES[name].hub_id, cache_dir)
        bases[name] = (folder, FAMILIES[name].hub_id)
    return bases
