"""What gets trained: a LoRA adapter, a LoRA on a 4-bit base (QLoRA), or every weight of a small model.

The base model loads through the studio's loader (`studio.loading.ModelSlot`
with the text modality's loader), so the same checks run before loading
(the name's scope, precision on this device, 4-bit sizes on the CPU, gated and
offline hub ids, memory) and failures read the same way. `check_base` runs
those checks alone, with nothing heavy loaded: Check and Train both call it
first. `prepare_model_for_kbit_training` runs only for a quantized base: on a
full precision model it would needlessly upcast and freeze in ways LoRA does
not need.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.loading import LoadRequest, translate_load_error
from studio.registry import ModelSource

from .config import MethodSettings, TrainingSettings
from .requests import ModelScope

log = logging.getLogger(__name__)

FULL_FINETUNE_LIMIT = 1_500_000_000  # parameters; larger models train as LoRA/QLoRA here
BNB_CPU_BLOCK = 64  # bitsandbytes' 4-bit CPU kernels need the size of every quantized layer to be a multiple of this


@dataclass(frozen=True)
class Trainable:
    trainable: int
    total: int
    note: str = ""  # e.g. "peft has no default target modules for this architecture: using all-linear"

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)

    def describe(self) -> str:
        text = f"{self.trainable:,} trainable of {self.total:,} parameters ({self.percent:.2f}%)"
        return f"{text}. {self.note}" if self.note else text


def mixed_precision(training: TrainingSettings, device: str) -> str:
    """"bf16", "fp16" or "full": what the Trainer computes in (auto picks bf16/fp16 only on a GPU)."""
    from studio.devices import precision_problem

    choice = training.precision
    if choice == "auto":
        if device != "cuda":
            return "full"
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    problem = precision_problem(choice, device)
    if problem:
        raise StudioError(problem)
    return choice


def load_request(model: str, method: MethodSettings, scope: ModelScope) -> LoadRequest:
    precision = "4bit" if method.method == "qlora" else "full"
    return LoadRequest(model, precision=precision, quant_type=method.quant_type, double_quant=method.double_quant,
                       **scope.load_kwargs())


def base_slot(settings):
    """A loader slot of the fine-tune's own (never the Text tab's loaded model), with the operator's remote-code
    setting (a run's config cannot turn it on)."""
    from studio.text.model import text_slot

    slot = text_slot(settings.device, settings.hf_token)
    slot.trust_remote_code = bool(settings.trust_remote_code)
    return slot


def model_config(source: ModelSource) -> dict | None:
    """config.json of a local folder or of a cached hub snapshot, without loading anything."""
    if source.is_local:
        path = Path(source.location) / "config.json"
    else:
        from studio.loading import cached_snapshot

        snapshot = cached_snapshot(source.location)
        path = snapshot / "config.json" if snapshot is not None else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def quantized_sizes(config: dict) -> dict[str, int]:
    """Input sizes of the layers bitsandbytes quantizes (every linear layer of the blocks, never the output head):
    its CPU kernels need each to be a multiple of 64."""
    hidden = config.get("hidden_size") or config.get("n_embd") or 0
    heads = config.get("num_attention_heads") or config.get("n_head") or 1
    head_dim = config.get("head_dim") or (hidden // heads if hidden else 0)
    inner = config.get("intermediate_size") or config.get("n_inner") or (4 * hidden if "n_embd" in config else 0)
    return {"hidden size": hidden, "intermediate size": inner, "attention size": heads * head_dim}


def check_qlora(source: ModelSource, device: str) -> None:
    """QLoRA's own limits, said before loading, with what to use instead."""
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise StudioError("QLoRA needs the bitsandbytes package, which is not installed here: use LoRA (the same "
                          "adapter on the full-precision base), or install bitsandbytes.")
    if device != "cpu":
        return
    config = model_config(source)
    odd = {k: v for k, v in quantized_sizes(config or {}).items() if v and v % BNB_CPU_BLOCK}
    if odd:
        sizes = ", ".join(f"{k} {v}" for k, v in odd.items())
        raise StudioError(f"QLoRA cannot train {source.name} on the CPU: bitsandbytes' 4-bit layers need sizes that "
                          f"are multiples of {BNB_CPU_BLOCK}, and it has {sizes}; use LoRA instead (the same adapter "
                          "on the full-precision base), or QLoRA on a GPU.")


def check_base(model: str, method: MethodSettings, settings, scope: ModelScope) -> tuple[ModelSource, str]:
    """Every check the loader makes before loading, plus QLoRA's; returns (source, device). Loads no weights."""
    from studio.devices import pick_device
    from studio.registry import resolve

    if method.method == "qlora":
        check_qlora(resolve(model, "text", **scope.load_kwargs()), pick_device(settings.device))
    source, device, _, _ = base_slot(settings).check(load_request(model, method, scope))
    return source, device


def load_tokenizer(source: ModelSource, settings):
    """The base model's tokenizer alone (seconds at most): data is rendered and counted before any weights load."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, token=settings.hf_token if source.kind == "hub"
                                                  else None, trust_remote_code=bool(settings.trust_remote_code))
    except Exception as err:
        raise translate_load_error(err, source.name, settings.hf_token) from None
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(model: str, method: MethodSettings, settings, scope: ModelScope):
    """(model, tokenizer, device) for training, through the loader and its checks."""
    loaded = base_slot(settings).load(load_request(model, method, scope))
    return loaded.model, loaded.processor, loaded.device


def lora_config(method: MethodSettings, model_type: str | None):
    """peft's `LoraConfig`, with all-linear when peft knows no default targets for the architecture."""
    from peft import LoraConfig
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    targets, note = method.target_list(), ""
    if targets is None and model_type not in DEFAULTS:
        targets, note = "all-linear", f"peft has no default target modules for {model_type}: using all-linear."
    config = LoraConfig(task_type="CAUSAL_LM", r=method.rank, lora_alpha=method.alpha, lora_dropout=method.dropout,
                        target_modules=targets, bias=method.bias)
    return config, note


def attach(model, method: MethodSettings, gradient_checkpointing: bool = False):
    """The model to train and its trainable-parameter count; LoRA wraps it in a `PeftModel`."""
    if method.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        if gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model, count_parameters(model)
    from peft import get_peft_model, prepare_model_for_kbit_training

    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        keep_4bit_trainable(model)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()  # frozen embeddings would otherwise cut the gradient at the checkpoint
    config, note = lora_config(method, getattr(model.config, "model_type", None))
    try:
        model = get_peft_model(model, config)
    except ValueError as err:  # e.g. target modules that the model does not have
        raise StudioError(f"LoRA cannot attach to this model: {str(err).splitlines()[0]}") from None
    trainable, total = model.get_nb_trainable_parameters()
    return model, Trainable(trainable, total, note)


def keep_4bit_trainable(model) -> None:
    """Switch off bitsandbytes' CPU repacking of 4-bit weights for inference.

    Its first eval-mode forward (the "before" answers, every evaluation) repacks a layer's weights into a CPU
    inference layout whose matmul adds the bias in place; the next training step through that layer then fails
    ("a view of a leaf Variable that requires grad is being used in an in-place operation"). Every layer with
    a bias hits it: Qwen2's q/k/v, all of GPT-2's Conv1D layers. Training never wants that layout.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def count_parameters(model) -> Trainable:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Trainable(trainable, sum(p.numel() for p in model.parameters()))


def preview(source: ModelSource, method: MethodSettings, settings) -> Trainable:
    """The trainable-parameter count before training, from the model's config alone (no weights are loaded);
    refuses full fine-tuning of a model too large for it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(source.location, token=settings.hf_token if source.kind == "hub" else None,
                                            trust_remote_code=bool(settings.trust_remote_code))
    except Exception as err:
        raise translate_load_error(err, source.name, settings.hf_token) from None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    if method.method == "full":
        parameters = sum(p.numel() for p in model.parameters())
        if parameters > FULL_FINETUNE_LIMIT:
            raise StudioError(f"{source.name} has {parameters / 1e9:.1f}B parameters: full fine-tuning is offered up "
                              f"to {FULL_FINETUNE_LIMIT / 1e9:.1f}B. Use LoRA or QLoRA.")
    model, trainable = attach(model, method)
    del model
    return trainable
