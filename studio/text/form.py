"""Every Text field declared once: name, default, range or choices, one sentence of help, and its kind of control.

The tab builds its Gradio controls from `FIELDS` (label, help, slider bounds,
choices), `python -m studio text` builds its flags from it, and `TextRequest`
checks its numbers with `Field.check` (`studio.forms`), so a default, a range
or the wording of a refusal is written here and nowhere else. The operator's
own bounds (`max_new_tokens`, `max_prompt_tokens`) are settings, checked at
call time by the page and the worker, not declarations. No Gradio and no torch
here: the form is tested without a browser or a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.devices import PRECISIONS
from studio.forms import Field, chosen_model, parse_values
from studio.loading import QUANT_TYPES

if TYPE_CHECKING:
    from studio.loading import LoadRequest

    from .request import TextRequest

DEFAULT_MODEL = "embedded/text-tiny"
MAX_NEW_TOKENS = 4096  # the engine's own ceiling; the operator's STUDIO_MAX_NEW_TOKENS is usually lower
MAX_SEQUENCES = 8
MAX_SEED = 2**32 - 1
LOCAL = "local"  # the Backend choice that means this studio's own model


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("prompt", "Once upon a time", "What the model continues, or in chat mode your next message.", "text",
          "Prompt"),
    Field("chat", False, "Renders the prompt with the model's chat template, after the chat so far.", "checkbox",
          "Chat mode"),
    Field("system_prompt", "You are a helpful assistant.", "Chat mode: goes first; models whose chat template "
          "has no system turn get it at the start of the first message.", "text", "System prompt", flag="system"),
    Field("model", DEFAULT_MODEL, "The causal language model that writes: a preset, a hub id or a folder.",
          "model", "Model"),
    Field("custom_model", "", "A hub id, or a folder the operator allows; it replaces the model above.", "text",
          "Or type a hub id", cli=False),
    Field("precision", "full", "How the weights are held in memory: 8bit and 4bit need bitsandbytes.", "radio",
          "Precision", choices=PRECISIONS),
    Field("quant_type", "nf4", "4-bit only: the 4-bit number format.", "radio", "4-bit type", choices=QUANT_TYPES),
    Field("double_quant", True, "4-bit only: quantizes the quantization constants too, for a little less "
          "memory.", "checkbox", "Double quantization"),
    Field("max_new_tokens", 128, "The most tokens each answer adds; also at most the studio's limit and what the "
          "model's context leaves.", "slider", "Max new tokens", low=1, high=MAX_NEW_TOKENS, whole=True, step=1),
    Field("temperature", 0.8, "Higher is more varied, lower more predictable.", "slider", "Temperature", low=0,
          high=2, step=0.05, note="0 means greedy decoding"),
    Field("top_p", 0.95, "Sample among the likeliest tokens that make up this share.", "slider", "Top-p", low=0,
          high=1, open_low=True, step=0.01, note="1 turns top-p off"),
    Field("top_k", 50, "Sample among the k likeliest tokens.", "slider", "Top-k", low=0, high=200, whole=True,
          step=1, note="0 turns top-k off"),
    Field("repetition_penalty", 1.0, "Above 1 makes repeating earlier tokens less likely.", "slider",
          "Repetition penalty", low=0.5, high=2, step=0.05, note="1 means none"),
    Field("greedy", False, "Always the most likely token: the same answer every time.", "checkbox", "Greedy"),
    Field("num_sequences", 1, "Answers made one after another, each streamed; answer i uses seed + i.", "slider",
          "Sequences", low=1, high=MAX_SEQUENCES, whole=True, step=1),
    Field("seed", 0, "The same seed and settings make the same answer; answer i uses seed + i.", "number", "Seed",
          low=0, high=MAX_SEED, whole=True),
    Field("stop_text", "", "Text that ends an answer where it appears: one per line, \\n for a newline.", "text",
          "Stop sequences", attr="stop_sequences", flag="stop"),
    Field("ignore_eos", False, "Writes until max new tokens, past the model's end of text (long runs, "
          "benchmarks).", "checkbox", "Ignore end of text"),
    Field("backend", LOCAL, "local: this studio's own model; or the base URL of an OpenAI-compatible server that "
          "answers instead.", "choice", "Backend", flag="openai-base-url"),
    Field("backend_model", "", "The model's name on that server (its /v1/models lists them).", "text",
          "Model name on that server", flag="openai-model"),
)}
# The Generate button's inputs and its API parameters, in this order; `history` is the chat so far (the
# chatbot's messages), not a setting with a default and a range.
FORM_FIELDS = ("prompt", "chat", "system_prompt", "history", "model", "custom_model", "precision", "quant_type",
               "double_quant", "max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "greedy",
               "num_sequences", "seed", "stop_text", "ignore_eos", "backend", "backend_model")
NUMBERS = tuple(n for n, f in FIELDS.items() if f.number)  # each checked by `TextRequest` with its declaration
LOAD_FIELDS = ("precision", "quant_type", "double_quant")  # how the local model is loaded, not what is asked
# What applies to this studio's own model only: the OpenAI API has no top-k or repetition penalty, and another
# server loads its model its own way. The tab hides these while another server answers.
LOCAL_ONLY = ("model", "custom_model", *LOAD_FIELDS, "top_k", "repetition_penalty")


def default(name: str) -> Any:
    return FIELDS[name].default


def parse_stop_sequences(text: str) -> tuple[str, ...]:
    """One stop sequence per line; `\\n` written literally means a newline."""
    return tuple(line.replace("\\n", "\n") for line in (text or "").splitlines() if line)


def plain_content(content) -> str:
    """A chat message's text: Gradio 6 hands content back as a list of parts (or one part)."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content or "")


