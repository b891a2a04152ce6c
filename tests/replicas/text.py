"""Tiny random-weight replicas of the text families users load, with their real classes, tokenizers and templates.

Each family keeps the traits the studio can trip on (see ../shared/REPLICAS.md): its transformers model
class and config quirks (tied embeddings, q/k/v bias, Conv1D, soft-capping and a hybrid cache, a fused qkv
projection), its real tokenizer class over a small vocabulary trained here (byte-level BPE, or
sentencepiece-style BPE with 256 byte-fallback tokens), its special tokens and end-of-text list, and the
chat template its hub repository publishes. `build_all(root)` lays each out as a `save_pretrained` folder
and `place_all(root, cache)` puts them in an offline hub cache under the real ids. Everything is seeded:
two builds are byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import hub_cache

# ---- the hub's chat templates (data: exactly what a download brings) ----------------------------------
# HuggingFaceTB/SmolLM2-135M-Instruct (ChatML with a default system turn)
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen/Qwen2.5-0.5B-Instruct (ChatML with tools and a default system turn)
QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# mistralai/Mistral-7B-Instruct-v0.1: strictly alternating user/assistant turns, no system role
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# google/gemma-2-2b-it: raises on a system turn
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# google/gemma-3-1b-it: the system turn becomes the start of the first user turn
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

# microsoft/Phi-3-mini-4k-instruct
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


# ---- tokenizers: the real classes over a vocabulary trained here -------------------------------------

EXTRA_TEXT = [  # characters outside the small vocabulary, so byte fallback and multi-byte pieces happen
    "Café, naïve façade, jalapeño.", "Ünïcödé 漢字 and emoji 🙂 in one line.", "Tabs\tand  double  spaces.",
]


def _corpus(seed: int = 0) -> list[str]:
    from studio.embedded.corpus import make_corpus

    corpus = make_corpus(seed=seed, documents=300, chats=40)
    chats = [" ".join(turn["content"] for turn in chat) for chat in corpus.chats]
    return list(corpus.documents) + chats + EXTRA_TEXT * 5


def train_bpe(specials: list[str], vocab_size: int, byte_level: bool) -> tuple[dict[str, int], list]:
    """Vocabulary and merges of a BPE trained on the studio's corpus: byte-level (GPT-2, Qwen, SmolLM2) or
    sentencepiece-style with `▁` for spaces and the 256 `<0x..>` byte tokens after the specials (Llama, Gemma)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if byte_level:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet, reserved, limit = pre_tokenizers.ByteLevel.alphabet(), specials, 256  # all 256 byte symbols
    else:
        tokenizer = Tokenizer(models.BPE(byte_fallback=True))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        # rare characters stay out of the vocabulary, so they go through the byte tokens
        alphabet, reserved, limit = [], specials + [f"<0x{i:02X}>" for i in range(256)], 60
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=reserved, initial_alphabet=alphabet,
                                  limit_alphabet=limit, show_progress=False)
    tokenizer.train_from_iterator(_corpus(), trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]


def _finish(tokenizer, specials: list[str], template: str | None):
    """Mark the chat markers special (skipped when decoding), attach the hub's template."""
    extra = [s for s in specials if s not in tokenizer.all_special_tokens]
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    if template:
        tokenizer.chat_template = template
    return tokenizer


def byte_level_tokenizer(cls_name: str, specials: list[str], template: str | None, vocab_size: int = 600, **kw):
    import transformers

    vocab, merges = train_bpe(specials, vocab_size, byte_level=True)
    tokenizer = getattr(transformers, cls_name)(vocab=vocab, merges=merges, **kw)
    return _finish(tokenizer, specials, template)


def sentencepiece_tokenizer(cls_name: str, specials: list[str], template: str | None, vocab_size: int = 700, **kw):
    import transformers

    vocab, merges = train_bpe(specials, vocab_size, byte_level=False)
    tokenizer = getattr(transformers, cls_name)(vocab=vocab, merges=merges, **kw)
    return _finish(tokenizer, specials, template)


# ---- families -------------------------------------------------------------------------------------------

SIZES = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)  # 4-bit-able


def _padded(n: int, multiple: int = 64) -> int:
    return (n + multiple - 1) // multiple * multiple


def _ids(tokenizer, *tokens: str) -> list[int]:
    return tokenizer.convert_tokens_to_ids(list(tokens))


def smollm2():
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = byte_level_tokenizer("GPT2Tokenizer", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], SMOLLM2,
                               bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>",
                               unk_token="<|endoftext|>")
    bos, eos = _ids(tok, "<|im_start|>", "<|im_end|>")
    config = LlamaConfig(**SIZES, num_key_value_heads=1, vocab_size=_padded(len(tok)), tie_word_embeddings=True,
                         max_position_embeddings=2048, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    return LlamaForCausalLM, config, tok, {}


def qwen25():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = byte_level_tokenizer("Qwen2Tokenizer", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], QWEN25,
                               eos_token="<|im_end|>", pad_token="<|endoftext|>")
    end, im_end = _ids(tok, "<|endoftext|>", "<|im_end|>")
    config = Qwen2Config(**SIZES, num_key_value_heads=1, vocab_size=_padded(len(tok)), tie_word_embeddings=True,
                         max_position_embeddings=32768, bos_token_id=end, eos_token_id=im_end)
    generation = dict(bos_token_id=end, eos_token_id=[im_end, end], pad_token_id=end, do_sample=True,
                      temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1)
    return Qwen2ForCausalLM, config, tok, generation


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = byte_level_tokenizer("GPT2Tokenizer", ["<|endoftext|>"], None, vocab_size=500)
    end = _ids(tok, "<|endoftext|>")[0]
    vocab = len(tok) | 1  # odd, like 50257: never a multiple of 64
    config = GPT2Config(n_embd=64, n_layer=2, n_head=2, n_positions=1024, vocab_size=vocab, bos_token_id=end,
                        eos_token_id=end)
    return GPT2LMHeadModel, config, tok, {}


