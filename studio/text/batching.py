"""Text requests that arrive together, generated together: one `model.generate` over a left-padded batch.

Why: a decoding step of a small model costs about the same for eight sequences
as for one (on two CPU cores most of a step is Python and kernel launches, not
arithmetic), so a class's requests answered in one batch get several times the
tokens per second that one-after-another gives. Each request keeps what it
would have alone:

- its own sampling: temperature, top-k, top-p and repetition penalty are
  applied per row by the same transformers processors the single path uses,
  and the draw uses the request's own `torch.Generator` (`sampling.py`), so a
  row's tokens follow its own seed whatever else is in the batch;
- its own end: end of text, its own max new tokens, its stop sequences and its
  Stop end that row alone (`generate` pads the rows that are done); the row's
  answer is delivered the moment it ends, so a Stop is answered within a step
  even while the others go on;
- its own stream: a streamer splits each step's tokens by row and decodes each
  row incrementally (`decoding.py`).

Left padding changes a row's arithmetic by float rounding only (padded
positions are masked), so a greedy answer in a batch may differ from the same
request alone only where two tokens were all but tied. A request alone, and one
asking for several sequences, take the single path (`generate.py`).

`Batcher` is the worker's one owner of the model: each job hands it its request
and waits; its thread takes what has arrived (waiting `window_s` for the rest of
a burst when requests are coming in), serves a batch, and goes on.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .decoding import IncrementalDecoder
from .generate import (_cut_at_stop, _held_back, END_OF_TEXT, eos_ids, generation_config, Limits, MAX_TOKENS,
                       SequenceDone, STOP_SEQUENCE, StopCheck, STOPPED, TextChunk, TextStats)
from .prompting import context_length, prepare_prompt, token_budget
from .request import TextRequest
from .sampling import sampling_processors


@dataclass
class BatchRow:
    """One request in a batch and where its events go (`on_event` gets `TextChunk`s, then one `SequenceDone`,
    or an exception when the request is refused)."""

    request: TextRequest
    should_stop: StopCheck
    on_event: Callable[[Any], None]
    # filled while generating
    prompt_length: int = 0
    pad: int = 0
    max_new: int = 0
    notes: tuple[str, ...] = ()
    ids: list[int] = field(default_factory=list)
    decoder: IncrementalDecoder | None = None
    text: str = ""
    emitted: str = ""
    first_at: float | None = None
    hit: bool = False
    finished: bool = False


def generate_batch(model, tokenizer, rows: list[BatchRow], model_name: str = "the model",
                   limits: Limits = Limits()) -> None:
    """Generate every row's answer in one `generate` call; each row's events go to its `on_event` as they come."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    start = time.perf_counter()
    ready: list[BatchRow] = []
    prompts = []
    for row in rows:
        try:
            prompt = prepare_prompt(model, tokenizer, row.request, model_name)
            budget = token_budget(prompt.length, row.request, context_length(model, tokenizer), model_name,
                                  limits.max_prompt_tokens, limits.max_new_tokens)
        except Exception as err:  # this request is refused; the others go on
            row.finished = True
            row.on_event(err)
            continue
        row.prompt_length, row.max_new = prompt.length, budget.max_new_tokens
        row.notes = prompt.notes + ((budget.note,) if budget.note else ())
        row.decoder = IncrementalDecoder(tokenizer)
        ready.append(row)
        prompts.append(prompt.inputs["input_ids"][0])
    if not ready:
        return
    config = generation_config(model, tokenizer, ready[0].request, max(r.max_new for r in ready))
    config.repetition_penalty, config.suppress_tokens = 1.0, None  # per row, below
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(ready), width), config.pad_token_id, dtype=torch.long, device=model.device)
    attention_mask = torch.zeros((len(ready), width), dtype=torch.long, device=model.device)
    for i, (row, ids) in enumerate(zip(ready, prompts)):
        row.pad = width - len(ids)
        input_ids[i, row.pad:] = ids
        attention_mask[i, row.pad:] = 1
    eos = eos_ids(config, tokenizer)
    processors = [_row_processors(row.request, model.device, eos) for row in ready]

    class PerRow(LogitsProcessor):
        """Each row's own processors on its own scores and its own ids (padding left out)."""

        def __call__(self, ids, scores):
            for i, (row, own) in enumerate(zip(ready, processors)):
                if own and not row.finished:
                    scores[i:i + 1] = own(ids[i:i + 1, row.pad:], scores[i:i + 1])
            return scores

    class Rows:
        """Streamer (new tokens by row) and stopping criterion (which rows are done) in one."""

        prompt_seen = False

        def put(self, value) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            now = time.perf_counter()
            for row, token in zip(ready, value.reshape(-1).tolist()):
                if not row.finished:
                    row.first_at = row.first_at or now
                    row.ids.append(token)
                    _stream(row, row.decoder.add([token]))

        def end(self) -> None:
            pass

    class Done(StoppingCriteria):
        def __call__(self, ids, scores, **kwargs):
            for row in ready:
                if not row.finished:
                    reason = _reason(row, eos)
                    if reason:
                        _finish(row, reason, tokenizer, start)
            return torch.tensor([row.finished for row in ready], dtype=torch.bool, device=ids.device)

    try:
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                           logits_processor=LogitsProcessorList([PerRow()]),
                           stopping_criteria=StoppingCriteriaList([Done()]), streamer=Rows())
    except Exception as err:
        for row in ready:
            if not row.finished:
                row.finished = True
                row.on_event(err)
        return
    for row in ready:  # generate ended them all at its own length limit
        if not row.finished:
            _finish(row, MAX_TOKENS, tokenizer, start)


