"""Loading causal language models: the text modality's `from_pretrained` call and its pre-checks."""

from __future__ import annotations

import json
from pathlib import Path

from studio.errors import StudioError
from studio.loading import LoadRequest, ModelSlot, quantization_config
from studio.registry import ModelSource

BNB_CPU_BLOCK = 64  # bitsandbytes' 4-bit CPU kernels read each quantized layer's input in blocks of this size


def _local_config(source: ModelSource) -> dict | None:
    """config.json when it is on disk already (local folder or hub cache); None otherwise."""
    if source.is_local:
        path = Path(source.location) / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source.location, "config.json")
        path = Path(cached) if isinstance(cached, str) else None
    return json.loads(path.read_text()) if path and path.is_file() else None


def quantized_input_sizes(config: dict) -> dict[str, int]:
    """The input widths of the layers bitsandbytes quantizes (attention and MLP projections).

    Measured with bitsandbytes 0.50 on CPU: 4-bit fails ("shape ... is invalid") when a quantized layer's
    *input* width is not a multiple of 64; output widths (a key/value projection of 32) and the vocabulary
    (the output layer is never quantized; GPT-2 has 50257) do not matter.
    """
    config = config.get("text_config") or config  # multimodal configs keep the language model's sizes inside
    hidden = config.get("hidden_size") or config.get("n_embd") or 0
    heads = config.get("num_attention_heads") or config.get("n_head") or 1
    head_dim = config.get("head_dim") or (hidden // heads if hidden else 0)
    intermediate = config.get("intermediate_size") or config.get("n_inner") or (4 * hidden if "n_embd" in config else 0)
    return {"hidden_size": hidden, "intermediate_size": intermediate, "attention output size": heads * head_dim}


def check_text_source(source: ModelSource, request: LoadRequest, device: str) -> None:
    """Say before loading when 4-bit cannot work on the CPU because of the model's sizes."""
    if request.precision != "4bit" or device != "cpu":
        return
    config = _local_config(source)
    if config is None:
        return
    odd = {k: v for k, v in quantized_input_sizes(config).items() if v and v % BNB_CPU_BLOCK}
    if odd:
        sizes = ", ".join(f"{k} {v}" for k, v in odd.items())
        raise StudioError(
            f"4-bit on the CPU needs every quantized layer's input size to be a multiple of {BNB_CPU_BLOCK}, but "
            f"{source.name} has {sizes}. Use 8bit or full on the CPU, or 4bit on a GPU."
        )


def load_causal_lm(source: ModelSource, request: LoadRequest, device: str, dtype, token: str | None):
    """The text modality's one `from_pretrained` call: tokenizer and model, on `device`, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = dict(token=token, trust_remote_code=request.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **common)
    kwargs = dict(common, dtype=dtype)
    quant = quantization_config(request, dtype)
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": device})
    model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    if quant is None:
        model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def text_slot(device_preference: str = "auto", token: str | None = None, trust_remote_code: bool = False) -> ModelSlot:
    """The text model slot; `trust_remote_code` is the operator's STUDIO_TRUST_REMOTE_CODE, never a visitor's."""
    return ModelSlot("text", load_causal_lm, precheck=check_text_source, device_preference=device_preference,
                     token=token, trust_remote_code=trust_remote_code)
