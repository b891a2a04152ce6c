"""The studio's OpenAI-compatible endpoints, driven by the official `openai` client."""

import time

import openai
import pytest

from tests.app.conftest import free_port

KEY = "sk-studio-test-key"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A studio with an API key; returns (base_url, studio)."""
    from studio.settings import Settings
    from studio.ui.app import build_app, launch_kwargs

    settings = Settings(outputs_dir=tmp_path_factory.mktemp("served"), port=free_port(), api_key=KEY,
                        max_jobs_per_visitor=8)  # one key is one visitor: eight clients at once
    demo = build_app(settings)
    _, url, _ = demo.launch(**launch_kwargs(settings, demo.studio) | dict(prevent_thread_lock=True, quiet=True))
    yield url.rstrip("/") + "/v1", demo.studio
    demo.close()
    demo.studio.close()


@pytest.fixture()
def client(served):
    return openai.OpenAI(base_url=served[0], api_key=KEY, max_retries=0, timeout=60)


def test_models_lists_the_embedded_model(client):
    assert "embedded/text-tiny" in [m.id for m in client.models.list()]


def test_a_wrong_key_is_refused_with_401(served):
    bad = openai.OpenAI(base_url=served[0], api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="embedded/text-tiny", messages=[{"role": "user", "content": "Hi"}])


def test_chat_completion_with_usage(client):
    reply = client.chat.completions.create(model="embedded/text-tiny", max_tokens=12, temperature=0,
                                           messages=[{"role": "user", "content": "Q: 12+7= A:"}])
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_gives_the_same_text_as_a_whole_answer(client):
    args = dict(model="embedded/text-tiny", prompt="Once upon a time", max_tokens=24, temperature=0)
    whole = client.completions.create(**args).choices[0].text
    parts = [c.choices[0].text for c in client.completions.create(stream=True, **args) if c.choices]
    assert len([p for p in parts if p]) > 1 and "".join(parts) == whole


def test_chat_stream_and_stop_sequence(client):
    stream = client.chat.completions.create(model="embedded/text-tiny", max_tokens=40, temperature=0, stream=True,
                                            stop=["."], messages=[{"role": "user", "content": "Tell me a story."}],
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "." not in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_closing_the_stream_stops_generation_on_the_server(client, served):
    studio = served[1]
    stream = client.completions.create(model="embedded/text-tiny", prompt="Once", max_tokens=1000, stream=True,
                                       extra_body={"ignore_eos": True})
    next(iter(stream))
    stream.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        jobs = [j for j in studio.jobs.jobs() if j["label"] == "api"]
        if jobs and jobs[0]["state"] != "running":
            break
        time.sleep(0.05)
    assert jobs[0]["state"] in ("stopped", "done")


def test_bad_fields_are_named(client):
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="embedded/text-tiny", messages=[{"role": "assistant", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="not a model this studio offers"):
        client.chat.completions.create(model="/etc", messages=[{"role": "user", "content": "x"}])


def test_a_cut_answer_finishes_with_length(client):
    reply = client.completions.create(model="embedded/text-tiny", prompt="Once", max_tokens=3, temperature=0,
                                      extra_body={"ignore_eos": True})
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 3


def test_concurrent_clients_are_served_in_one_batch(served, client):
    """Eight clients at once: each gets its own full answer, and the records say they shared a batch."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    studio = served[1]
    before = set(studio.settings.outputs_dir.rglob("record.json"))
    prompts = [f"Once upon a time {i}" for i in range(8)]

    def ask(prompt):
        return client.completions.create(model="embedded/text-tiny", prompt=prompt, max_tokens=40, temperature=0,
                                         extra_body={"ignore_eos": True})

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, prompts))
    assert all(r.usage.completion_tokens == 40 and r.choices[0].text for r in replies)
    records = [json.loads(p.read_text()) for p in set(studio.settings.outputs_dir.rglob("record.json")) - before]
    assert len(records) == 8 and max(r["batch"] for r in records) >= 4
    alone = client.completions.create(model="embedded/text-tiny", prompt=prompts[3], max_tokens=40, temperature=0,
                                      extra_body={"ignore_eos": True})
    assert alone.choices[0].text == replies[3].choices[0].text  # greedy: the batch changed nothing
