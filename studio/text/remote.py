"""Another OpenAI-compatible server as the Text tab's model: streamed, stoppable, with the same stats.

The studio is a client here (the other direction of `studio/ui/openai_api.py`). A
generation is a text job like a local one: the task (`tasks.generate_remote`)
runs in the text worker, under the same limits, quota and Stop, and emits the
same events, so the tab needs no second path. The maintained `openai` client
does the HTTP (streaming, server-sent events, error types); this module turns
its chunks into `TextChunk`/`SequenceDone` and its errors into one sentence.

Safety: a visitor may only pick a base URL the operator listed in
`STUDIO_OPENAI_BACKENDS` (comma-separated; empty turns the feature off for
visitors), so the server never fetches an address a visitor typed; redirects
are not followed. The key (`STUDIO_OPENAI_API_KEY`) is read from the
environment, travels to the worker in the job (never in its repr), and never
reaches a record, a log line or the page. The command line may name any URL.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from studio.errors import ConfigError, StudioError

from .generate import (
    _cut_at_stop,
    _held_back,
    as_stop_check,
    Limits,
    MAX_TOKENS,
    SequenceDone,
    STOP_SEQUENCE,
    STOPPED,
    TextChunk,
    TextStats,
)
from .form import LOCAL  # noqa: F401 - the Backend choice that means this studio's own model
from .request import TextRequest

ENV_BACKENDS = "STUDIO_OPENAI_BACKENDS"
ENV_KEY = "STUDIO_OPENAI_API_KEY"
ENV_TIMEOUT = "STUDIO_OPENAI_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0
SERVER_STOPS = 4  # the OpenAI API takes at most four stop sequences; the rest are cut here
POLL_S = 0.02  # how often a waiting sequence looks at Stop
CLOSE_WAIT_S = 0.5  # after Stop, how long the reader may take to close the stream itself
# The OpenAI API says "stop" both for the end of text and for a stop sequence (vLLM adds which one).
END_OF_TEXT_OR_STOP = "end of text or stop sequence"
END_OF_TEXT = "end of text"
PIECES_NOTE = "tokens counted as streamed pieces: the server sent no usage"


def normalize_url(url: str, field_name: str = "base URL") -> str:
    """`http(s)://host[:port]/path` without a trailing slash, scheme and host in lower case."""
    raw = (url or "").strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(raw)
        valid = parts.scheme.lower() in ("http", "https") and parts.hostname and not parts.query + parts.fragment
    except ValueError:  # e.g. an unclosed [IPv6] bracket
        valid = False
    if not valid:
        raise ConfigError(field_name, raw, "use an http:// or https:// address such as http://host:8000/v1")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # credentials never belong in the address
    host, _, port = netloc.rpartition(":") if netloc.count(":") == 1 else (netloc, "", "")
    netloc = f"{host.lower()}:{port}" if port else netloc.lower()
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def allowed_backends() -> tuple[str, ...]:
    """The operator's list of servers visitors may use, read now (the admin may change the environment)."""
    raw = os.environ.get(ENV_BACKENDS, "")
    return tuple(dict.fromkeys(normalize_url(u, ENV_BACKENDS) for u in raw.split(",") if u.strip()))


def api_key_from_env() -> str | None:
    return os.environ.get(ENV_KEY) or None


def timeout_from_env() -> float:
    raw = os.environ.get(ENV_TIMEOUT, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(ENV_TIMEOUT, raw, "expected a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(ENV_TIMEOUT, raw, "expected a number of seconds above 0")
    return value


@dataclass(frozen=True)
class RemoteModel:
    """A model on an OpenAI-compatible server: what a record keeps about it (never the key)."""

    base_url: str
    model: str
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self):
        object.__setattr__(self, "base_url", normalize_url(self.base_url))
        name = self.model.strip() if isinstance(self.model, str) else ""
        if not name or len(name) > 200 or not name.isprintable():
            raise ConfigError("model name", self.model,
                              f"type the model's name on {self.base_url} (its /v1/models lists them)")
        object.__setattr__(self, "model", name)
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) \
                or not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ConfigError("timeout_s", self.timeout_s, "use a number of seconds above 0")

    @property
    def label(self) -> str:
        return f"{self.model} at {self.base_url}"

    def describe(self) -> dict:
        return {"backend": "openai-compatible", "base_url": self.base_url, "model": self.model}


