"""Streaming text generation: `model.generate` on a worker thread, text read from a streamer.

Each sequence is generated with batch size 1 so it can stream; sequence i uses
seed + i, so any one answer can be made again alone. Stop is a
`threading.Event` checked by a stopping criterion after every token, so it ends
the work on the server within one token step. The answer is sliced off the
output by tokens (never by matching the prompt as a string).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from studio.errors import StudioError

from .request import TextRequest

END_OF_TEXT, MAX_TOKENS, STOP_SEQUENCE, STOPPED = "end of text", "max tokens", "stop sequence", "stopped"


@dataclass(frozen=True)
class TextChunk:
    """New text for sequence `index`, to append to what came before."""

    index: int
    text: str


@dataclass(frozen=True)
class TextStats:
    ttft_s: float  # from the request to the first generated token
    tokens_per_second: float  # decoding speed after the first token
    tokens: int  # generated tokens, the end-of-text token included when there is one
    seconds: float
    stop_reason: str  # END_OF_TEXT, MAX_TOKENS, STOP_SEQUENCE or STOPPED


@dataclass(frozen=True)
class SequenceDone:
    index: int
    seed: int
    text: str
    stats: TextStats


def _streamer_class():
    from transformers import TextIteratorStreamer

    class IncrementalStreamer(TextIteratorStreamer):
        """A `TextIteratorStreamer` whose cost per token does not grow with the line, and that times the first token.

        The stock streamer re-decodes every token since the last newline at each
        step, which costs a small model several percent of its speed. Fast
        tokenizers decode here with `tokenizers`' own incremental `DecodeStream`;
        others decode a window from the last sent position, holding back text
        that ends in an incomplete character.
        """

        def __init__(self, tokenizer, **kwargs):
            super().__init__(tokenizer, **kwargs)
            self.first_token_at: float | None = None
            self.backend = getattr(tokenizer, "backend_tokenizer", None)
            self.stream = None
            if self.backend is not None:
                from tokenizers.decoders import DecodeStream

                self.stream = DecodeStream(skip_special_tokens=self.decode_kwargs.get("skip_special_tokens", False))
            self.ids: list[int] = []
            self.prefix_offset = 0  # window decoding: tokens before this need no more context
            self.read_offset = 0  # window decoding: tokens before this are sent

        def put(self, value):
            if len(value.shape) > 1:
                if value.shape[0] > 1:
                    raise ValueError("streaming needs batch size 1")
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            for token in value.tolist():
                if self.stream is not None:
                    piece = self.stream.step(self.backend, token)
                    if piece:
                        self.on_finalized_text(piece)
                else:
                    self.ids.append(token)
                    self._window_step()

        def _window_step(self):
            decode = self.tokenizer.decode
            sent = decode(self.ids[self.prefix_offset : self.read_offset], **self.decode_kwargs)
            text = decode(self.ids[self.prefix_offset :], **self.decode_kwargs)
            if len(text) > len(sent) and not text.endswith("\ufffd"):
                self.on_finalized_text(text[len(sent) :])
                self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)

        def end(self):
            rest = ""
            if self.stream is None:
                sent = self.tokenizer.decode(self.ids[self.prefix_offset : self.read_offset], **self.decode_kwargs)
                rest = self.tokenizer.decode(self.ids[self.prefix_offset :], **self.decode_kwargs)[len(sent) :]
            self.on_finalized_text(rest, stream_end=True)

    return IncrementalStreamer


def _stopping_criteria(events: tuple[threading.Event, ...], stop_sequences, tokenizer, prompt_length: int):
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnEvent(StoppingCriteria):
        """Ends generation at the next token once any event is set (user Stop, cancel, or a stop sequence)."""

        def __init__(self):
            self.answers: dict = {}  # (done, batch, device) -> a bool tensor made once, not every token

        def __call__(self, input_ids, scores, **kwargs):
            key = (any(event.is_set() for event in events), input_ids.shape[0], input_ids.device)
            if key not in self.answers:
                self.answers[key] = torch.full(key[1:2], key[0], dtype=torch.bool, device=key[2])
            return self.answers[key]

    class StopOnText(StoppingCriteria):
        """Ends generation when the recent tokens decode to text containing a stop sequence."""

        def __init__(self):
            self.window = 2 * max(len(s) for s in stop_sequences) + 4
            self.hit = False

        def __call__(self, input_ids, scores, **kwargs):
            tail = input_ids[0, max(prompt_length, input_ids.shape[1] - self.window) :]
            text = tokenizer.decode(tail, skip_special_tokens=True)
            self.hit = self.hit or any(s in text for s in stop_sequences)
            return torch.full((input_ids.shape[0],), self.hit, dtype=torch.bool, device=input_ids.device)

    criteria = [StopOnEvent()]
    text_stop = StopOnText() if stop_sequences else None
    if text_stop:
        criteria.append(text_stop)
    return StoppingCriteriaList(criteria), text_stop


def prepare_inputs(model, tokenizer, request: TextRequest, model_name: str) -> dict:
    """Token ids of the prompt: the chat template's rendering in chat mode, the plain prompt otherwise."""
    if request.chat:
        if not getattr(tokenizer, "chat_template", None):
            raise StudioError(f"{model_name} has no chat template; switch chat mode off and write a plain prompt.")
        enc = tokenizer.apply_chat_template(
            request.messages(), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    else:
        enc = tokenizer(request.prompt, return_tensors="pt")
    return {k: v.to(model.device) for k, v in enc.items() if k in {"input_ids", "attention_mask"}}


def generation_config(model, tokenizer, request: TextRequest):
    """The model's own generation config with this request's settings on top.

    `max_new_tokens` is set explicitly because a saved generation config's value
    would otherwise win over a max_length.
    """
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens = request.max_new_tokens
    config.max_length = None
    config.min_new_tokens = None
    config.num_return_sequences = 1
    config.repetition_penalty = request.repetition_penalty
    config.do_sample = request.sampling
    if request.sampling:
        config.temperature, config.top_p, config.top_k = request.temperature, request.top_p, request.top_k
    else:  # leaving sampling values set with greedy decoding only produces warnings
        config.temperature, config.top_p, config.top_k = None, None, None
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if request.ignore_eos:
        config.suppress_tokens = sorted(_eos_ids(config, tokenizer))
    return config


def _eos_ids(config, tokenizer) -> set[int]:
    eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


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


def stream_sequence(
    model, tokenizer, request: TextRequest, index: int, stop: threading.Event, model_name: str = "the model"
) -> Iterator[TextChunk | SequenceDone]:
    """Generate one sequence, yielding `TextChunk`s as tokens arrive and a `SequenceDone` at the end."""
    import torch

    start = time.perf_counter()
    seed = request.seed + index
    inputs = prepare_inputs(model, tokenizer, request, model_name)
    prompt_length = inputs["input_ids"].shape[1]
    config = generation_config(model, tokenizer, request)
    halt = threading.Event()  # set by a stop sequence, or when the consumer goes away
    criteria, text_stop = _stopping_criteria((stop, halt), request.stop_sequences, tokenizer, prompt_length)
    streamer = _streamer_class()(tokenizer, skip_prompt=True, skip_special_tokens=True)
    result: dict = {}

    def work():
        try:
            torch.manual_seed(seed)
            with torch.inference_mode():
                result["ids"] = model.generate(
                    **inputs, generation_config=config, streamer=streamer, stopping_criteria=criteria
                )
        except Exception as err:  # re-raised in the consumer, where the user sees it
            result["error"] = err
            streamer.end()

    worker = threading.Thread(target=work, name=f"text-generate-{index}", daemon=True)
    worker.start()
    emitted = ""
    text = ""
    try:
        for piece in streamer:
            if not piece:
                continue
            text += piece
            visible, hit = _cut_at_stop(text, request.stop_sequences)
            if hit:
                halt.set()
            else:
                visible = visible[: len(visible) - _held_back(visible, request.stop_sequences)]
            if len(visible) > len(emitted):
                yield TextChunk(index, visible[len(emitted) :])
                emitted = visible
    finally:
        halt.set()  # a consumer that leaves early (cancel) must not leave generate running
        worker.join()
    if "error" in result:
        raise result["error"]
    end = time.perf_counter()
    new_ids = result["ids"][0, prompt_length:]
    final, hit = _cut_at_stop(tokenizer.decode(new_ids, skip_special_tokens=True), request.stop_sequences)
    if final.startswith(emitted) and len(final) > len(emitted):
        yield TextChunk(index, final[len(emitted) :])
    tokens = int(new_ids.shape[0])
    if stop.is_set():
        reason = STOPPED
    elif hit or (text_stop is not None and text_stop.hit):
        reason = STOP_SEQUENCE
    elif tokens and int(new_ids[-1]) in _eos_ids(config, tokenizer):
        reason = END_OF_TEXT
    else:
        reason = MAX_TOKENS
    first = streamer.first_token_at or end
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    stats = TextStats(round(first - start, 4), round(rate, 2), tokens, round(end - start, 4), reason)
    yield SequenceDone(index, seed, final, stats)


def stream_text(
    model, tokenizer, request: TextRequest, stop: threading.Event | None = None, model_name: str = "the model"
) -> Iterator[TextChunk | SequenceDone]:
    """All `request.num_sequences` sequences, one after another; a Stop also skips the ones not begun."""
    stop = stop or threading.Event()
    for index in range(request.num_sequences):
        if stop.is_set():
            break
        yield from stream_sequence(model, tokenizer, request, index, stop, model_name)
