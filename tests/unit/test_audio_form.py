"""The Audio form: each field declared once, and the tab's controls, the CLI's flags and `AudioRequest`'s checks
all read that one declaration (a default or a range changed in form.py changes all three)."""

import argparse
import dataclasses

import pytest

from studio.audio import cli
from studio.audio.form import FIELDS, FORM_FIELDS, parse_form
from studio.audio.request import AudioRequest
from studio.errors import ConfigError


def _parser():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser


def test_the_request_the_cli_and_the_form_share_every_default():
    request, args = AudioRequest(), _parser().parse_args([])
    request_fields = {f.name for f in dataclasses.fields(AudioRequest)}
    for field in FIELDS.values():
        if field.name in request_fields and field.name not in ("clip", "clip_use"):
            assert getattr(request, field.name) == field.default, field.name
        if field.cli:
            assert getattr(args, field.name) == field.default, field.name
    assert parse_form({}) == request  # an empty form (an API call naming nothing) is the defaults
    assert set(FORM_FIELDS) - {f.name for f in cli.flagged()} == {"custom_model"}


def test_a_range_is_written_once(monkeypatch):
    """Narrow seconds in the declaration: the request, the form and the CLI's help all follow."""
    monkeypatch.setitem(FIELDS, "seconds", dataclasses.replace(FIELDS["seconds"], high=12))
    with pytest.raises(ConfigError, match="above 0 and at most 12"):
        AudioRequest(seconds=13)
    with pytest.raises(ConfigError, match="^seconds:"):
        parse_form({"seconds": 13})
    assert "above 0 and at most 12" in " ".join(_parser().format_help().split())


def test_the_cli_keeps_its_short_window_flags():
    args = _parser().parse_args(["--window", "12", "--overlap", "3", "--top-k", "7", "--clip-use", "melody"])
    assert (args.window_seconds, args.overlap_seconds, args.top_k, args.clip_use) == (12.0, 3.0, 7, "melody")
    with pytest.raises(SystemExit):
        _parser().parse_args(["--clip-use", "remix"])


NUMBERS = [n for n, f in FIELDS.items() if f.number]


@pytest.mark.parametrize("field", NUMBERS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "7", True])
def test_the_form_refuses_nan_inf_and_non_numbers_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        parse_form({field: value})


def test_form_values_from_gradio_become_typed_request_fields():
    request = parse_form({"seconds": 3, "seed": -1.0, "samples": 2.0, "top_k": 0.0, "guidance": 1,
                          "custom_model": " owner/name ", "prompt": None, "clip_use": "melody"})
    assert (request.seconds, request.seed, request.samples, request.top_k, request.guidance) == (3.0, -1, 2, 0, 1.0)
    assert isinstance(request.samples, int) and isinstance(request.seconds, float)
    assert request.model == "owner/name" and request.prompt == ""
    assert (request.clip, request.clip_use) == (None, "none")  # the radio's choice waits for an upload
    assert parse_form({"clip": "/uploads/x.wav", "seconds": 3.0}).clip_use == "continue"
    with pytest.raises(ConfigError, match="^samples: 2.5"):
        parse_form({"samples": 2.5})
    with pytest.raises(ConfigError, match="^clip_use:"):
        parse_form({"clip": "/uploads/x.wav", "clip_use": "remix"})


def test_the_tabs_controls_come_from_the_declaration():
    import gradio as gr

    from studio.ui.common import control

    with gr.Blocks():
        controls = {name: control(FIELDS[name], **({"choices": [FIELDS[name].default]} if name == "model" else {}))
                    for name in FORM_FIELDS}
    for name, component in controls.items():
        field = FIELDS[name]
        assert component.label.startswith(field.label), name
        if field.ui == "slider":
            assert (component.minimum, component.maximum, component.value) == \
                (field.low + field.step * field.open_low, field.high, field.default)
            assert field.help[:-1] in component.info and (not field.note or field.note in component.info)
        elif field.ui == "number":  # the range is in the help; AudioRequest refuses with the field named
            assert component.value == field.default and field.range_text() in component.info
            assert component.minimum is None and component.maximum is None and component.precision is None
        elif field.ui == "radio":
            assert [c[1] for c in component.choices] == list(field.choices) and component.value == field.default
        elif field.ui == "file":
            assert field.help[:-1] in component.label
        else:
            assert component.info == field.help


def test_an_empty_clip_use_with_a_clip_is_refused_as_before():
    with pytest.raises(ConfigError, match="^clip_use: '' is not valid"):
        parse_form({"clip": "/uploads/x.wav", "clip_use": None})


def test_nan_is_told_to_be_a_finite_number():
    with pytest.raises(ConfigError, match=r"^guidance: nan is not valid; use a finite number: a number from 1 to 10 "
                                          r"\(1 turns guidance off\)\.$"):
        parse_form({"guidance": float("nan")})
