"""Streaming text generation: `model.generate` on a helper thread, text read from a streamer as it comes.

Each sequence is generated with batch size 1 so it can stream; sequence i uses
seed + i (a `torch.Generator` of its own, see `sampling.py`), so any one answer
can be made again alone. Stop is polled by a stopping criterion after every
token, so it ends the work within one token step; the prompt is checked against
the limits before the first forward pass (`prompting.py`). The answer is sliced
off the output by tokens, never by matching the prompt as a string.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .decoding import TextQueueStreamer
from .prompting import context_length, prepare_prompt, Prompt, token_budget
from .request import TextRequest
from .sampling import sampling_processors

END_OF_TEXT, MAX_TOKENS, STOP_SEQUENCE, STOPPED = "end of text", "max tokens", "stop sequence", "stopped"

StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class TextChunk:
    """New text for sequence `index`, to append to what came before."""

    index: int
    text: str


@dataclass(frozen=True)
class TextStats:
    ttft_s: float  # from the start of this sequence (prompt encoding included) to its first generated token
    tokens_per_second: float  # decoding speed after the first token
    tokens: int  # generated tokens, the end-of-text token included when there is one
    seconds: float
    stop_reason: str  # END_OF_TEXT, MAX_TOKENS, STOP_SEQUENCE or STOPPED
    prompt_tokens: int = 0


@dataclass(frozen=True)
class SequenceDone:
    index: int
    seed: int
    text: str
    stats: TextStats
    notes: tuple[str, ...] = ()  # e.g. "the system prompt was put in the first user message"


@dataclass(frozen=True)
class Limits:
    """The operator's bounds on one request (None: unbounded, as for a person at the command line)."""

    max_prompt_tokens: int | None = None
    max_new_tokens: int | None = None


def as_stop_check(stop) -> StopCheck:
    """A Stop source as a function: a `threading.Event`, a job's `run` (`should_stop`), a callable, or None."""
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if hasattr(stop, "should_stop"):
        return lambda: stop.should_stop
    return stop


def prepare_inputs(model, tokenizer, request: TextRequest, model_name: str) -> dict:
    """Token ids of the prompt (kept for callers that need only the ids, e.g. the benchmark)."""
    return prepare_prompt(model, tokenizer, request, model_name).inputs


def generation_config(model, tokenizer, request: TextRequest, max_new_tokens: int | None = None):
    """The model's own generation config with this request's settings on top.

    Decoding is greedy at this level: sampling happens in this request's own logits
    processors (`sampling.py`). `max_new_tokens` is set explicitly because a saved
    generation config's value would otherwise win over a max_length. A shallow copy is
    enough (fields are replaced here, never changed in place, and `generate` deep-copies
    the config it is given): a deep copy cost 0.06 ms of every answer's first token.
    """
    config = copy.copy(model.generation_config)
    config.max_new_tokens = max_new_tokens or request.max_new_tokens
    config.max_length = None
    config.min_new_tokens = None
    config.num_return_sequences = 1
    config.num_beams = 1
    config.repetition_penalty = request.repetition_penalty
    config.do_sample = False
    # Neutral values, not None: `generate` fills None from the model's own config (Qwen's says top_k 20).
    config.temperature, config.top_p, config.top_k, config.typical_p = 1.0, 1.0, 50, 1.0
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if request.ignore_eos:
        config.suppress_tokens = sorted(eos_ids(config, tokenizer))
    return config


def eos_ids(config, tokenizer) -> set[int]:
    eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


def _stopping_criteria(checks: tuple[StopCheck, ...], stop_sequences, tokenizer, prompt_length: int):
    from transformers import StoppingCriteriaList

    stop_on_request, stop_on_text = _criteria_classes()
    criteria = [stop_on_request(checks)]
    text_stop = stop_on_text(stop_sequences, tokenizer, prompt_length) if stop_sequences else None
    if text_stop:
        criteria.append(text_stop)
    return StoppingCriteriaList(criteria), text_stop


