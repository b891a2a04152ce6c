"""The Audio tab through gradio_client: clips made in the audio worker, limits named, uploads only, Stop per visitor.

Visitors may not name server folders, so these tests use the shipped embedded MusicGen exactly as shipped.
"""

import json
import time

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file

pytestmark = pytest.mark.slow

EMBEDDED = "embedded/musicgen-tiny"
SAMPLE_RATE = 16_000


def args(**changes):
    return dict(prompt="a slow low melody", model=EMBEDDED, custom_model="", seconds=1.0, guidance=3.0,
                temperature=1.0, top_k=250, top_p=0.0, samples=1, seed=3, clip=None, clip_use="continue",
                prompt_seconds=0.5, window_seconds=30.0, overlap_seconds=10.0) | changes


def generate(client, **changes):
    return client.predict(**args(**changes), api_name="/audio_generate")


def test_a_clip_comes_back_with_pictures_and_a_record(client):
    player, waveform, spectrogram, plots, downloads, status = generate(client, samples=2, seed=5)
    info = soundfile.info(player)
    assert info.samplerate == SAMPLE_RATE and info.frames == SAMPLE_RATE
    assert waveform.endswith(".png") and spectrogram.endswith((".jpg", ".jpeg")) and len(plots) == 4
    record = json.loads(open(next(d for d in downloads if d.endswith(".json"))).read())
    assert record["seed"] == 5 and record["settings"]["samples"] == 2 and record["picture_seconds"] >= 0
    assert "real-time factor" in status and "seed 5" in status


def test_one_clip_sends_no_gallery_of_the_pictures_shown_above_it(client):
    player, waveform, spectrogram, plots, downloads, status = generate(client, samples=1, seed=6)
    assert waveform.endswith(".png") and not plots and "seed 6" in status


def test_an_uploaded_clip_is_continued_by_the_shipped_model(client, tmp_path):
    """Issue 10: the embedded model's saved tokenizer made every continuation fail with a TypeError."""
    path = tmp_path / "prompt.wav"
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050), 22050)
    player, *_, status = generate(client, seconds=2.0, clip=handle_file(str(path)), prompt_seconds=0.5)
    assert soundfile.info(player).frames == 2 * SAMPLE_RATE and "your clip" in status


def test_a_duration_over_the_limit_names_the_limit(client, studio_settings):
    limit = studio_settings.max_audio_seconds
    with pytest.raises(Exception, match=f"max_audio_seconds.*{limit:g} s"):
        generate(client, seconds=limit + 1)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seconds": 0}, "seconds"),
        ({"guidance": 0}, "minimum value 1"),  # the slider starts at 1 (= no guidance)
        ({"samples": 9}, "samples"),
        ({"top_p": 1.5}, "top_p"),
        ({"custom_model": "nobody/no-such-musicgen"}, "offline|no model|cannot be reached"),
    ],
)
def test_bad_settings_give_a_clear_message_and_the_tab_keeps_working(client, changes, message):
    with pytest.raises(Exception, match=message):
        generate(client, **changes)
    assert generate(client)[0]


def test_a_server_folder_typed_as_the_model_is_refused(client):
    from studio.embedded import EMBEDDED_DIR

    with pytest.raises(Exception, match="musicgen-tiny") as err:
        generate(client, custom_model=str(EMBEDDED_DIR / "musicgen-tiny"))
    assert "internal error" not in str(err.value)


def test_a_server_path_as_the_clip_is_refused(client, studio_url, tmp_path):
    """gradio_client uploads any local file it is given, so the raw API is used: a path that was never uploaded."""
    import httpx

    secret = tmp_path / "server-only.wav"
    soundfile.write(str(secret), np.zeros(16000), 16000)
    raw = {"path": str(secret), "meta": {"_type": "gradio.FileData"}}
    posted = httpx.post(f"{studio_url}gradio_api/call/audio_generate",
                        json={"data": list(args(seconds=2.0, clip=raw).values())})
    with httpx.stream("GET", f"{studio_url}gradio_api/call/audio_generate/{posted.json()['event_id']}",
                      timeout=60) as stream:
        events = [line for line in stream.iter_lines() if line.startswith("event:")]
    assert events == ["event: error"]
    assert generate(client)[0]


def test_an_mp3_that_is_really_text_is_refused(client, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("not music at all " * 30)
    with pytest.raises(Exception, match="could not be read as audio"):
        generate(client, seconds=1.5, clip=handle_file(str(fake)))
    assert generate(client)[0]


def statuses(job) -> list[str]:
    return [str(o[-1]) for o in job.outputs()]


def wait_for(condition, timeout):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.1)
    return condition()


def test_stop_ends_only_this_visitors_clip_and_keeps_the_last_one(client, studio_url, studio_settings):
    first_player = generate(client, seconds=1.0)[0]
    long = args(seconds=studio_settings.max_audio_seconds, samples=4, window_seconds=10.0, overlap_seconds=2.0)
    job = client.submit(**long, api_name="/audio_generate")
    assert wait_for(lambda: any("tokens" in s for s in statuses(job)), 120), "no progress was streamed"
    Client(studio_url, verbose=False).predict(api_name="/audio_stop")  # another visitor's Stop
    seen = len(job.outputs())
    time.sleep(1.0)  # a Stop ends a job within one decoder step (milliseconds); this one runs for seconds more
    assert not job.done(), "another visitor's Stop ended this clip"
    assert len(job.outputs()) > seen, "the clip stopped making progress"
    client.predict(api_name="/audio_stop")
    assert wait_for(job.done, 10), "Stop did not end the clip"
    final = job.outputs()[-1]
    status = str(final[-1])
    if isinstance(final[0], dict):  # stopped in the first window: no new clip, the page keeps the one it showed
        assert final[0] == {"__type__": "update"} and "the clip shown before stays" in status
    else:  # stopped later: the windows finished before the Stop are the new clip
        kept = soundfile.info(final[0]).frames
        assert "Stopped in window" in status and (kept - 10 * SAMPLE_RATE) % (8 * SAMPLE_RATE) == 0
    assert generate(client)[0]  # the worker is free and works again
