"""Uploaded clips are checked by content; fitting resamples, mixes and trims; WAVs keep their channel layout."""

import numpy as np
import pytest
import soundfile

from studio.audio.clips import fit_clip, read_clip, write_wav
from studio.errors import StudioError


def tone(seconds, sr, freq=440.0, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([wave] * channels)


def test_a_wav_reads_as_channels_by_samples(tmp_path):
    path = write_wav(tmp_path / "s.wav", tone(0.5, 22050, channels=2), 22050)
    audio, sr = read_clip(path)
    assert sr == 22050 and audio.shape == (2, 11025)


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_other_formats_read(tmp_path, suffix):
    path = tmp_path / f"s{suffix}"
    soundfile.write(str(path), tone(0.5, 16000)[0], 16000)
    audio, sr = read_clip(path)
    assert sr == 16000 and abs(audio.shape[1] - 8000) < 100


def test_an_mp3_that_is_really_text_is_refused(tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not audio at all, just words " * 20)
    with pytest.raises(StudioError, match="could not be read as audio"):
        read_clip(fake)


def test_empty_files_and_clips_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(StudioError, match="empty"):
        read_clip(empty)
    silent = tmp_path / "zero.wav"
    soundfile.write(str(silent), np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(StudioError, match="no audio"):
        read_clip(silent)


def test_a_ten_minute_clip_is_refused_from_its_header(tmp_path):
    long = tmp_path / "long.wav"
    with soundfile.SoundFile(str(long), "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        f.write(np.zeros(8000 * 600, dtype=np.int16))
    with pytest.raises(StudioError, match="600 s long"):
        read_clip(long)


def test_other_suffixes_are_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(StudioError, match="WAV, FLAC, OGG or MP3"):
        read_clip(path)


def test_fit_resamples_mixes_and_trims_to_whole_frames():
    stereo = tone(1.0, 44100, channels=2)
    mono = fit_clip(stereo, 44100, 16000, channels=1, seconds=0.5, multiple=640)
    assert mono.shape == (1, 7680)  # 0.5 s = 8000 samples -> 12 whole frames of 640
    spread = fit_clip(tone(1.0, 16000), 16000, 16000, channels=2)
    assert spread.shape == (2, 16000) and np.array_equal(spread[0], spread[1])


def test_wav_is_pcm16_with_the_right_channel_layout(tmp_path):
    left_right = np.stack([tone(0.25, 16000)[0], np.zeros(4000, dtype=np.float32)])
    path = write_wav(tmp_path / "lr.wav", left_right, 16000)
    info = soundfile.info(str(path))
    assert (info.channels, info.samplerate, info.frames, info.subtype) == (2, 16000, 4000, "PCM_16")
    data, _ = soundfile.read(str(path), always_2d=True)
    assert np.abs(data[:, 1]).max() == 0 and np.abs(data[:, 0]).max() > 0.4


def test_only_the_part_used_is_decoded(tmp_path):
    path = write_wav(tmp_path / "long.wav", tone(60.0, 8000), 8000)
    audio, sr = read_clip(path, keep_seconds=2.0)
    assert sr == 8000 and audio.shape == (1, 16000)
    assert read_clip(path)[0].shape == (1, 480000)


def test_an_upload_past_the_bound_is_refused_with_the_bound_named(tmp_path):
    path = write_wav(tmp_path / "song.wav", tone(12.0, 8000), 8000)
    with pytest.raises(StudioError, match="12 s long; upload at most 10 s"):
        read_clip(path, max_seconds=10, keep_seconds=1.0)


def test_nan_samples_are_refused(tmp_path):
    path = tmp_path / "nan.wav"
    data = np.zeros(8000, dtype=np.float32)
    data[100] = np.nan
    soundfile.write(str(path), data, 8000, subtype="FLOAT")
    with pytest.raises(StudioError, match="NaN"):
        read_clip(path)
