"""The Image form: each field declared once, and the tab's controls, the CLI's flags and `ImageRequest`'s checks
all read that one declaration (a default or a range changed in form.py changes all three)."""

import argparse
import dataclasses

import pytest

from studio.errors import ConfigError
from studio.image import cli
from studio.image.form import FIELDS, FORM_FIELDS, REFILL_FIELDS, form_values, parse_form
from studio.image.request import ImageRequest, LoraChoice

PRESETS = ("embedded/image-shapes", "stabilityai/stable-diffusion-xl-base-1.0")


def test_the_request_the_cli_and_the_form_share_every_default():
    request = ImageRequest(prompt="")
    args = _parser().parse_args(["--prompt", "x"])
    for field in FIELDS.values():
        if field.key in {f.name for f in dataclasses.fields(ImageRequest)} and field.name not in ("prompt", "loras"):
            assert getattr(request, field.key) == field.default, field.name
        if field.cli and field.name != "prompt":
            assert getattr(args, field.key) == field.default, field.name
    assert parse_form({}) == (ImageRequest(FIELDS["prompt"].default), 0)  # an empty form is the defaults


def _parser():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser


def test_a_range_is_written_once(monkeypatch):
    """Narrow steps in the declaration: the request, the form and the CLI's help all follow."""
    monkeypatch.setitem(FIELDS, "steps", dataclasses.replace(FIELDS["steps"], high=10))
    with pytest.raises(ConfigError, match="from 1 to 10"):
        ImageRequest("a", steps=11)
    with pytest.raises(ConfigError, match="^steps:"):
        parse_form({"steps": 11})
    assert "from 1 to 10" in _parser().format_help().replace("\n", " ").replace("  ", " ")


@pytest.mark.parametrize("field", ["guidance", "strength", "refiner_fraction", "refiner_strength", "steps", "seed"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "7", True])
def test_the_form_refuses_nan_inf_and_non_numbers_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        parse_form({field: value})


def test_form_values_from_gradio_become_typed_request_fields():
    request, preview = parse_form({"steps": 3.0, "width": 64.0, "seed": -1.0, "guidance": 7, "preview_every": 2.0,
                                   "custom_model": " owner/name ", "loras": "style=0.5", "negative": None})
    assert (request.steps, request.width, request.seed, request.guidance, preview) == (3, 64, -1, 7.0, 2)
    assert isinstance(request.steps, int) and isinstance(request.guidance, float)
    assert request.model == "owner/name" and request.loras == (LoraChoice("style", 0.5),)
    assert request.init_image is None and request.negative_prompt == ""
    with pytest.raises(ConfigError, match="^steps: 2.5"):
        parse_form({"steps": 2.5})
    with pytest.raises(ConfigError, match="^preview_every:"):
        parse_form({"preview_every": 21})


def test_the_png_refill_shows_the_request_again():
    request = ImageRequest("a cat", negative_prompt="dog", model="owner/name", steps=7, seed=9,
                           loras=(LoraChoice("style", 0.7),))
    values = form_values(request, PRESETS)
    assert tuple(values) == REFILL_FIELDS and REFILL_FIELDS == tuple(n for n in FORM_FIELDS
                                                                     if n not in ("init_image", "preview_every"))
    assert (values["model"], values["custom_model"], values["loras"]) == ("embedded/image-shapes", "owner/name",
                                                                          "style=0.7")
    assert parse_form(values)[0] == request


def test_the_tabs_controls_come_from_the_declaration():
    import gradio as gr

    from studio.ui.common import control

    with gr.Blocks():
        fraction, steps, scheduler = (control(FIELDS[name], precision=0) if name == "steps" else control(FIELDS[name])
                                      for name in ("refiner_fraction", "steps", "scheduler"))
    field = FIELDS["refiner_fraction"]
    assert (fraction.minimum, fraction.maximum, fraction.value) == (0.05, 0.95, field.default)  # inside (0, 1)
    assert (fraction.label, fraction.info) == (field.label, field.help)
    assert steps.precision == 0 and steps.value == 20 and "from 1 to 150" in steps.info
    assert steps.minimum is None  # Gradio's own bound message would not name the field: ImageRequest's does
    assert [c[0] for c in scheduler.choices] == list(FIELDS["scheduler"].choices)


def test_nan_is_told_the_range_and_a_size_its_multiple():
    with pytest.raises(ConfigError, match=r"^guidance: nan is not valid; use a number from 0 to 30\.$"):
        parse_form({"guidance": float("nan")})
    with pytest.raises(ConfigError, match=r"^width: 60 is not valid; use a multiple of 8 \(the VAE works on 8x8 "
                                          r"blocks\), e\.g\. 56 or 64\.$"):
        ImageRequest("a", width=60)
    with pytest.raises(ConfigError, match=r"^init_image: '' is not valid; img2img needs a start image"):
        parse_form({"mode": "img2img", "init_image": None})
    with pytest.raises(ConfigError, match="^mode: None is not valid"):
        parse_form({"mode": None})

