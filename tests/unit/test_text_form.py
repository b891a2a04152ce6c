"""The Text form: each field declared once, and the tab's controls, the CLI's flags and `TextRequest`'s checks all
read that one declaration (a default or a range changed in form.py changes all three, with the same wording)."""

import argparse
import dataclasses

import pytest

from studio.__main__ import main
from studio.errors import ConfigError
from studio.text import cli
from studio.text.form import FIELDS, FORM_FIELDS, LOCAL, NUMBERS, parse_form
from studio.text.request import TextRequest


def _parser():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser


def _cli_refusal(capsys, *argv) -> str:
    assert main(["text", *argv]) == 2
    return capsys.readouterr().err.strip().removeprefix("error: ")


def test_every_default_is_valid_and_the_request_the_cli_and_the_form_share_them():
    form, args = parse_form({}), _parser().parse_args([])
    request = TextRequest(FIELDS["prompt"].default, system_prompt=FIELDS["system_prompt"].default)
    assert form.request == request  # an empty form (an API call naming nothing) is the defaults, and they pass
    assert (form.model, form.precision, form.quant_type, form.double_quant, form.backend, form.local) == \
        ("embedded/text-tiny", "full", "nf4", True, LOCAL, True)
    request_defaults = {f.name: f.default for f in dataclasses.fields(TextRequest)}
    for name in NUMBERS + ("greedy", "chat", "ignore_eos"):
        assert request_defaults[name] == FIELDS[name].default, name
    for field in cli.flagged():
        expected = [] if field.name == "stop_text" else field.default  # --stop is repeated, one sequence each
        assert getattr(args, field.name) == expected, field.name
    assert set(FIELDS) - {f.name for f in cli.flagged()} == {"custom_model"}
    assert set(FORM_FIELDS) - set(FIELDS) == {"history"}  # the chat so far: the chatbot, not a setting


def test_the_only_request_default_that_differs_is_the_system_prompt():
    """The form offers a system prompt; an engine request (the OpenAI API, a test) has none unless it names one."""
    assert TextRequest("hi", chat=True).messages() == [{"role": "user", "content": "hi"}]
    assert parse_form({"chat": True}).request.messages()[0] == {"role": "system",
                                                                "content": FIELDS["system_prompt"].default}


def test_a_range_is_written_once(monkeypatch, capsys):
    """Narrow top_k in the declaration: the request, the form, the CLI and the tab's slider all follow."""
    import gradio as gr

    from studio.ui.common import control

    monkeypatch.setitem(FIELDS, "top_k", dataclasses.replace(FIELDS["top_k"], high=20))
    expected = "top_k: 21 is not valid; use a whole number from 0 to 20 (0 turns top-k off)."
    with pytest.raises(ConfigError) as from_request:
        TextRequest("hi", top_k=21)
    with pytest.raises(ConfigError) as from_form:
        parse_form({"top_k": 21.0})
    assert str(from_request.value) == str(from_form.value) == expected
    assert _cli_refusal(capsys, "--top-k", "21") == expected
    assert "from 0 to 20" in " ".join(_parser().format_help().split())
    with gr.Blocks():
        slider = control(FIELDS["top_k"])
    assert (slider.minimum, slider.maximum) == (0, 20)


@pytest.mark.parametrize("flag, field, value, range_text", [
    ("--max-new-tokens", "max_new_tokens", "0", "a whole number from 1 to 4096"),
    ("--temperature", "temperature", "2.5", "a number from 0 to 2 (0 means greedy decoding)"),
    ("--top-p", "top_p", "0", "a number above 0 and at most 1 (1 turns top-p off)"),
    ("--repetition-penalty", "repetition_penalty", "0", "a number from 0.5 to 2 (1 means none)"),
    ("--num-sequences", "num_sequences", "9", "a whole number from 1 to 8"),
    ("--seed", "seed", "-3", "a whole number from 0 to 4294967295"),
])
def test_a_refused_value_reads_the_same_from_the_cli_the_form_and_the_request(capsys, flag, field, value, range_text):
    number = float(value) if "." in value or field in ("temperature", "top_p", "repetition_penalty") else int(value)
    with pytest.raises(ConfigError) as from_request:
        TextRequest("hi", **{field: number})
    with pytest.raises(ConfigError) as from_form:
        parse_form({field: number})
    message = str(from_request.value)
    assert message == str(from_form.value) == _cli_refusal(capsys, flag, value)
    assert message.startswith(f"{field}: ") and range_text in message


@pytest.mark.parametrize("field", NUMBERS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "7", True])
def test_the_form_refuses_nan_inf_and_non_numbers_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        parse_form({field: value})


