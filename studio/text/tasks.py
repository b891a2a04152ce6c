"""The Text tab's work as job tasks: they run in the text worker process, which keeps the model loaded.

`generate(job, run)` streams `ProgressEvent`s whose `preview` is a `TextPreview`
(the new text of each sequence since the last event, and the sequences that
finished), and returns a `TextResult`. Events are grouped to at most one every
`FRAME_S` seconds, except the first text, which goes at once: the page shows
the first token as soon as the model makes it and is never flooded.
Local requests go through the worker's `Batcher` (`batching.py`): one alone
takes the single path, requests that arrive together share one batch.
`generate_remote(job, run)` does the same with a model on another
OpenAI-compatible server (`remote.py`), so the tab reads both alike.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.events import ProgressEvent
from studio.loading import LoadRequest

from .batching import Batcher, BatchRow, generate_batch
from .engine import save_answer, TextEngine, TextSaved
from .generate import Limits, SequenceDone, TextChunk
from .remote import api_key_from_env, RemoteTextJob, stream_remote
from .request import TextRequest

FRAME_S = 0.05
WAIT_NOTE_S = 0.3  # a request not begun by then is told why it waits
WAITING = "Waiting for the text model: it is finishing other answers, and yours is next."
WARM_MODEL = "embedded/text-tiny"


@dataclass(frozen=True)
class TextJob:
    """What the page sends to the worker: the model to use and the request (both already checked)."""

    load: LoadRequest
    request: TextRequest


@dataclass(frozen=True)
class TextPreview:
    """New text per sequence index since the previous event, and sequences finished since then."""

    chunks: dict[int, str] = field(default_factory=dict)
    done: tuple[SequenceDone, ...] = ()


@dataclass(frozen=True)
class TextResult:
    sequences: list[SequenceDone]
    text_path: Path
    record_path: Path
    model: str
    steps: int = 0


@functools.cache  # one engine per worker process: the model stays loaded between jobs
def _engine(device: str, token: str | None, trust_remote_code: bool) -> TextEngine:
    from studio.settings import Settings

    return TextEngine(Settings(device=device, hf_token=token, trust_remote_code=trust_remote_code))


def engine_for(settings) -> TextEngine:
    return _engine(settings.device, settings.hf_token, settings.trust_remote_code)


def limits_of(settings) -> Limits:
    return Limits(max_prompt_tokens=settings.max_prompt_tokens, max_new_tokens=settings.max_new_tokens)


class _Frames:
    """Collects chunks and finished sequences, and sends them as one event per frame."""

    def __init__(self, run, total: int):
        self.run, self.total = run, total
        self.chunks: dict[int, str] = {}
        self.done: list[SequenceDone] = []
        self.sent_first = False
        self.last = 0.0

    def add(self, event) -> None:
        if isinstance(event, TextChunk):
            self.chunks[event.index] = self.chunks.get(event.index, "") + event.text
        elif isinstance(event, SequenceDone):
            self.done.append(event)
        now = time.perf_counter()
        if (self.chunks and not self.sent_first) or isinstance(event, SequenceDone) or now - self.last >= FRAME_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if not self.chunks and not self.done:
            return
        self.sent_first = self.sent_first or bool(self.chunks)
        finished = sum(d.stats.tokens for d in self.done)
        self.run.emit(ProgressEvent(step=finished, total=self.total, unit="tokens", message="Generating...",
                                    preview=TextPreview(dict(self.chunks), tuple(self.done))))
        self.chunks, self.done = {}, []
        self.last = now or time.perf_counter()


def generate(job: TextJob, run) -> TextResult | None:
    """Hand the request to this worker's batcher and wait for its answer (streamed meanwhile through `run`).

    A job stopped while it still waits for the model leaves the queue at once with nothing made."""
    entry = _Entry(job, run)
    batcher = batcher_for(run.settings)
    batcher.put(entry)
    told, since = False, time.monotonic()
    while not entry.done.wait(0.05):
        if run.should_stop and batcher.withdraw(entry):
            return None
        if not told and not entry.started and time.monotonic() - since > WAIT_NOTE_S:
            told = True
            run.emit(ProgressEvent(step=0, total=0, unit="tokens", message=WAITING))
    if entry.error is not None:
        raise entry.error
    return entry.result


@dataclass(eq=False)  # an entry is itself, never equal to another with the same request
class _Entry:
    """A text job waiting for (or in) a batch, and what it ended with."""

    job: TextJob
    run: Any
    done: threading.Event = field(default_factory=threading.Event)
    started: bool = False  # its batch has begun
    result: TextResult | None = None
    error: BaseException | None = None

    def end(self, result: TextResult | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@functools.cache  # one batcher per worker process, the only thread that uses its text model
def _batcher(device: str, token: str | None, trust_remote_code: bool, max_batch: int) -> Batcher:
    settings_key = (device, token, trust_remote_code)
    return Batcher(serve=lambda entries: _serve(_engine(*settings_key), entries),
                   key=lambda entry: entry.job.load, alone=lambda entry: entry.job.request.num_sequences > 1,
                   max_batch=lambda: max_batch)


def batcher_for(settings) -> Batcher:
    return _batcher(settings.device, settings.hf_token, settings.trust_remote_code, max(1, settings.text_batch))


def _serve(engine: TextEngine, entries: list[_Entry]) -> None:
    """One request alone on the single path (exactly what the bare library makes), several in one batch."""
    for entry in entries:
        entry.started = True
    if len(entries) == 1:
        try:
            entries[0].end(result=_generate_alone(engine, entries[0].job, entries[0].run))
        except BaseException as err:  # re-raised in the job's own thread, which reports it
            entries[0].end(error=err)
        return
    load = entries[0].job.load
    if not engine.is_loaded(load):
        for entry in entries:
            entry.run.emit(ProgressEvent(step=0, total=0, unit="tokens", message=f"Loading {load.name}..."))
    try:
        loaded = engine.load(load)
    except BaseException as err:
        for entry in entries:
            entry.end(error=err)
        return
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = [BatchRow(e.job.request, lambda e=e: e.run.should_stop, _RowSink(e, loaded, started, len(entries)))
            for e in entries]
    generate_batch(loaded.model, loaded.processor, rows, loaded.source.name, limits_of(entries[0].run.settings))
    for entry in entries:  # defensive: every row ends with an answer or an error
        if not entry.done.is_set():
            entry.end(error=RuntimeError("a batched request ended without an answer"))


class _RowSink:
    """A batch row's events to its job: frames while it streams, then its saved answer."""

    def __init__(self, entry: _Entry, loaded, started: str, batch: int):
        self.entry, self.loaded, self.started, self.batch = entry, loaded, started, batch
        self.frames = _Frames(entry.run, entry.job.request.max_new_tokens)

    def __call__(self, event) -> None:
        if isinstance(event, BaseException):
            self.entry.end(error=event)
            return
        self.frames.add(event)
        if isinstance(event, SequenceDone):
            self.frames.flush()
            run = self.entry.run
            try:
                saved = save_answer(run.settings.outputs_dir, self.entry.job.request, self.loaded.describe(), [event],
                                    self.started, self.batch)
            except BaseException as err:
                self.entry.end(error=err)
                return
            self.entry.end(result=TextResult(saved.sequences, saved.text_path, saved.record_path,
                                             self.entry.job.load.name, steps=event.stats.tokens))


