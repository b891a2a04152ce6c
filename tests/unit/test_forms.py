"""The one `Field` every modality's form declares its fields with: parsing, checks, range and help texts."""

import pytest

from studio.errors import ConfigError
from studio.forms import MAX_TEXT_CHARS, Field, chosen_model, parse_values

SEED = Field("seed", 0, "The seed.", "number", "Seed", low=-1, high=100, whole=True, note="-1 picks one at random")
SIZE = Field("width", 0, "Pixels.", "number", "Width", low=32, high=2048, whole=True, zero="the model's own size",
             multiple=8, multiple_why="blocks of 8", attr="image_width", flag="w")
SHARE = Field("share", 0.5, "The share.", "slider", "Share", low=0, high=1, open_low=True, open_high=True)
MODE = Field("mode", "a", "The mode.", "radio", "Mode", choices=("a", "b"))


def test_range_texts_say_each_kind_of_range():
    assert SEED.range_text() == "a whole number from -1 to 100"
    assert SIZE.range_text() == "a whole number between 32 and 2048, or 0 for the model's own size"
    assert SHARE.range_text() == "a number between 0 and 1, e.g. 0.5"
    assert Field("t", 1.0, "T.", "number", "T", low=0, high=2, open_low=True).range_text() == \
        "a number above 0 and at most 2"
    assert MODE.range_text() == ""


def test_help_texts_carry_the_range_and_the_note():
    assert SEED.help_text() == "The seed (-1 picks one at random)."
    assert SEED.help_text(with_range=True) == "The seed (a whole number from -1 to 100; -1 picks one at random)."
    assert SEED.cli_help() == "The seed. (a whole number from -1 to 100; -1 picks one at random)"
    assert MODE.help_text(with_range=True) == MODE.cli_help() == "The mode."


def test_names_flags_and_types():
    assert (SIZE.key, SIZE.cli_flag, SIZE.cli_type) == ("image_width", "--w", int)
    assert (SEED.key, SEED.cli_flag, SHARE.cli_type, MODE.cli_type) == ("seed", "--seed", float, str)
    assert Field("top_k", 1, "K.", "number", "K", attr="request_k").cli_flag == "--request-k"


def test_parse_types_form_values():
    assert SEED.parse(3.0) == 3 and isinstance(SEED.parse(3.0), int)
    assert SHARE.parse(1) == 1.0 and isinstance(SHARE.parse(1), float)
    assert Field("t", "", "T.", "text", "T").parse(None) == ""
    assert Field("f", None, "F.", "file", "F").parse("") is None
    assert Field("c", False, "C.", "checkbox", "C").parse(1) is True
    assert MODE.parse(None) is None  # no choice made: refused by check, not turned into text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "7", True, 2.5])
def test_parse_refuses_naming_the_field_and_its_key(value):
    with pytest.raises(ConfigError, match="^seed:"):
        SEED.parse(value)
    with pytest.raises(ConfigError, match="^image_width:"):
        SIZE.parse(value)


def test_a_non_finite_number_is_told_to_be_finite_unless_the_form_says_otherwise():
    with pytest.raises(ConfigError, match=r"use a finite number: a number between 0 and 1, e\.g\. 0\.5\.$"):
        SHARE.check(float("nan"))
    plain = Field("share", 0.5, "S.", "slider", "S", low=0, high=1, finite_hint=False)
    with pytest.raises(ConfigError, match=r"; use a number from 0 to 1\.$"):
        plain.parse(float("inf"))


def test_check_refuses_out_of_range_with_the_note():
    SEED.check(-1)
    with pytest.raises(ConfigError, match=r"^seed: -2 is not valid; use a whole number from -1 to 100 \(-1 picks"):
        SEED.check(-2)
    with pytest.raises(ConfigError, match="^seed:"):
        SEED.check(3.0)  # a request holds typed values: a float is not a whole number
    for edge in (0, 1):
        with pytest.raises(ConfigError, match="^share:"):
            SHARE.check(edge)
    SHARE.check(0.99)


def test_check_allows_zero_and_keeps_multiples():
    SIZE.check(0)
    SIZE.check(64)
    with pytest.raises(ConfigError, match=r"use a multiple of 8 \(blocks of 8\), e\.g\. 56 or 64\.$"):
        SIZE.check(60)
    with pytest.raises(ConfigError, match="between 32 and 2048"):
        SIZE.check(16)


def test_check_text_and_choices():
    text = Field("prompt", "", "P.", "text", "Prompt")
    text.check("x" * MAX_TEXT_CHARS)
    with pytest.raises(ConfigError, match=f"keep it under {MAX_TEXT_CHARS} characters"):
        text.check("x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ConfigError, match="use text"):
        text.check(3)
    with pytest.raises(ConfigError, match="choose one of a, b"):
        MODE.check("c")


def test_parse_values_and_the_typed_model():
    assert parse_values({"seed": SEED, "mode": MODE}, {"seed": 4.0}) == {"seed": 4, "mode": "a"}
    assert chosen_model(" owner/name ", "preset") == "owner/name"
    assert chosen_model(None, "preset") == chosen_model("  ", "preset") == "preset"
