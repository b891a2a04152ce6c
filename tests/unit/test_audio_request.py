"""AudioRequest checks every field in one place and names the bad value."""

import pytest

from studio.audio.request import AudioRequest
from studio.errors import ConfigError


def test_defaults_are_valid():
    request = AudioRequest(prompt="a slow low melody")
    assert request.seconds == 2.0 and request.samples == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"seconds": 0}, "seconds"),
        ({"seconds": 10000}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"seconds": -1}, "seconds"),
        ({"guidance": -1}, "guidance"),
        ({"temperature": 0}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"samples": 0}, "samples"),
        ({"samples": 5}, "samples"),
        ({"seed": -2}, "seed"),
        ({"clip_use": "remix"}, "clip_use"),
        ({"clip_use": "continue"}, "clip"),
        ({"clip_use": "continue", "clip": "x.wav", "prompt_seconds": 3.0, "seconds": 2.0}, "prompt_seconds"),
        ({"window_seconds": 5, "overlap_seconds": 5}, "overlap_seconds"),
        ({"model": " "}, "model"),
    ],
)
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError) as err:
        AudioRequest(**changes)
    assert err.value.field == field
    assert field in str(err.value)


def test_duration_message_says_the_bounds():
    with pytest.raises(ConfigError, match="above 0 and at most 300"):
        AudioRequest(seconds=10000)
