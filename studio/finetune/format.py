"""Rows to token ids and labels: what the model sees, and which tokens it is taught to produce.

Every row becomes a list of segments `(text, learn)`. Prompts (and for chats,
everything but the assistant's turns) get the label -100, so the loss covers
only the answers. Segments are tokenized one by one, so the boundary between
prompt and answer falls exactly where it falls at generation time, when the
prompt is tokenized on its own.

A rendered chat template already holds the model's start token where the
model wants one (Llama, Mistral and Gemma templates begin with `{{ bos_token }}`),
so chats are tokenized without adding special tokens again, exactly as the
Text tab tokenizes a chat it generates from; plain text gets the tokenizer's
own special tokens once, at the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import StudioError

from .data import DataSet, Row

IGNORE = -100  # the label the loss skips


@dataclass(frozen=True)
class Tokenized:
    examples: list[dict]  # {"input_ids": [...], "labels": [...]}
    truncated: int  # rows cut to max_length
    dropped: int  # rows left out (too long with overlong="drop", or nothing left to learn after cutting)
    longest: int  # tokens in the longest row before cutting


def join_pair(prompt: str, response: str) -> tuple[str, str]:
    """Prompt and answer as the model sees them: a space between them unless one side has whitespace already."""
    if prompt and response and not prompt[-1].isspace() and not response[0].isspace():
        response = " " + response
    return prompt, response


def instruction_prompt(values: dict) -> str:
    extra = (values.get("input") or "").strip()
    return values["instruction"].strip() + ("\n" + extra if extra else "") + "\n"


def segments(values: dict, shape: str, tokenizer) -> list[tuple[str, bool]]:
    if shape == "text":
        return [(values["text"], True)]
    if shape == "pairs":
        prompt, response = join_pair(values["prompt"], values["response"])
        return [(prompt, False), (response, True)]
    if shape == "instruction":
        return [(instruction_prompt(values), False), (values["output"], True)]
    return chat_segments(values["messages"], tokenizer)


def check_chat(data: DataSet, tokenizer, model: str) -> None:
    """Render every chat of `data` with the model's template now, before any weights load, and say in one
    sentence what cannot work and what to do instead (no template; a template that refuses system turns)."""
    if data.shape != "messages":
        return
    if not getattr(tokenizer, "chat_template", None):
        raise StudioError(f"{model} has no chat template, so the chat messages in {data.name} cannot be rendered: "
                          "use prompt/response rows with this model, or pick a model that has a chat template.")
    for row in data.rows:
        turns = row.values["messages"]
        try:
            tokenizer.apply_chat_template(turns, tokenize=False)
        except Exception as err:  # templates refuse with jinja's TemplateError and their own words
            reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
            if any(turn["role"] == "system" for turn in turns):
                raise StudioError(f"{data.name} {row.where} has a system turn, and {model}'s chat template does not "
                                  f"accept one ({reason}): fold the system text into the first user turn, or pick a "
                                  "model whose template has a system role.") from None
            raise StudioError(f"{model}'s chat template cannot render {data.name} {row.where} ({reason}): "
                              "make the turns alternate user, assistant, user, ...") from None


def chat_segments(messages: list[dict], tokenizer) -> list[tuple[str, bool]]:
    """The rendered chat, split so that each assistant turn (and only it) is learned."""
    if not getattr(tokenizer, "chat_template", None):
        raise StudioError("This model has no chat template, so chat messages cannot be rendered; use prompt/response "
                          "pairs, or a model with a chat template.")
    render = lambda turns, gen=False: tokenizer.apply_chat_template(  # noqa: E731
        turns, tokenize=False, add_generation_prompt=gen)
    full = render(messages)
    parts, done = [], ""
    for i, turn in enumerate(messages):
        if turn["role"] != "assistant":
            continue
        before = render(messages[:i], gen=True) if i else ""
        after = render(messages[: i + 1])
        if not (before.startswith(done) and after.startswith(before) and full.startswith(after)):
            return [(full, True)]  # a template that rewrites earlier turns: learn the whole chat rather than guess
        parts += [(before[len(done):], False), (after[len(before):], True)]
        done = after
    if len(full) > len(done):
        parts.append((full[len(done):], False))
    return [(text, learn) for text, learn in parts if text]


def templated(shape: str) -> bool:
    """True when the text of this shape comes from the chat template, special tokens included."""
    return shape == "messages"


def encode(values: dict, shape: str, tokenizer) -> tuple[list[int], list[int]]:
    ids, labels = [], []
    for number, (text, learn) in enumerate(segments(values, shape, tokenizer)):
        piece = tokenizer(text, add_special_tokens=number == 0 and not templated(shape))["input_ids"]
        ids += piece
        labels += piece if learn else [IGNORE] * len(piece)
    if shape != "messages" and tokenizer.eos_token_id is not None:  # teach it to stop after the answer
        ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)
    return ids, labels


def tokenize_rows(rows: list[Row], shape: str, tokenizer, max_length: int, overlong: str = "truncate") -> Tokenized:
    examples, truncated, dropped, longest = [], 0, 0, 0
    for row in rows:
        ids, labels = encode(row.values, shape, tokenizer)
        longest = max(longest, len(ids))
        if len(ids) > max_length:
            if overlong == "drop":
                dropped += 1
                continue
            ids, labels = ids[:max_length], labels[:max_length]
            truncated += 1
        if all(label == IGNORE for label in labels):  # the answer was cut off entirely
            dropped += 1
            continue
        examples.append({"input_ids": ids, "labels": labels})
    return Tokenized(examples, truncated, dropped, longest)


def length_note(data: DataSet, part: str, result: Tokenized, max_length: int, overlong: str) -> str | None:
    """One sentence about rows over max_length, or None when every row fits."""
    if not result.truncated and not result.dropped:
        return None
    cut = f"{result.truncated} cut to {max_length} tokens" if result.truncated else ""
    left = f"{result.dropped} left out" if result.dropped else ""
    return (f"{data.name} ({part}): rows longer than max length {max_length} (the longest has {result.longest} "
            f"tokens): {', '.join(p for p in (cut, left) if p)} ({overlong}).")


def generation_prompt(values: dict, shape: str, tokenizer) -> tuple[str, str]:
    """The prompt a model gets for a before/after comparison, and the answer the data expects.

    A chat prompt is rendered by the template (special tokens included: tokenize it with `templated`)."""
    if shape == "pairs":
        return values["prompt"], values["response"]
    if shape == "instruction":
        return instruction_prompt(values), values["output"]
    if shape == "messages":
        turns = values["messages"]
        last = max(i for i, t in enumerate(turns) if t["role"] == "assistant")
        text = tokenizer.apply_chat_template(turns[:last], tokenize=False, add_generation_prompt=True)
        return text, turns[last]["content"]
    words = values["text"].split()
    cut = max(1, len(words) // 2)
    return " ".join(words[:cut]), " ".join(words[cut:])


class PadCollator:
    """Pads a batch to its longest row: pad id in the inputs, -100 in the labels, 0 in the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