@dataclass(frozen=True)
class RemoteTextJob:
    """What the page sends to the worker for a remote answer. The key is kept out of repr (logs, tracebacks)."""

    remote: RemoteModel
    request: TextRequest
    api_key: str | None = field(default=None, repr=False)


def choose_backend(url: str, model: str) -> RemoteModel:
    """A visitor's choice, checked against the operator's list at call time: nothing else can be fetched."""
    allowed = allowed_backends()
    if not allowed:
        raise StudioError(f"Backend: this studio does not use other OpenAI-compatible servers (the operator lists "
                          f"them in {ENV_BACKENDS}); choose {LOCAL}.")
    try:
        chosen = normalize_url(url, "Backend")
    except ConfigError:
        chosen = None
    if chosen not in allowed:
        raise StudioError(f"Backend: {str(url)[:100]!r} is not one of the servers this studio allows; choose one "
                          f"from the list ({ENV_BACKENDS}).")
    return RemoteModel(chosen, model, timeout_from_env())


def client_for(remote: RemoteModel, api_key: str | None):
    """The maintained client: no retries (a Stop or an error is at once), no redirects (nowhere but this URL)."""
    import openai

    return openai.OpenAI(base_url=remote.base_url, api_key=api_key or "no-key", timeout=remote.timeout_s,
                         max_retries=0, http_client=openai.DefaultHttpxClient(follow_redirects=False))


def explain(err: Exception, remote: RemoteModel) -> StudioError:
    """The client's error as one sentence for the person (never the key, never a traceback)."""
    import openai

    where = remote.base_url
    if isinstance(err, openai.APITimeoutError):
        return StudioError(f"The server at {where} did not answer within {remote.timeout_s:g} s "
                           f"({ENV_TIMEOUT}); try again later or ask for fewer tokens.")
    if isinstance(err, openai.APIConnectionError):
        return StudioError(f"Could not reach the OpenAI-compatible server at {where}: check that it is running "
                           "and that the address (ending in /v1) is right.")
    if isinstance(err, openai.AuthenticationError):
        return StudioError(f"The server at {where} refused the API key (401): set {ENV_KEY} to a key it accepts.")
    if isinstance(err, openai.NotFoundError):
        return StudioError(f"The server at {where} has no model {remote.model!r} (404): use a name its /v1/models "
                           "lists, and an address ending in /v1.")
    if isinstance(err, openai.APIStatusError):
        detail = _message_of(err)
        return StudioError(f"The server at {where} refused the request ({err.status_code})"
                           f"{': ' + detail if detail else '.'}")
    if isinstance(err, openai.APIError):
        detail = _message_of(err)
        return StudioError(f"The server at {where} failed while answering{': ' + detail if detail else '.'}")
    return StudioError(f"Talking to the server at {where} failed ({type(err).__name__}).")