@functools.cache  # made once, when first needed (transformers is imported only then), not before every answer
def _criteria_classes():
    import torch
    from transformers import StoppingCriteria

    class StopOnRequest(StoppingCriteria):
        """Ends generation at the next token once any check says so (the user's Stop, a stop sequence, a cancel)."""

        def __init__(self, checks):
            self.checks = checks
            self.answers: dict = {}  # (done, batch, device) -> a bool tensor made once, not every token

        def __call__(self, input_ids, scores, **kwargs):
            key = (any(check() for check in self.checks), input_ids.shape[0], input_ids.device)
            if key not in self.answers:
                self.answers[key] = torch.full(key[1:2], key[0], dtype=torch.bool, device=key[2])
            return self.answers[key]

    class StopOnText(StoppingCriteria):
        """Ends generation when the recent tokens decode to text containing a stop sequence."""

        def __init__(self, stop_sequences, tokenizer, prompt_length: int):
            self.stop_sequences, self.tokenizer, self.prompt_length = stop_sequences, tokenizer, prompt_length
            self.window = 2 * max(len(s) for s in stop_sequences) + 4
            self.hit = False

        def __call__(self, input_ids, scores, **kwargs):
            tail = input_ids[0, max(self.prompt_length, input_ids.shape[1] - self.window):]
            text = self.tokenizer.decode(tail, skip_special_tokens=True)
            self.hit = self.hit or any(s in text for s in self.stop_sequences)
            return torch.full((input_ids.shape[0],), self.hit, dtype=torch.bool, device=input_ids.device)

    return StopOnRequest, StopOnText


def _cut_at_stop(text: str, stop_sequences) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop_sequences if s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _held_back(text: str, stop_sequences) -> int:
    """How many trailing characters might be the start of a stop sequence, and must wait."""
    longest = 0
    for s in stop_sequences:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:n]):
                longest = max(longest, n)
                break
    return longest


def stream_sequence(model, tokenizer, request: TextRequest, index: int, should_stop: StopCheck, prompt: Prompt,
                    max_new_tokens: int, notes: tuple[str, ...] = ()) -> Iterator[TextChunk | SequenceDone]:
    """Generate one sequence, yielding `TextChunk`s as text arrives and a `SequenceDone` at the end."""
    import torch

    start = time.perf_counter()
    seed = request.seed + index
    config = generation_config(model, tokenizer, request, max_new_tokens)
    halt = threading.Event()  # set by a stop sequence, or when the consumer goes away
    criteria, text_stop = _stopping_criteria((should_stop, halt.is_set), request.stop_sequences, tokenizer,
                                             prompt.length)
    processors = sampling_processors(request, seed, model.device)
    streamer = TextQueueStreamer(tokenizer)
    result: dict = {}

    def work():
        try:
            with torch.inference_mode():
                result["ids"] = model.generate(**prompt.inputs, generation_config=config, streamer=streamer,
                                               stopping_criteria=criteria, logits_processor=processors)
        except Exception as err:  # re-raised in the consumer, where the person sees it
            result["error"] = err
            streamer.end()

    worker = threading.Thread(target=work, name=f"text-generate-{index}", daemon=True)
    worker.start()
    emitted = ""
    text = ""
    try:
        for piece in streamer:
            text += piece
            visible, hit = _cut_at_stop(text, request.stop_sequences)
            if hit:
                halt.set()
            else:
                visible = visible[: len(visible) - _held_back(visible, request.stop_sequences)]
            if len(visible) > len(emitted):
                yield TextChunk(index, visible[len(emitted):])
                emitted = visible
    finally:
        halt.set()  # a consumer that leaves early (cancel) must not leave generate running
        worker.join()
    if "error" in result:
        raise result["error"]
    end = time.perf_counter()
    new_ids = result["ids"][0, prompt.length:]
    final, hit = _cut_at_stop(tokenizer.decode(new_ids, skip_special_tokens=True), request.stop_sequences)
    if final.startswith(emitted) and len(final) > len(emitted):
        yield TextChunk(index, final[len(emitted):])
    tokens = int(new_ids.shape[0])
    if should_stop():
        reason = STOPPED
    elif hit or (text_stop is not None and text_stop.hit):
        reason = STOP_SEQUENCE
    elif tokens and int(new_ids[-1]) in eos_ids(config, tokenizer):
        reason = END_OF_TEXT
    else:
        reason = MAX_TOKENS
    first = streamer.first_token_at or end
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    stats = TextStats(round(first - start, 4), round(rate, 2), tokens, round(end - start, 4), reason, prompt.length)
    yield SequenceDone(index, seed, final, stats, notes)


def stream_text(model, tokenizer, request: TextRequest, stop=None, model_name: str = "the model",
                limits: Limits = Limits()) -> Iterator[TextChunk | SequenceDone]:
    """All `request.num_sequences` sequences, one after another; a Stop also skips the ones not begun.

    `stop` is a `threading.Event`, a job's run, or a function; `limits` are the operator's bounds.
    """
    should_stop = as_stop_check(stop)
    prompt = prepare_prompt(model, tokenizer, request, model_name)
    budget = token_budget(prompt.length, request, context_length(model, tokenizer), model_name,
                          limits.max_prompt_tokens, limits.max_new_tokens)
    notes = prompt.notes + ((budget.note,) if budget.note else ())
    for index in range(request.num_sequences):
        if should_stop():
            break
        yield from stream_sequence(model, tokenizer, request, index, should_stop, prompt, budget.max_new_tokens,
                                   notes)