def parse_history(history) -> tuple[dict, ...]:
    """The chatbot's messages as {role, content} turns; `TextRequest` refuses a turn with an unknown role."""
    return tuple({"role": m.get("role"), "content": plain_content(m.get("content"))} for m in (history or [])
                 if isinstance(m, dict))


@dataclass(frozen=True)
class TextForm:
    """A checked form: what is asked (`request`), which local model answers and how it is loaded, or which
    OpenAI-compatible server (`backend`, not `LOCAL`) answers instead with `backend_model`."""

    request: TextRequest
    model: str
    precision: str
    quant_type: str
    double_quant: bool
    backend: str
    backend_model: str

    @property
    def local(self) -> bool:
        return self.backend == LOCAL

    def load(self, **scope) -> LoadRequest:
        """The local model's `LoadRequest`; `scope` says which folders its name may point at."""
        from studio.loading import LoadRequest

        return LoadRequest(self.model, precision=self.precision, quant_type=self.quant_type,
                           double_quant=self.double_quant, **scope)


def parse_form(values: dict) -> TextForm:
    """A `TextForm` from the form's, the API's or the CLI's values; a bad field raises a `ConfigError` naming it.

    A missing value is the field's default; the typed model name replaces the chosen one; the chat so far counts
    in chat mode only; an empty backend is this studio's own model. Stop sequences come as the form's text (one
    per line) or, from the command line, as a list of sequences taken as typed.
    """
    from .request import TextRequest  # request.py imports this module

    typed = parse_values(FIELDS, values)
    for name in ("model", "custom_model", "backend", "backend_model", *LOAD_FIELDS[:2]):
        FIELDS[name].check(typed[name])
    model = chosen_model(typed["custom_model"], typed["model"])
    if not model:
        raise FIELDS["model"].refuse(model, "pick a preset or type a hub id")
    stops = typed["stop_text"]
    if isinstance(stops, (list, tuple)):
        stops = tuple(stops)
    else:
        FIELDS["stop_text"].check(stops)
        stops = parse_stop_sequences(stops)
    request = TextRequest(
        **{n: typed[n] for n in ("prompt", "chat", "system_prompt", "greedy", "ignore_eos", *NUMBERS)},
        stop_sequences=stops, history=parse_history(values.get("history")) if typed["chat"] else (),
    )
    return TextForm(request, model, typed["precision"], typed["quant_type"], typed["double_quant"],
                    typed["backend"] or LOCAL, typed["backend_model"])
