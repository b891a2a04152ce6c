"""Another OpenAI-compatible server as the text model: streaming, stop sequences, Stop closing the stream,
one-sentence errors, the operator's allow-list, and a record without the key.

The server here is a few lines of stdlib HTTP speaking the streamed OpenAI protocol, so each
behaviour (a 401, a 404, a silent server, a client that goes away) is exact and takes milliseconds.
"""

import json
import pickle
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.errors import StudioError
from studio.events import ProgressEvent
from studio.settings import Settings
from studio.text import remote, tasks
from studio.text.generate import SequenceDone, TextChunk
from studio.text.request import TextRequest
from tests.job_events import FakeRun

KEY = "sk-remote-unit-test-key"
WORDS = ["Once", " upon", " a", " time.", " The", " end", "."]


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies: list[dict] = []
        self.auth_seen: list[str] = []
        self.sent = 0  # chunks written by the endless model
        self.disconnected = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def event(self, body) -> None:
        self.wfile.write(b"data: " + (body if isinstance(body, bytes) else json.dumps(body).encode()) + b"\n\n")
        self.wfile.flush()

    def do_POST(self):
        server: FakeServer = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.bodies.append(body)
        server.auth_seen.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self.reply(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
        if body["model"] == "missing":
            return self.reply(404, {"error": {"message": "The model `missing` does not exist."}})
        if body["model"] == "silent":
            time.sleep(3)
            return self.reply(500, {})
        chat = self.path.endswith("/chat/completions")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def chunk(text, finish=None):
            choice = {"index": 0, "delta": {"content": text} if text else {}} if chat else {"index": 0, "text": text}
            return {"id": "x", "object": "chunk", "created": 0, "model": body["model"],
                    "choices": [choice | {"finish_reason": finish}]}

        try:
            if body["model"] == "endless":
                for _ in range(2000):
                    self.event(chunk(" and"))
                    server.sent += 1
                    time.sleep(0.005)
                return
            words = WORDS[: body["max_tokens"]]
            for word in words:
                self.event(chunk(word))
                time.sleep(0.002)
            self.event(chunk("", "length" if len(words) < len(WORDS) else "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                self.event({"id": "x", "object": "chunk", "created": 0, "model": body["model"], "choices": [],
                            "usage": {"prompt_tokens": 3, "completion_tokens": len(words),
                                      "total_tokens": 3 + len(words)}})
            self.event(b"[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            server.disconnected.set()


@pytest.fixture(scope="module")
def server():
    server = FakeServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def model(server, name="tiny", timeout_s=5.0):
    return remote.RemoteModel(server.url, name, timeout_s)


def collect(events):
    chunks, done = [], []
    for event in events:
        (chunks if isinstance(event, TextChunk) else done).append(event)
    return chunks, done


def test_streams_the_answer_with_local_style_stats_and_sends_the_request_fields(server):
    request = TextRequest("Tell me", max_new_tokens=20, chat=True, seed=7, temperature=0.5, top_p=0.9)
    chunks, (done,) = collect(remote.stream_remote(model(server), request, KEY))
    assert len(chunks) >= 5 and "".join(c.text for c in chunks) == done.text == "".join(WORDS)
    assert done.stats.tokens == len(WORDS) and done.stats.prompt_tokens == 3
    assert done.stats.stop_reason == "end of text" and done.stats.ttft_s > 0 and done.stats.tokens_per_second > 0
    body = server.bodies[-1]
    assert body["messages"][-1] == {"role": "user", "content": "Tell me"} and body["seed"] == 7
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["max_tokens"] == 20 and body["stream"]


def test_max_tokens_and_sequences_one_after_another_with_their_own_seeds(server):
    request = TextRequest("Once", max_new_tokens=3, greedy=True, num_sequences=2, seed=4)
    _, done = collect(remote.stream_remote(model(server), request, KEY))
    assert [d.seed for d in done] == [4, 5] and all(d.stats.stop_reason == "max tokens" for d in done)
    assert server.bodies[-1]["prompt"] == "Once" and server.bodies[-1]["temperature"] == 0.0


def test_the_operators_token_limit_bounds_what_is_asked(server):
    from studio.text.generate import Limits

    collect(remote.stream_remote(model(server), TextRequest("Once", max_new_tokens=50), KEY,
                                 limits=Limits(max_new_tokens=2)))
    assert server.bodies[-1]["max_tokens"] == 2


def test_stop_sequences_are_sent_and_cut_here_too(server):
    stops = ("zz1", "zz2", "zz3", "zz4", ".")  # the fifth is not sent (the API takes four): cut here
    chunks, (done,) = collect(remote.stream_remote(model(server), TextRequest("Once", stop_sequences=stops), KEY))
    assert server.bodies[-1]["stop"] == list(stops[:4])
    assert done.text == "Once upon a time" == "".join(c.text for c in chunks)
    assert done.stats.stop_reason == "stop sequence"


def test_stop_closes_the_http_stream_so_the_server_stops(server):
    stop = threading.Event()
    sent_before = server.sent
    start = time.perf_counter()
    events = remote.stream_remote(model(server, "endless"), TextRequest("Once", max_new_tokens=2000), KEY, stop)
    text = ""
    for event in events:
        if isinstance(event, TextChunk):
            text += event.text
            if len(text) > 20:
                stop.set()
        else:
            done = event
    assert done.stats.stop_reason == "stopped" and done.text.startswith(" and")
    assert server.disconnected.wait(2), "the server never saw the client go away"
    assert server.sent - sent_before < 200 and time.perf_counter() - start < 2
    assert remote.PIECES_NOTE in done.notes  # no usage came: the count is the pieces streamed


def test_stop_while_the_server_is_silent_ends_at_once(server):
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    start = time.perf_counter()
    _, (done,) = collect(remote.stream_remote(model(server, "silent", timeout_s=10), TextRequest("Once"), KEY, stop))
    assert done.stats.stop_reason == "stopped" and done.text == ""
    assert time.perf_counter() - start < 1.5  # not the server's 3 s, nor the 10 s timeout


@pytest.mark.parametrize("name, key, expected", [
    ("tiny", "sk-wrong", "refused the API key (401): set STUDIO_OPENAI_API_KEY"),
    ("missing", KEY, "has no model 'missing' (404)"),
    ("silent", KEY, "did not answer within 0.3 s"),
])
def test_errors_are_one_sentence_and_never_show_the_key(server, name, key, expected):
    with pytest.raises(StudioError) as err:
        collect(remote.stream_remote(model(server, name, timeout_s=0.3), TextRequest("Once"), key))
    assert expected in str(err.value) and server.url in str(err.value)
    assert key not in str(err.value) and "\n" not in str(err.value)


def test_an_unreachable_server_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    expected = f"Could not reach the OpenAI-compatible server at http://127.0.0.1:{port}/v1: check"
    with pytest.raises(StudioError, match=expected):
        collect(remote.stream_remote(remote.RemoteModel(f"http://127.0.0.1:{port}/v1/", "m"), TextRequest("x"), KEY))


def test_visitors_choose_only_servers_the_operator_allows(monkeypatch):
    monkeypatch.delenv(remote.ENV_BACKENDS, raising=False)
    with pytest.raises(StudioError, match="does not use other OpenAI-compatible servers.*STUDIO_OPENAI_BACKENDS"):
        remote.choose_backend("http://127.0.0.1:9/v1", "m")
    monkeypatch.setenv(remote.ENV_BACKENDS, "http://Models.Example:8000/v1/, https://api.example.com/v1")
    assert remote.allowed_backends() == ("http://models.example:8000/v1", "https://api.example.com/v1")
    assert remote.choose_backend("http://models.example:8000/v1", "llama").base_url == "http://models.example:8000/v1"
    for url in ("http://169.254.169.254/latest", "file:///etc/passwd", "http://models.example:8000/v1/../admin",
                "http://[::1", None):
        with pytest.raises(StudioError, match="not one of the servers this studio allows"):
            remote.choose_backend(url, "llama")
    with pytest.raises(StudioError, match="model name"):
        remote.choose_backend("https://api.example.com/v1", "  ")
    monkeypatch.setenv(remote.ENV_TIMEOUT, "nan")
    with pytest.raises(StudioError, match="STUDIO_OPENAI_TIMEOUT_S"):
        remote.choose_backend("https://api.example.com/v1", "llama")


def test_the_task_streams_previews_and_records_the_backend_but_never_the_key(server, tmp_path):
    run = FakeRun(Settings(outputs_dir=tmp_path / "mine"))
    job = remote.RemoteTextJob(model(server), TextRequest("Once", max_new_tokens=20), api_key=KEY)
    assert KEY not in repr(job) and pickle.loads(pickle.dumps(job)).api_key == KEY  # crosses to the worker
    result = tasks.generate_remote(job, run)
    previews = [e.preview for e in run.events if isinstance(e, ProgressEvent) and e.preview is not None]
    assert "".join(p.chunks.get(0, "") for p in previews) == result.sequences[0].text == "".join(WORDS)
    assert sum(len(p.done) for p in previews) == 1 and isinstance(previews[-1].done[0], SequenceDone)
    assert result.model == f"tiny at {server.url}" and result.text_path.is_relative_to(tmp_path / "mine" / "text")
    record = json.loads(result.record_path.read_text())
    assert record["model"] == {"backend": "openai-compatible", "base_url": server.url, "model": "tiny"}
    for path in result.record_path.parent.iterdir():
        assert KEY not in path.read_text()
    assert server.auth_seen[-1] == f"Bearer {KEY}"


def test_the_task_reads_the_key_from_the_environment_when_the_job_has_none(server, tmp_path, monkeypatch):
    monkeypatch.setenv(remote.ENV_KEY, KEY)
    run = FakeRun(Settings(outputs_dir=tmp_path))
    result = tasks.generate_remote(remote.RemoteTextJob(model(server), TextRequest("Once", max_new_tokens=2)), run)
    assert result.sequences[0].text == "Once upon"


def test_the_backend_choice_lists_only_the_operators_servers(monkeypatch):
    from studio.ui.text import backend_choices, backend_info

    monkeypatch.delenv(remote.ENV_BACKENDS, raising=False)
    assert backend_choices() == ["local"] and "STUDIO_OPENAI_BACKENDS" in backend_info(["local"])
    monkeypatch.setenv(remote.ENV_BACKENDS, "http://a.example/v1,http://a.example/v1/")
    assert backend_choices() == ["local", "http://a.example/v1"]
    monkeypatch.setenv(remote.ENV_BACKENDS, "ftp://nope")  # a broken list offers nothing, and the page still loads
    assert backend_choices() == ["local"]
