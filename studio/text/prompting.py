"""From a request to prompt ids: the chat template (with a system prompt the template may refuse) and the limits.

Chat templates differ in what they accept. Gemma-2's raises "System role not
supported" and Mistral v0.1's demands strictly alternating user/assistant
turns; Gemma-3's folds the system prompt into the first user turn itself. The
studio does what Gemma-3's template does for the templates that refuse: the
system prompt goes at the start of the first user message, and the answer says
so. The prompt is then checked against the operator's `max_prompt_tokens` and
the model's context, before any forward pass, so a huge prompt never starts a
prefill that Stop could not interrupt.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import StudioError

from .request import TextRequest

SYSTEM_FOLDED = ("{model}'s chat template has no system turn, so the system prompt was put at the start of the "
                 "first user message.")


@dataclass(frozen=True)
class Prompt:
    """Token ids of the prompt, with notes for the person (e.g. where the system prompt went)."""

    inputs: dict  # input_ids, attention_mask on the model's device
    notes: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


def fold_system(messages: list[dict]) -> list[dict]:
    """The system turn(s) moved into the first user message, as Gemma-3's own template does."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    rest = [dict(m) for m in messages if m["role"] != "system"]
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}" if system else message["content"]
            break
    return rest


def _template_error() -> tuple[type[Exception], ...]:
    from jinja2.exceptions import TemplateError

    return (TemplateError, ValueError)


def render_chat(tokenizer, messages: list[dict], model_name: str) -> tuple[dict, tuple[str, ...]]:
    """Encode the chat with the model's template; fold the system prompt in when the template refuses it."""
    if not getattr(tokenizer, "chat_template", None):
        raise StudioError(f"{model_name} has no chat template; switch chat mode off and write a plain prompt.")

    def encode(turns):
        return tokenizer.apply_chat_template(turns, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True)

    try:
        return encode(messages), ()
    except _template_error() as err:
        first_error = err
    if any(m["role"] == "system" for m in messages):
        try:
            return encode(fold_system(messages)), (SYSTEM_FOLDED.format(model=model_name),)
        except _template_error():
            pass
    raise StudioError(f"{model_name}'s chat template refused this chat: {first_error}. Turns must usually alternate "
                      "user and assistant; press Clear to start a new chat.")


def prepare_prompt(model, tokenizer, request: TextRequest, model_name: str) -> Prompt:
    """Token ids of the prompt: the chat template's rendering in chat mode, the plain prompt otherwise."""
    notes: tuple[str, ...] = ()
    if request.chat:
        enc, notes = render_chat(tokenizer, request.messages(), model_name)
    else:
        enc = tokenizer(request.prompt, return_tensors="pt")
    inputs = {k: v.to(model.device) for k, v in enc.items() if k in {"input_ids", "attention_mask"}}
    return Prompt(inputs, notes)


def context_length(model, tokenizer=None) -> int | None:
    """How many positions the model reads (prompt plus answer), from its config; None when it does not say."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else None


@dataclass(frozen=True)
class TokenBudget:
    """How many new tokens this prompt may have, and why fewer than asked (a note), or a refusal."""

    max_new_tokens: int
    note: str = ""


def token_budget(prompt_tokens: int, request: TextRequest, context: int | None, model_name: str,
                 max_prompt_tokens: int | None = None, max_new_tokens: int | None = None) -> TokenBudget:
    """Check the prompt and the answer length against the studio's limits and the model's context.

    The operator's limits refuse (naming the limit and its setting); the model's context caps the
    answer when the prompt leaves less room than asked, and refuses a prompt that fills it.
    """
    if max_new_tokens is not None and request.max_new_tokens > max_new_tokens:
        raise StudioError(f"max_new_tokens: {request.max_new_tokens} is above this studio's limit of "
                          f"{max_new_tokens} new tokens (STUDIO_MAX_NEW_TOKENS). Ask for {max_new_tokens} or fewer.")
    if max_prompt_tokens is not None and prompt_tokens > max_prompt_tokens:
        raise StudioError(f"The prompt is {prompt_tokens} tokens long, above this studio's limit of "
                          f"{max_prompt_tokens} prompt tokens (STUDIO_MAX_PROMPT_TOKENS). Shorten it, or press Clear "
                          "to start a new chat.")
    if context is None:
        return TokenBudget(request.max_new_tokens)
    room = context - prompt_tokens
    if room < 1:
        raise StudioError(f"The prompt is {prompt_tokens} tokens long, but {model_name} reads at most {context} "
                          "tokens (its context). Shorten the prompt, or press Clear to start a new chat.")
    if request.max_new_tokens > room:
        return TokenBudget(room, f"max_new_tokens was capped at {room}: the {prompt_tokens}-token prompt leaves "
                                 f"{room} of {model_name}'s context of {context} tokens.")
    return TokenBudget(request.max_new_tokens)
