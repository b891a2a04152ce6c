"""What gets trained: a LoRA adapter, a LoRA on a 4-bit base (QLoRA), or every weight of a small model.

The base model comes through the Text tab's loader (`studio.text.model`), so the
same checks run before loading (precision on this device, 4-bit sizes on the
CPU, gated and offline hub ids, memory) and failures read the same way.
`prepare_model_for_kbit_training` runs only for a quantized base: on a full
precision model it would needlessly upcast and freeze in ways LoRA does not need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from studio.errors import StudioError
from studio.loading import LoadRequest, translate_load_error

from .config import MethodSettings, TrainingSettings

log = logging.getLogger(__name__)

FULL_FINETUNE_LIMIT = 1_500_000_000  # parameters; larger models train as LoRA/QLoRA here


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


def load_request(model: str, method: MethodSettings, trust_remote_code: bool) -> LoadRequest:
    precision = "4bit" if method.method == "qlora" else "full"
    return LoadRequest(model, precision=precision, quant_type=method.quant_type, double_quant=method.double_quant,
                       trust_remote_code=trust_remote_code)


def load_base(model: str, method: MethodSettings, settings, trust_remote_code: bool = False):
    """(model, tokenizer, device) for training: a fresh copy, never the Text tab's loaded one."""
    import torch

    from studio.text.model import load_causal_lm, text_slot

    slot = text_slot(settings.device, settings.hf_token)
    request = load_request(model, method, trust_remote_code or settings.trust_remote_code)
    source, device, dtype, _ = slot.check(request)
    if method.method == "qlora" and method.compute_dtype != "auto":
        dtype = getattr(torch, method.compute_dtype)
    try:
        base, tokenizer = load_causal_lm(source, request, device, dtype, settings.hf_token)
    except Exception as err:
        raise translate_load_error(err, source.name, settings.hf_token) from None
    if method.method == "full":
        parameters = sum(p.numel() for p in base.parameters())
        if parameters > FULL_FINETUNE_LIMIT:
            raise StudioError(f"{source.name} has {parameters / 1e9:.1f}B parameters: full fine-tuning is offered up "
                              f"to {FULL_FINETUNE_LIMIT / 1e9:.1f}B. Use LoRA or QLoRA.")
    return base, tokenizer, device


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


def count_parameters(model) -> Trainable:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Trainable(trainable, sum(p.numel() for p in model.parameters()))


def preview(model_name: str, method: MethodSettings, settings, trust_remote_code: bool = False) -> Trainable:
    """The trainable-parameter count before training, from the model's config alone (no weights are loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from studio.registry import resolve

    source = resolve(model_name, "text")
    try:
        config = AutoConfig.from_pretrained(source.location, token=settings.hf_token,
                                            trust_remote_code=trust_remote_code or settings.trust_remote_code)
    except Exception as err:
        raise translate_load_error(err, source.name, settings.hf_token) from None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model, trainable = attach(model, method)
    del model
    return trainable
