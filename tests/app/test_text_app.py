"""The Text tab through gradio_client: answers from the text worker, the operator's limits named, Stop per visitor,
no remote-code parameter, and fine-tuned models that belong to one visitor only."""

import json
import secrets
import shutil
import time

import pytest

from studio.embedded import EMBEDDED_DIR
from studio.ownership import owner_outputs

API = "/text_generate"


def visitor(studio_url):
    """A client with its own visitor cookie, so the test knows which folder is its own."""
    from gradio_client import Client

    key = secrets.token_hex(16)
    return Client(studio_url, verbose=False, httpx_kwargs={"cookies": {"studio_visitor": key}}), f"visitor:{key}"


def text_of(chat_message) -> str:
    content = chat_message["content"]
    return "".join(p.get("text", "") for p in content) if isinstance(content, list) else content


def stream(client, **kwargs):
    start = time.perf_counter()
    job = client.submit(**kwargs, api_name=API)
    first, answers = None, []
    for answer, *_ in job:
        if isinstance(answer, str) and answer and first is None:
            first = time.perf_counter() - start
        answers.append(answer)
    return first, answers, job.outputs()[-1]


@pytest.mark.slow
def test_streams_many_partials_and_the_first_one_fast(client):
    client.predict(prompt="Once", max_new_tokens=2, api_name=API)  # the worker has the embedded model loaded
    first, answers, final = stream(client, prompt="Once upon a time", max_new_tokens=200, seed=1, ignore_eos=True,
                                   num_sequences=2)
    assert first is not None and first < 1.0, f"first partial after {first:.2f} s"
    assert len({a for a in answers if isinstance(a, str) and a}) >= 5, len(answers)
    answer, _chat, stats, file = final
    assert "there was" in answer
    assert "TTFT" in stats and "from the click" in stats and "in the model" in stats and "stop:" in stats
    assert file and file.endswith("answer.txt")


def test_chat_mode_answers_in_the_chatbot_and_keeps_the_history(client):
    answer, chat, stats, _ = client.predict(prompt="What is the capital of Italy?", chat=True, greedy=True,
                                            api_name=API)
    assert answer == "The capital of Italy is Rome."
    assert [m["role"] for m in chat] == ["user", "assistant"] and text_of(chat[1]) == answer
    assert "end of text" in stats
    answer, chat, *_ = client.predict(prompt="What is the capital of Peru?", chat=True, greedy=True,
                                      history=chat, api_name=API)
    assert [m["role"] for m in chat] == ["user", "assistant"] * 2 and answer == "The capital of Peru is Lima."


def test_examples_are_answered_right_by_the_embedded_model(client):
    from studio.ui.text import EXAMPLES

    for prompt, chat, greedy, stop in EXAMPLES:
        answer, *_ = client.predict(prompt=prompt, chat=chat, greedy=greedy, stop_text=stop, max_new_tokens=60,
                                    api_name=API)
        if prompt.startswith("Q: 12+7"):
            assert answer.strip() == "19"
        elif "capital of France" in prompt:
            assert answer == "The capital of France is Paris."
        else:
            assert answer.count(".") >= 2, answer


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(prompt=""), "write a prompt"),
        (dict(prompt="hi", max_new_tokens=0), "0"),
        (dict(prompt="hi", max_new_tokens=2000), "limit of 1024 new tokens (STUDIO_MAX_NEW_TOKENS)"),
        (dict(prompt="hi", top_p=1.5), "1.5"),
        (dict(prompt="hi", custom_model="studio-tests/no-such-model"), "studio-tests/no-such-model"),
        (dict(prompt="hi", custom_model="meta-llama/Llama-2-7b-hf"), "HF_TOKEN"),
        (dict(prompt="hi", custom_model="/"), "not a model this studio offers"),
        (dict(prompt="hi", custom_model="../../etc"), "not a model this studio offers"),
        (dict(prompt="x" * 200_000), "4096 prompt tokens (STUDIO_MAX_PROMPT_TOKENS)"),
    ],
)
def test_bad_input_gives_a_clear_message_and_the_model_stays_usable(client, kwargs, expected):
    with pytest.raises(Exception) as err:
        client.predict(**kwargs, api_name=API)
    assert expected in str(err.value)
    answer, *_ = client.predict(prompt="What is the capital of Peru?", chat=True, greedy=True, api_name=API)
    assert answer == "The capital of Peru is Lima."


