"""The Text tab through gradio_client: streaming partials, the first one fast, clear errors, Stop."""

import threading
import time

import pytest

API = "/text_generate"


def first_and_count(client, **kwargs):
    start = time.perf_counter()
    job = client.submit(**kwargs, api_name=API)
    first, answers = None, []
    for answer, _chat, _stats, _file in job:
        if answer and first is None:
            first = time.perf_counter() - start
        answers.append(answer)
    return first, answers, job.outputs()[-1]


@pytest.mark.slow
def test_streams_many_partials_and_the_first_within_half_a_second(client):
    client.predict(prompt="Once", max_new_tokens=2, api_name=API)  # loads the embedded model once
    first, answers, final = first_and_count(client, prompt="Once upon a time", max_new_tokens=200, seed=1,
                                            ignore_eos=True)
    assert first is not None and first < 0.5, f"first partial after {first:.2f} s"
    assert len({a for a in answers if a}) >= 10, len(answers)
    answer, _chat, stats, file = final
    assert answer == answers[-1] and "there was" in answer
    assert "tokens/s" in stats and "TTFT" in stats and "stop:" in stats
    assert file and file.endswith("answer.txt")


def test_chat_mode_answers_in_the_chatbot(client):
    answer, chat, stats, _ = client.predict(prompt="What is the capital of Italy?", chat=True, greedy=True,
                                            api_name=API)
    assert answer == "The capital of Italy is Rome."
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "end of text" in stats


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(prompt=""), "write a prompt"),
        (dict(prompt="hi", max_new_tokens=0), "0"),
        (dict(prompt="hi", max_new_tokens=100000), "100000"),
        (dict(prompt="hi", temperature=-1), "-1"),
        (dict(prompt="hi", custom_model="studio-tests/no-such-model"), "studio-tests/no-such-model"),
        (dict(prompt="hi", custom_model="meta-llama/Llama-2-7b-hf"), "HF_TOKEN"),
        (dict(prompt="hi", custom_model="/"), "not a model"),
    ],
)
def test_bad_input_gives_a_clear_message_and_the_model_stays_usable(client, kwargs, expected):
    with pytest.raises(Exception) as err:
        client.predict(**kwargs, api_name=API)
    assert expected in str(err.value)
    answer, *_ = client.predict(prompt="What is the capital of Peru?", chat=True, greedy=True, api_name=API)
    assert answer == "The capital of Peru is Lima."


@pytest.mark.slow
def test_stop_ends_only_this_sessions_generation(client, studio_url):
    from gradio_client import Client

    other = Client(studio_url, verbose=False)
    job = client.submit(prompt="Once upon a time", max_new_tokens=4000, ignore_eos=True, seed=2, api_name=API)
    for answer, *_ in job:
        if answer and len(answer) > 20:
            break
    other.predict(api_name="/text_stop")  # another session's Stop must not touch this one
    time.sleep(0.3)
    assert not job.done()
    start = time.perf_counter()
    client.predict(api_name="/text_stop")
    while not job.done() and time.perf_counter() - start < 5:
        time.sleep(0.05)
    assert job.done(), "generation still running 5 s after Stop"
    answer, _chat, stats, _file = job.outputs()[-1]
    assert len(answer) > 20 and "stop: stopped" in stats  # Stop keeps what was made
    assert not [t for t in threading.enumerate() if t.name.startswith("text-generate") and t.is_alive()]