def _generate_alone(engine: TextEngine, job: TextJob, run) -> TextResult:
    """Load (or reuse) the model, stream the answer in frames, save it under the owner's outputs folder."""
    if not engine.is_loaded(job.load):
        run.emit(ProgressEvent(step=0, total=0, unit="tokens", message=f"Loading {job.load.name}..."))
    frames = _Frames(run, job.request.max_new_tokens * job.request.num_sequences)
    saved: TextSaved | None = None
    for event in engine.generate(job.load, job.request, stop=run, outputs_dir=run.settings.outputs_dir,
                                 limits=limits_of(run.settings)):
        if isinstance(event, TextSaved):
            saved = event
        else:
            frames.add(event)
    frames.flush()
    tokens = sum(d.stats.tokens for d in saved.sequences)
    return TextResult(saved.sequences, saved.text_path, saved.record_path, job.load.name, steps=tokens)


def generate_remote(job: RemoteTextJob, run) -> TextResult:
    """Stream the answer of a model on another OpenAI-compatible server, saved like a local one (key excluded)."""
    run.emit(ProgressEvent(step=0, total=0, unit="tokens", message=f"Asking {job.remote.label}..."))
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    frames = _Frames(run, job.request.max_new_tokens * job.request.num_sequences)
    done: list[SequenceDone] = []
    for event in stream_remote(job.remote, job.request, job.api_key or api_key_from_env(), stop=run,
                               limits=limits_of(run.settings)):
        if isinstance(event, SequenceDone):
            done.append(event)
        frames.add(event)
    frames.flush()
    saved = save_answer(run.settings.outputs_dir, job.request, job.remote.describe(), done, started)
    return TextResult(saved.sequences, saved.text_path, saved.record_path, job.remote.label,
                      steps=sum(d.stats.tokens for d in done))


def warm(payload, run) -> str:
    """Load the embedded model and make two tokens, so a visitor's first click finds everything warm."""
    from studio.text.generate import stream_text

    engine = engine_for(run.settings)
    with batcher_for(run.settings).lock:  # the batcher's thread is the model's other user
        loaded = engine.load(LoadRequest(WARM_MODEL))
        for _ in stream_text(loaded.model, loaded.processor, TextRequest("Once", max_new_tokens=2, greedy=True),
                             run):
            pass
    return WARM_MODEL