def test_a_prompt_over_the_token_limit_is_refused_by_the_worker_naming_the_limit(client):
    start = time.perf_counter()
    with pytest.raises(Exception) as err:
        client.predict(prompt="Once upon a time " * 1500, max_new_tokens=4, api_name=API)
    assert "limit of 4096 prompt tokens (STUDIO_MAX_PROMPT_TOKENS)" in str(err.value)
    assert time.perf_counter() - start < 10


def test_remote_code_is_not_an_api_parameter(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"][API]
    names = {p["parameter_name"] for p in endpoint["parameters"]}
    assert "prompt" in names and "max_new_tokens" in names
    assert not {n for n in names if "remote" in n or "trust" in n}
    with pytest.raises(Exception):
        client.predict(prompt="hi", trust_remote_code=True, api_name=API)


def test_the_api_takes_its_parameters_and_defaults_from_the_form(client):
    """The public parameters are the form's names in its order, each defaulting to the form's declaration."""
    from studio.text.form import FIELDS, FORM_FIELDS

    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"][API]
    defaults = {p["parameter_name"]: p["parameter_default"] for p in endpoint["parameters"]}
    assert list(defaults) == list(FORM_FIELDS)
    assert {n: defaults[n] for n in FIELDS} == {n: f.default for n, f in FIELDS.items()}


def test_a_refused_number_reads_as_the_request_words_it(client):
    from studio.errors import ConfigError
    from studio.text.request import TextRequest

    with pytest.raises(ConfigError) as expected:
        TextRequest("hi", seed=-3)
    with pytest.raises(Exception) as err:
        client.predict(prompt="hi", seed=-3, api_name=API)
    assert str(expected.value) in str(err.value)  # "seed: -3 is not valid; use a whole number from 0 to ..."


def test_a_fine_tuned_model_is_listed_and_loadable_for_its_owner_only(studio_url, studio_settings):
    from studio.ui.text import model_choices

    owner, owner_key = visitor(studio_url)
    stranger, stranger_key = visitor(studio_url)
    run = owner_outputs(studio_settings.outputs_dir, owner_key) / "finetune" / "20260101-000000-run"
    shutil.copytree(EMBEDDED_DIR / "text-tiny", run / "final")  # a fully trained run's model folder
    (run / "record.json").write_text(json.dumps({"kind": "finetune"}))
    final = str(run / "final")

    assert final in [v for _, v in model_choices(owner_outputs(studio_settings.outputs_dir, owner_key))]
    assert final not in [v for _, v in model_choices(owner_outputs(studio_settings.outputs_dir, stranger_key))]
    answer, *_ = owner.predict(prompt="Q: 12+7= A:", model=final, greedy=True, max_new_tokens=3, api_name=API)
    assert answer.strip().startswith("19")
    for field in ("model", "custom_model"):
        with pytest.raises(Exception) as err:
            stranger.predict(prompt="Q: 12+7= A:", **{field: final}, max_new_tokens=3, api_name=API)
        assert "not a model this studio offers" in str(err.value)


@pytest.mark.slow
def test_one_visitors_stop_does_not_stop_anothers_answer(studio_url):
    one, _ = visitor(studio_url)
    other, _ = visitor(studio_url)
    one.predict(prompt="Once", max_new_tokens=2, api_name=API)
    job = one.submit(prompt="Once upon a time", max_new_tokens=240, num_sequences=4, ignore_eos=True, seed=2,
                     api_name=API)
    for answer, *_ in job:
        if isinstance(answer, str) and len(answer) > 20:
            break
    other.predict(api_name="/text_stop")  # another visitor's Stop must not touch this answer
    time.sleep(0.5)
    assert not job.done(), "another visitor's Stop ended this answer"
    start = time.perf_counter()
    one.predict(api_name="/text_stop")
    while not job.done() and time.perf_counter() - start < 5:
        time.sleep(0.05)
    assert job.done(), "generation still running 5 s after Stop"
    answer, _chat, stats, _file = job.outputs()[-1]
    assert len(answer) > 20 and "stop: stopped" in stats  # Stop keeps what was made
    # the other visitor's next answer is unaffected and the worker is free again
    assert other.predict(prompt="Q: 12+7= A:", greedy=True, stop_text="\\n", api_name=API)[0].strip() == "19"