def test_the_cli_keeps_its_flags():
    args = _parser().parse_args(["--prompt", "hi", "--system", "Be brief.", "--chat", "--greedy", "--stop", "\n",
                                 "--stop", "END", "--quant-type", "fp4", "--precision", "4bit", "--top-k", "7",
                                 "--openai-base-url", "http://host:8000/v1", "--openai-model", "m"])
    form = parse_form({f.name: getattr(args, f.name) for f in cli.flagged()})
    request = form.request
    assert (request.prompt, request.system_prompt, request.chat, request.greedy, request.top_k) == \
        ("hi", "Be brief.", True, True, 7)
    assert request.stop_sequences == ("\n", "END")  # each --stop as typed, not split into lines
    assert (form.quant_type, form.precision, form.backend, form.backend_model, form.local) == \
        ("fp4", "4bit", "http://host:8000/v1", "m", False)
    for bad in (["--precision", "3bit"], ["--quant-type", "int4"], ["--trust-remote-code"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(bad)


def test_form_values_from_gradio_become_typed_request_fields():
    form = parse_form({"prompt": "and now?", "chat": True, "max_new_tokens": 64.0, "num_sequences": 2.0,
                       "top_k": 10.0, "seed": 7.0, "temperature": 1, "custom_model": " owner/name ",
                       "stop_text": "END\n\\n\\n\n", "backend": None,
                       "history": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                                   {"role": "assistant", "content": "hello"}, "not a message"]})
    request = form.request
    assert (request.max_new_tokens, request.num_sequences, request.top_k, request.seed) == (64, 2, 10, 7)
    assert all(isinstance(getattr(request, n), int) for n in ("max_new_tokens", "num_sequences", "top_k", "seed"))
    assert isinstance(request.temperature, float)
    assert request.history == ({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"})
    assert request.stop_sequences == ("END", "\n\n")
    assert form.model == "owner/name" and form.local  # an empty backend is this studio's own model
    assert parse_form({"history": [{"role": "user", "content": "hi"}]}).request.history == ()  # not in chat mode
    with pytest.raises(ConfigError, match="^history:"):
        parse_form({"chat": True, "history": [{"role": "robot", "content": "x"}]})


@pytest.mark.parametrize("values, starts", [
    ({"prompt": None}, "prompt: '' is not valid; write a prompt first"),
    ({"model": "", "custom_model": " "}, "model: '' is not valid; pick a preset or type a hub id"),
    ({"precision": "3bit"}, "precision: '3bit' is not valid; choose one of full, fp16, bf16, 8bit, 4bit"),
    ({"quant_type": "int4"}, "quant_type: 'int4' is not valid; choose one of nf4, fp4"),
    ({"backend_model": 5}, "backend_model: 5 is not valid; use text"),
])
def test_other_fields_are_refused_naming_them(values, starts):
    with pytest.raises(ConfigError) as err:
        parse_form(values)
    assert str(err.value).startswith(starts)


def test_the_load_request_carries_the_loading_fields_and_the_scope():
    load = parse_form({"custom_model": "owner/name", "precision": "8bit", "double_quant": False}).load(any_path=True)
    assert (load.name, load.precision, load.quant_type, load.double_quant, load.any_path) == \
        ("owner/name", "8bit", "nf4", False, True)


def test_the_tabs_controls_come_from_the_declaration():
    import gradio as gr

    from studio.ui.common import control

    with gr.Blocks():
        controls = {name: control(field, **({"choices": [field.default]} if field.ui in ("choice", "model") else {}))
                    for name, field in FIELDS.items()}
    for name, component in controls.items():
        field = FIELDS[name]
        assert component.label == field.label and component.value == field.default, name
        if field.ui == "slider":
            assert (component.minimum, component.maximum, component.step) == \
                (field.low + field.step * field.open_low, field.high, field.step), name
        elif field.ui == "number":
            assert field.range_text() in component.info
        elif field.ui == "radio":
            assert [c[1] for c in component.choices] == list(field.choices)


def test_another_server_hides_what_applies_to_this_studios_model_only():
    from studio.text.form import LOCAL_ONLY
    from studio.ui.text import backend_fields

    assert set(LOCAL_ONLY) <= set(FIELDS)
    names = ["backend_model", "card", *LOCAL_ONLY]
    local = dict(zip(names, backend_fields(LOCAL, locked=False)))
    remote = dict(zip(names, backend_fields("http://host:8000/v1", locked=False)))
    assert local == {n: n != "backend_model" for n in names} and remote == {n: n == "backend_model" for n in names}
    assert dict(zip(names, backend_fields("", locked=False))) == local  # an empty choice is this studio's model
    locked = dict(zip(names, backend_fields(LOCAL, locked=True)))
    assert not locked["custom_model"] and locked["model"]  # a locked studio never shows the typed-id box again
