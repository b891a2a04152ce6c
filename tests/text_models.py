"""Tiny causal language models built from configs for the text tests (imported by those test files).

Sizes are multiples of 64 so bitsandbytes' 4-bit kernels accept them on CPU;
an odd-sized model checks the refusal. Each builds in well under a second.
"""

from __future__ import annotations

import pytest


def build_tiny_llama(folder, hidden=64, intermediate=128, heads=2, kv_heads=2, vocab=320, seed=0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from studio.embedded.corpus import make_corpus
    from studio.embedded.text import train_tokenizer

    tokenizer = train_tokenizer(make_corpus(seed=seed, documents=300, chats=40), vocab)
    eos, end = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|end|>"])
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=2,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=eos, eos_token_id=[eos, end], pad_token_id=eos,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory):
    """Folder of a tiny random Llama (hidden 64, 2 layers) with a BPE tokenizer and chat template."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def odd_text_model(tmp_path_factory):
    """Hidden size 32: fine in full precision, refused for 4-bit on CPU."""
    return build_tiny_llama(tmp_path_factory.mktemp("odd-llama"), hidden=32, intermediate=96, vocab=300)


@pytest.fixture(scope="session")
def text_replicas(tmp_path_factory):
    """Every text family's replica as a folder, and the same in an offline hub cache: (folders, cache_dir)."""
    from tests.replicas import text as replicas

    root = tmp_path_factory.mktemp("text-replicas")
    folders = replicas.build_all(root / "folders")
    replicas.place_all(folders, root / "hub")
    return folders, root / "hub"