def mistral_v01():
    from transformers import MistralConfig, MistralForCausalLM

    tok = sentencepiece_tokenizer("LlamaTokenizer", ["<unk>", "<s>", "</s>"], MISTRAL_V01)
    unk, bos, eos = _ids(tok, "<unk>", "<s>", "</s>")
    config = MistralConfig(**SIZES, num_key_value_heads=1, head_dim=32, vocab_size=_padded(len(tok)),
                           max_position_embeddings=32768, sliding_window=4096, bos_token_id=bos, eos_token_id=eos)
    return MistralForCausalLM, config, tok, {}


def _gemma_tokenizer(template: str):
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    return sentencepiece_tokenizer("GemmaTokenizer", specials, template)


def gemma2():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    tok = _gemma_tokenizer(GEMMA2)
    pad, eos, bos, end_turn = _ids(tok, "<pad>", "<eos>", "<bos>", "<end_of_turn>")
    config = Gemma2Config(**SIZES, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32,
                          vocab_size=_padded(len(tok)), sliding_window=16, max_position_embeddings=8192,
                          attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                          layer_types=["sliding_attention", "full_attention"], cache_implementation="hybrid",
                          pad_token_id=pad, bos_token_id=bos, eos_token_id=[eos, end_turn])
    generation = dict(bos_token_id=bos, eos_token_id=[eos, end_turn], pad_token_id=pad,
                      cache_implementation="hybrid")
    return Gemma2ForCausalLM, config, tok, generation


def gemma3_text():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tok = _gemma_tokenizer(GEMMA3)
    pad, eos, bos, end_turn = _ids(tok, "<pad>", "<eos>", "<bos>", "<end_of_turn>")
    config = Gemma3TextConfig(**SIZES, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32,
                              vocab_size=_padded(len(tok)), sliding_window=16, max_position_embeddings=32768,
                              layer_types=["sliding_attention", "full_attention"], pad_token_id=pad,
                              bos_token_id=bos, eos_token_id=[eos, end_turn])
    generation = dict(bos_token_id=bos, eos_token_id=[eos, end_turn], pad_token_id=pad, do_sample=True,
                      top_k=64, top_p=0.95)
    return Gemma3ForCausalLM, config, tok, generation


def phi3():
    from transformers import Phi3Config, Phi3ForCausalLM

    specials = ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    tok = sentencepiece_tokenizer("LlamaTokenizer", specials, PHI3, eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>")
    bos, end, end_turn = _ids(tok, "<s>", "<|endoftext|>", "<|end|>")
    config = Phi3Config(**SIZES, num_key_value_heads=2, vocab_size=_padded(len(tok)), max_position_embeddings=4096,
                        original_max_position_embeddings=4096, bos_token_id=bos, eos_token_id=end,
                        pad_token_id=end)
    generation = dict(bos_token_id=bos, eos_token_id=[end, end_turn], pad_token_id=end)
    return Phi3ForCausalLM, config, tok, generation


@dataclass(frozen=True)
class Family:
    """One family: how to build it, its real hub id, and what its chat template does with a system prompt."""

    name: str
    hub_id: str
    build: Callable
    system: str = "native"  # native | refused (the studio folds it) | folded (the template folds it) | none
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def chat(self) -> bool:
        return self.system != "none"


FAMILIES = [
    Family("smollm2-llama", "HuggingFaceTB/SmolLM2-135M-Instruct", smollm2),
    Family("qwen2.5", "Qwen/Qwen2.5-0.5B-Instruct", qwen25),
    Family("gpt2", "openai-community/gpt2", gpt2, system="none"),
    Family("mistral-v0.1", "mistralai/Mistral-7B-Instruct-v0.1", mistral_v01, system="refused"),
    Family("gemma-2", "google/gemma-2-2b-it", gemma2, system="refused"),
    Family("gemma-3-text", "google/gemma-3-1b-it", gemma3_text, system="folded"),
    Family("phi-3", "microsoft/Phi-3-mini-4k-instruct", phi3),
]


def build(family: Family, folder: Path, seed: int = 0) -> Path:
    """Random weights (seeded) saved with `save_pretrained`, with the tokenizer and generation config."""
    import torch
    from transformers import GenerationConfig

    model_class, config, tokenizer, generation = family.build()
    torch.manual_seed(seed)
    model = model_class(config).eval()
    if generation:
        model.generation_config = GenerationConfig(**generation)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_all(root: Path) -> dict[str, Path]:
    return {family.name: build(family, Path(root) / family.name) for family in FAMILIES}


def place_all(folders: dict[str, Path], cache_dir: Path) -> dict[str, Path]:
    """Each built folder also as the cached snapshot of its real hub id."""
    return {f.name: hub_cache.place(folders[f.name], f.hub_id, cache_dir) for f in FAMILIES}