def _row_processors(request: TextRequest, device, eos: set[int]):
    """What `generate` would apply for this request alone: repetition penalty, end-of-text suppression, sampling."""
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor, SuppressTokensLogitsProcessor

    own = LogitsProcessorList()
    if request.repetition_penalty != 1.0:
        own.append(RepetitionPenaltyLogitsProcessor(request.repetition_penalty))
    if request.ignore_eos:
        own.append(SuppressTokensLogitsProcessor(sorted(eos), device=device))
    own.extend(sampling_processors(request, request.seed, device))
    return own


def _stream(row: BatchRow, piece: str) -> None:
    """New text of a row: cut at a stop sequence, hold back what may begin one, send the rest."""
    if not piece:
        return
    stops = row.request.stop_sequences
    row.text += piece
    visible, hit = _cut_at_stop(row.text, stops)
    row.hit = row.hit or hit
    if not hit:
        visible = visible[: len(visible) - _held_back(visible, stops)]
    if len(visible) > len(row.emitted):
        row.on_event(TextChunk(0, visible[len(row.emitted):]))
        row.emitted = visible


def _reason(row: BatchRow, eos: set[int]) -> str | None:
    if row.should_stop():
        return STOPPED
    if row.hit:
        return STOP_SEQUENCE
    if row.ids and row.ids[-1] in eos and not row.request.ignore_eos:
        return END_OF_TEXT
    if len(row.ids) >= row.max_new:
        return MAX_TOKENS
    return None


def _finish(row: BatchRow, reason: str, tokenizer, start: float) -> None:
    """The row's last text and its `SequenceDone`, sent now (the batch may go on without it)."""
    row.finished = True
    _stream(row, row.decoder.flush())
    final, hit = _cut_at_stop(tokenizer.decode(row.ids, skip_special_tokens=True), row.request.stop_sequences)
    if final.startswith(row.emitted) and len(final) > len(row.emitted):
        row.on_event(TextChunk(0, final[len(row.emitted):]))
    if hit and reason != STOPPED:
        reason = STOP_SEQUENCE
    end = time.perf_counter()
    first = row.first_at or end
    tokens = len(row.ids)
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    stats = TextStats(round(first - start, 4), round(rate, 2), tokens, round(end - start, 4), reason,
                      row.prompt_length)
    row.on_event(SequenceDone(0, row.request.seed, final, stats, row.notes))


class Batcher:
    """The one thread of a worker that uses its text model: requests wait here and go in batches.

    `serve(entries)` is called on this thread with entries that may share a batch (same `key`); `alone(entry)`
    says an entry must be served by itself. A burst is gathered for up to `window_s` only while requests
    are coming in (the model is busy, others wait, or the last batch was shared within `busy_s`), so one
    person's click starts at once.
    """

    def __init__(self, serve: Callable[[list], None], key: Callable[[Any], Any], alone: Callable[[Any], bool],
                 max_batch: Callable[[], int], window_s: float = 0.04, busy_s: float = 1.0):
        self._serve, self._key, self._alone, self._max_batch = serve, key, alone, max_batch
        self.window_s, self.busy_s = window_s, busy_s
        self.lock = threading.Lock()  # held while the model is in use (also by warm-up)
        self._pending: collections.deque = collections.deque()
        self._arrived = threading.Condition()
        self._last_arrival = float("-inf")
        self._busy = False
        self._last_size, self._last_end = 0, float("-inf")  # the previous batch: how many, and when it ended
        threading.Thread(target=self._loop, name="text-batcher", daemon=True).start()

    def put(self, entry) -> None:
        with self._arrived:
            now = time.monotonic()
            # Gather a burst only when the model is busy, others wait, or the last batch was shared just now:
            # one person's back-to-back requests never wait for company that is not coming.
            self._busy = bool(self._pending) or self.lock.locked() or (
                self._last_size > 1 and now - self._last_end < self.busy_s)
            self._last_arrival = now
            self._pending.append(entry)
            self._arrived.notify()

    def withdraw(self, entry) -> bool:
        """Take a waiting entry out (its job was stopped before its turn); False once it is being served."""
        with self._arrived:
            if entry in self._pending:
                self._pending.remove(entry)
                return True
            return False

    def _wait_for_work(self) -> None:
        with self._arrived:
            while not self._pending:
                self._arrived.wait()

    def _take(self) -> list:
        """The next group: what has arrived (after the rest of a burst), same model; [] if all were withdrawn."""
        with self._arrived:
            busy = self._busy or len(self._pending) > 1
        if busy:  # gather the rest of a burst (others are likely a few milliseconds behind)
            deadline = time.monotonic() + self.window_s
            with self._arrived:
                while len(self._pending) < self._max_batch() and time.monotonic() < deadline:
                    self._arrived.wait(deadline - time.monotonic())
        with self._arrived:
            if not self._pending:
                return []
            first = self._pending.popleft()
            if self._alone(first):
                return [first]
            group, rest = [first], collections.deque()
            while self._pending and len(group) < self._max_batch():
                entry = self._pending.popleft()
                (group if not self._alone(entry) and self._key(entry) == self._key(first) else rest).append(entry)
            self._pending.extendleft(reversed(rest))
            return group

    def _loop(self) -> None:
        while True:
            self._wait_for_work()
            with self.lock:  # entries stay withdrawable until the model is free for them
                group = self._take()
                if group:
                    self._serve(group)
                    self._last_size, self._last_end = len(group), time.monotonic()
