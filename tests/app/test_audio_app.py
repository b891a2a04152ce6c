"""The Audio tab through gradio_client: a clip with its pictures and record; bad input is refused clearly."""

import json

import numpy as np
import pytest
import soundfile
from gradio_client import handle_file

from tests.audio_models import SAMPLE_RATE, build_tiny_musicgen

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_musicgen(tmp_path_factory.mktemp("app-audio-models") / "mono"))


def generate(client, tiny, **changes):
    args = dict(prompt="a slow low melody", model="embedded/musicgen-tiny", custom_model=tiny, seconds=1.0,
                guidance=3.0, temperature=1.0, top_k=250, top_p=0.0, samples=1, seed=3, clip=None,
                clip_use="continue", prompt_seconds=0.5, window_seconds=30.0, overlap_seconds=10.0) | changes
    return client.predict(**args, api_name="/audio_generate")


def test_a_clip_comes_back_with_pictures_and_a_record(client, tiny):
    player, waveform, spectrogram, plots, downloads, status = generate(client, tiny, samples=2, seed=5)
    info = soundfile.info(player)
    assert info.samplerate == SAMPLE_RATE and abs(info.frames - SAMPLE_RATE) <= 640
    assert waveform and spectrogram and len(plots) == 4
    record = json.loads(open(next(d for d in downloads if d.endswith(".json"))).read())
    assert record["seed"] == 5 and record["settings"]["samples"] == 2
    assert "real-time factor" in status and "seed 5" in status


def test_the_embedded_model_makes_a_clip(client):
    player, *_, status = generate(client, "", seconds=1.0)
    assert soundfile.info(player).frames > 0 and "1 clip(s)" in status


def test_an_uploaded_clip_is_continued(client, tiny, tmp_path):
    path = tmp_path / "prompt.wav"
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050), 22050)
    player, *_, status = generate(client, tiny, seconds=1.5, clip=handle_file(str(path)), prompt_seconds=0.5)
    assert abs(soundfile.info(player).frames - 1.5 * SAMPLE_RATE) <= 640 and "your clip" in status


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seconds": 0}, "seconds"),
        ({"seconds": 10000}, "at most 300"),
        ({"custom_model": "nobody/no-such-musicgen"}, "offline|no model|cannot be reached"),
        ({"samples": 9}, "samples"),
    ],
)
def test_bad_settings_give_a_clear_message_and_the_tab_keeps_working(client, tiny, changes, message):
    with pytest.raises(Exception, match=message):
        generate(client, tiny, **changes)
    assert generate(client, tiny)[0]


def test_an_mp3_that_is_really_text_is_refused(client, tiny, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("not music at all " * 30)
    with pytest.raises(Exception, match="could not be read as audio"):
        generate(client, tiny, seconds=1.5, clip=handle_file(str(fake)))
    assert generate(client, tiny)[0]


def test_stop_ends_only_this_sessions_clip(client, tiny, studio_url):
    import time

    from gradio_client import Client

    args = dict(prompt="a slow low melody", model="embedded/musicgen-tiny", custom_model=tiny, seconds=300.0,
                guidance=3.0, temperature=1.0, top_k=250, top_p=0.0, samples=1, seed=1, clip=None,
                clip_use="continue", prompt_seconds=0.5, window_seconds=30.0, overlap_seconds=5.0)
    job = client.submit(**args, api_name="/audio_generate")
    deadline = time.time() + 30
    while not any("Step" in str(o[-1]) for o in job.outputs()) and time.time() < deadline:
        time.sleep(0.1)
    assert any("Step" in str(o[-1]) for o in job.outputs()), "no progress was streamed"
    Client(studio_url, verbose=False).predict(api_name="/audio_stop")  # another session's Stop
    time.sleep(1.0)
    assert not job.done(), "another session's Stop ended this clip"
    client.predict(api_name="/audio_stop")
    deadline = time.time() + 15
    while not job.done() and time.time() < deadline:
        time.sleep(0.1)
    assert job.done()
    assert generate(client, tiny)[0]  # the model is free and works again
