"""AudioRequest checks every field in one place and names the bad value."""

import pytest

from studio.audio.request import AudioRequest, check_limits
from studio.errors import ConfigError
from studio.settings import Settings


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
        ({"guidance": 0}, "guidance"),
        ({"guidance": 0.5}, "guidance"),
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


FLOAT_FIELDS = ["seconds", "guidance", "temperature", "top_p", "prompt_seconds", "window_seconds", "overlap_seconds"]


@pytest.mark.parametrize("field", FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_per_field(field, bad):
    with pytest.raises(ConfigError) as err:
        AudioRequest(**{field: bad})
    assert err.value.field == field and "finite" in str(err.value)


def test_guidance_below_one_says_that_one_is_off():
    with pytest.raises(ConfigError, match=r"from 1 to 10 \(1 turns guidance off\)"):
        AudioRequest(guidance=0)


def test_the_operators_duration_limit_is_named():
    check_limits(AudioRequest(seconds=30), Settings(max_audio_seconds=30))
    with pytest.raises(ConfigError) as err:
        check_limits(AudioRequest(seconds=31), Settings(max_audio_seconds=30))
    assert err.value.field == "seconds" and "max_audio_seconds" in str(err.value) and "30 s" in str(err.value)


def test_the_tab_takes_clips_only_from_gradios_upload_folder(tmp_path):
    from studio.errors import StudioError
    from studio.ui.audio import uploaded

    uploads = tmp_path / "gradio"
    (uploads / "abc").mkdir(parents=True)
    (uploads / "abc" / "clip.wav").write_bytes(b"RIFF")
    assert uploaded(str(uploads / "abc" / "clip.wav"), str(uploads)).endswith("clip.wav")
    assert uploaded(None, str(uploads)) is None
    for outside in (tmp_path / "elsewhere.wav", uploads / ".." / "elsewhere.wav", "/etc/hostname"):
        with pytest.raises(StudioError, match="clip: only a file uploaded"):
            uploaded(str(outside), str(uploads))