def _message_of(err) -> str:
    body = getattr(err, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    text = str(message or getattr(err, "message", "") or "").strip().splitlines()
    return text[0][:300] if text else ""


class _Reader(threading.Thread):
    """Reads one streamed answer on a helper thread, so Stop never waits for the network.

    It closes the stream itself when asked to halt (after the next chunk), which closes the HTTP
    connection: an OpenAI-compatible server then stops generating.
    """

    def __init__(self, open_stream):
        super().__init__(name="text-remote-reader", daemon=True)
        self.open_stream = open_stream
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self.halt = threading.Event()
        self.stream = None

    def run(self) -> None:
        try:
            self.stream = self.open_stream()
            for chunk in self.stream:
                self.items.put(("chunk", chunk))
                if self.halt.is_set():
                    break
        except Exception as err:  # handed to the consumer, which explains it (or ignores it after a Stop)
            self.items.put(("error", err))
        finally:
            self.close()
            self.items.put(("end", None))

    def close(self) -> None:
        stream = self.stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a connection that is already gone
                pass


def _open(client, remote: RemoteModel, request: TextRequest, seed: int, max_tokens: int):
    fields = dict(model=remote.model, max_tokens=max_tokens, stream=True, seed=seed,
                  temperature=0.0 if not request.sampling else request.temperature,
                  top_p=1.0 if not request.sampling else request.top_p,
                  stream_options={"include_usage": True})
    if request.stop_sequences:
        fields["stop"] = list(request.stop_sequences[:SERVER_STOPS])
    if request.ignore_eos:
        fields["extra_body"] = {"ignore_eos": True}  # vLLM's (and this studio's) extension
    if request.chat:
        return lambda: client.chat.completions.create(messages=request.messages(), **fields)
    return lambda: client.completions.create(prompt=request.prompt, **fields)


def _parts(chunk, chat: bool) -> tuple[str, str | None, object, object]:
    """(text, finish reason, usage, choice) of one streamed chunk."""
    choice = chunk.choices[0] if getattr(chunk, "choices", None) else None
    text = ""
    if choice is not None:
        text = (choice.delta.content if chat and choice.delta else getattr(choice, "text", "")) or ""
    return text, getattr(choice, "finish_reason", None), getattr(chunk, "usage", None), choice


def stream_remote_sequence(client, remote: RemoteModel, request: TextRequest, index: int, should_stop,
                           max_tokens: int, notes: tuple[str, ...] = ()) -> Iterator[TextChunk | SequenceDone]:
    """One streamed answer: `TextChunk`s as text comes, then a `SequenceDone` with the same stats as local."""
    seed = request.seed + index
    start = time.perf_counter()
    reader = _Reader(_open(client, remote, request, seed, max_tokens))
    reader.start()
    text = emitted = ""
    first_at = None
    pieces, finish, usage, server_stop, hit, stopped = 0, None, None, None, False, False
    try:
        while True:
            if should_stop():
                stopped = True
                break
            try:
                kind, item = reader.items.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if kind == "end":
                break
            if kind == "error":
                raise explain(item, remote)
            piece, finish_now, usage_now, choice = _parts(item, request.chat)
            usage = usage_now or usage
            finish = finish_now or finish
            server_stop = getattr(choice, "stop_reason", None) or server_stop  # vLLM says which stop ended it
            if not piece:
                continue
            pieces += 1
            first_at = first_at or time.perf_counter()
            text += piece
            visible, hit = _cut_at_stop(text, request.stop_sequences)
            if hit:
                break
            visible = visible[: len(visible) - _held_back(visible, request.stop_sequences)]
            if len(visible) > len(emitted):
                yield TextChunk(index, visible[len(emitted):])
                emitted = visible
    finally:
        reader.halt.set()
        reader.join(CLOSE_WAIT_S)
        if reader.is_alive():  # blocked on a silent server: close from here, and the client with it
            reader.close()
            client.close()
    end = time.perf_counter()
    final, _ = _cut_at_stop(text, request.stop_sequences)
    if final.startswith(emitted) and len(final) > len(emitted):
        yield TextChunk(index, final[len(emitted):])
    tokens = getattr(usage, "completion_tokens", None)
    if tokens is None:
        tokens, notes = pieces, notes + (PIECES_NOTE,)
    if stopped:
        reason = STOPPED
    elif hit or isinstance(server_stop, str):
        reason = STOP_SEQUENCE
    elif finish == "length":
        reason = MAX_TOKENS
    elif finish == "stop":
        reason = END_OF_TEXT_OR_STOP if request.stop_sequences else END_OF_TEXT
    else:
        reason = finish or "end of stream"
    first = first_at or end
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    stats = TextStats(round(first - start, 4), round(rate, 2), int(tokens), round(end - start, 4), reason,
                      int(getattr(usage, "prompt_tokens", 0) or 0))
    yield SequenceDone(index, seed, final, stats, notes)


def stream_remote(remote: RemoteModel, request: TextRequest, api_key: str | None, stop=None,
                  limits: Limits = Limits()) -> Iterator[TextChunk | SequenceDone]:
    """All `request.num_sequences` answers one after another (sequence i asks with seed + i), like local ones."""
    should_stop = as_stop_check(stop)
    max_tokens = min(request.max_new_tokens, limits.max_new_tokens or request.max_new_tokens)
    notes = ()
    if request.repetition_penalty != 1.0:
        notes = ("the repetition penalty is not part of the OpenAI API and was not sent",)
    client = client_for(remote, api_key)
    try:
        for index in range(request.num_sequences):
            if should_stop():
                break
            yield from stream_remote_sequence(client, remote, request, index, should_stop, max_tokens, notes)
    finally:
        client.close()
