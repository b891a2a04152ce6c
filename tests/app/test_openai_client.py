"""One studio serves /v1 with an API key; a second studio's Text tab uses it as its model through the openai client.

Both are real launched apps with their own job registries and text workers. The key reaches the second
studio's worker in the job (read from STUDIO_OPENAI_API_KEY by the page at each click), so it works
whenever the fork server of this test process was started.
"""

import json
import secrets
import time

import pytest

from studio.ownership import owner_outputs
from studio.text import remote
from tests.app.conftest import free_port

KEY = "sk-served-to-the-text-tab"
API = "/text_generate"
MODEL = "embedded/text-tiny"


def launch(settings):
    from studio.ui.app import build_app, launch_kwargs

    demo = build_app(settings)
    _, url, _ = demo.launch(**launch_kwargs(settings, demo.studio) | dict(prevent_thread_lock=True, quiet=True))
    return demo, url.rstrip("/")


@pytest.fixture(scope="module")
def studios(tmp_path_factory):
    """(serving studio, its /v1 URL, the client studio's URL, the client studio's settings)."""
    from studio.settings import Settings

    serving, served_url = launch(Settings(outputs_dir=tmp_path_factory.mktemp("serving"), port=free_port(),
                                          api_key=KEY))
    env = pytest.MonkeyPatch()
    env.setenv(remote.ENV_BACKENDS, served_url + "/v1")
    env.setenv(remote.ENV_KEY, KEY)
    settings = Settings(outputs_dir=tmp_path_factory.mktemp("client"), port=free_port())
    client_side, client_url = launch(settings)
    yield serving.studio, served_url + "/v1", client_url, settings
    for demo in (client_side, serving):
        demo.close()
        demo.studio.close()
    env.undo()


@pytest.fixture()
def visitor(studios):
    from gradio_client import Client

    key = secrets.token_hex(16)
    return Client(studios[2], verbose=False, httpx_kwargs={"cookies": {"studio_visitor": key}}), f"visitor:{key}"


def remote_args(studios, **kwargs):
    return dict(backend=studios[1], backend_model=MODEL, api_name=API, **kwargs)


@pytest.mark.slow
def test_a_streamed_answer_from_the_other_studio_equals_the_local_one_and_is_recorded_without_the_key(
        studios, visitor):
    client, owner = visitor
    client.predict(**remote_args(studios, prompt="Once", max_new_tokens=2))  # the serving worker loads its model
    args = dict(prompt="Once upon a time", max_new_tokens=200, greedy=True, ignore_eos=True)
    local, *_ = client.predict(**args, api_name=API)
    job = client.submit(**remote_args(studios, **args))
    partials = [answer for answer, *_ in job if isinstance(answer, str) and answer]
    answer, _chat, stats, file = job.outputs()[-1]
    assert answer == local  # greedy: the same model gives the same text
    assert [p for p in partials if p != answer and answer.startswith(p)], partials  # it streamed
    assert "TTFT" in stats and "tokens/s" in stats and "200 tokens" in stats
    assert "stop: max tokens" in stats or "stop: end of text" in stats
    assert file and file.endswith("answer.txt")
    # Newest by time: folder names are random after the timestamp, so two answers in one second sort by chance.
    records = sorted((owner_outputs(studios[3].outputs_dir, owner) / "text").glob("*/record.json"),
                     key=lambda p: p.stat().st_mtime_ns)
    record = json.loads(records[-1].read_text())
    assert record["model"] == {"backend": "openai-compatible", "base_url": studios[1], "model": MODEL}
    assert KEY not in records[-1].read_text()

    assert [j for j in studios[0].jobs.jobs() if j["label"] == "api"], "the serving studio did the work"


def test_a_stop_sequence_ends_the_remote_answer(studios, visitor):
    answer, _chat, stats, _ = visitor[0].predict(**remote_args(studios, prompt="Once upon a time", greedy=True,
                                                               max_new_tokens=60, stop_text="."))
    assert answer and "." not in answer and "stop: end of text or stop sequence" in stats


@pytest.mark.slow
def test_stop_closes_the_stream_and_the_serving_studio_stops_generating(studios, visitor):
    client, _ = visitor
    serving = studios[0]
    job = client.submit(**remote_args(studios, prompt="Once upon a time", max_new_tokens=1000, ignore_eos=True))
    for answer, *_ in job:
        if isinstance(answer, str) and len(answer) > 20:
            break
    running = [j for j in serving.jobs.jobs() if j["label"] == "api" and j["state"] == "running"]
    assert len(running) == 1
    pressed = time.time()
    client.predict(api_name="/text_stop")
    while not job.done() and time.time() - pressed < 5:
        time.sleep(0.05)
    answer, _chat, stats, _ = job.outputs()[-1]
    assert len(answer) > 20 and "stop: stopped" in stats  # Stop keeps what came
    served = next(j for j in serving.jobs.jobs() if j["id"] == running[0]["id"])
    while served["state"] == "running" and time.time() - pressed < 3:
        time.sleep(0.05)
        served = next(j for j in serving.jobs.jobs() if j["id"] == running[0]["id"])
    assert served["state"] == "stopped", served
    assert served["ended"] - pressed < 2, f"the serving studio went on for {served['ended'] - pressed:.2f} s"


def test_a_wrong_key_is_one_clear_sentence(studios, visitor, monkeypatch):
    monkeypatch.setenv(remote.ENV_KEY, "sk-not-the-key")
    with pytest.raises(Exception) as err:
        visitor[0].predict(**remote_args(studios, prompt="Hi", max_new_tokens=4))
    assert f"The server at {studios[1]} refused the API key (401): set STUDIO_OPENAI_API_KEY" in str(err.value)
    assert "sk-not-the-key" not in str(err.value)


def test_visitors_cannot_make_the_studio_fetch_other_addresses(studios, visitor, monkeypatch):
    with pytest.raises(Exception, match="not one of the servers this studio allows"):
        visitor[0].predict(prompt="Hi", backend="http://169.254.169.254/latest", backend_model="x", api_name=API)
    monkeypatch.delenv(remote.ENV_BACKENDS)
    with pytest.raises(Exception, match="does not use other OpenAI-compatible servers"):
        visitor[0].predict(**remote_args(studios, prompt="Hi"))
