"""The audio engine on tiny MusicGen models built from configs: lengths, channels, continuation, windows, Stop."""

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from studio.audio.clips import write_wav
from studio.audio.generate import AudioGenerator, plan_windows
from studio.audio.request import AudioRequest
from studio.errors import StudioError
from studio.settings import Settings
from tests.audio_models import SAMPLE_RATE, build_tiny_musicgen

FRAME = 640  # samples per frame of the tiny codec


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("audio-models")
    return {"mono": str(build_tiny_musicgen(root / "mono")), "stereo": str(build_tiny_musicgen(root / "stereo", stereo=True))}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return AudioGenerator(Settings(outputs_dir=tmp_path_factory.mktemp("audio-out")))


ANY_FOLDER = {"any_path": True}  # as the command line: these tests name folders of their own


def make(engine, model, save=False, **changes):
    return engine.generate(AudioRequest(**({"prompt": "a slow low melody", "model": model} | changes)), save=save,
                           scope=ANY_FOLDER)


@pytest.mark.parametrize("seconds", [1, 2, 5])
def test_clips_are_the_length_asked_within_one_frame(engine, models, seconds):
    result = make(engine, models["mono"], seconds=seconds)
    assert result.sample_rate == SAMPLE_RATE
    assert abs(result.clips[0].shape[-1] - seconds * SAMPLE_RATE) <= FRAME


def test_saved_wav_and_record_match_the_model(engine, models):
    result = make(engine, models["mono"], save=True, seconds=1, samples=2, seed=7)
    assert len(result.paths) == 2
    for path in result.paths:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert abs(info.frames - SAMPLE_RATE) <= FRAME
    assert all(p.is_file() and p.stat().st_size > 1000 for p in result.waveforms + result.spectrograms)
    record = json.loads(result.record_path.read_text())
    assert record["seed"] == 7 and record["sample_rate"] == SAMPLE_RATE and record["settings"]["samples"] == 2
    assert record["real_time_factor"] > 0 and record["model"]["model"] == models["mono"]


def test_stereo_models_write_two_channels(engine, models):
    result = make(engine, models["stereo"], save=True, seconds=1)
    assert result.clips[0].shape[0] == 2
    info = soundfile.info(str(result.paths[0]))
    assert info.channels == 2 and abs(info.frames - SAMPLE_RATE) <= FRAME


def test_the_same_seed_gives_the_same_clip(engine, models):
    a = make(engine, models["mono"], seconds=1, seed=3).clips[0]
    b = make(engine, models["mono"], seconds=1, seed=3).clips[0]
    c = make(engine, models["mono"], seconds=1, seed=4).clips[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("model_key, channels", [("mono", 1), ("stereo", 2)])
def test_a_continuation_starts_with_the_uploaded_prompt(engine, models, tmp_path, model_key, channels):
    sr_in = 44100
    t = np.arange(int(1.5 * sr_in)) / sr_in
    upload = np.stack([0.4 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 523 * t)]).astype(np.float32)
    path = write_wav(tmp_path / "prompt.wav", upload, sr_in)
    result = make(engine, models[model_key], save=True, seconds=2.0, clip=str(path), clip_use="continue",
                  prompt_seconds=1.0)
    saved, sr = soundfile.read(str(result.paths[0]), always_2d=True, dtype="float32")
    assert sr == SAMPLE_RATE and saved.shape[1] == channels
    read_back, _ = soundfile.read(str(path), always_2d=True, dtype="float32")
    source = read_back.T.mean(axis=0, keepdims=True) if channels == 1 else read_back.T
    expected = librosa.resample(source, orig_sr=sr_in, target_sr=SAMPLE_RATE, res_type="soxr_hq", axis=-1)
    n = SAMPLE_RATE  # the first second
    np.testing.assert_allclose(saved[:n].T, expected[:, :n], atol=2e-3)
    assert abs(saved.shape[0] - 2 * SAMPLE_RATE) <= FRAME
    assert "your clip" in " ".join(result.notes)


def test_long_clips_are_made_in_overlapping_windows(engine, models):
    result = make(engine, models["mono"], seconds=3.0, window_seconds=1.2, overlap_seconds=0.4)
    assert result.windows == 4 and abs(result.clips[0].shape[-1] - 3 * SAMPLE_RATE) <= FRAME
    assert "windows" in result.notes[0]


def test_window_plan_covers_the_clip_once():
    windows = plan_windows(total_frames=75, prompt_frames=10, window_frames=30, overlap_frames=10)
    assert windows[0].context_frames == 10 and windows[0].new_frames == 20
    assert 10 + sum(w.new_frames for w in windows) == 75
    assert all(w.context_frames + w.new_frames <= 30 for w in windows)


def test_progress_reports_every_step_and_stop_ends_at_the_next(engine, models):
    seen = []
    result = engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1),
                             on_progress=seen.append, save=False, scope=ANY_FOLDER)
    assert [p.step for p in seen] == list(range(1, seen[-1].total + 1)) and seen[-1].total == 25 + 3
    steps = []
    stopped = engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=2),
                              on_progress=steps.append, should_stop=lambda: len(steps) >= 5, save=False,
                              scope=ANY_FOLDER)
    assert stopped.stopped and stopped.steps == 5 and not stopped.clips
    assert make(engine, models["mono"], seconds=1).clips  # still usable


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model": "no-such-owner/no-such-musicgen"}, "offline|no model|cannot be reached"),
        ({"model": "/no/such/folder"}, "neither a local folder nor a hub id"),
    ],
)
def test_unknown_models_are_refused_and_the_loaded_one_stays(engine, models, changes, message):
    make(engine, models["mono"], seconds=1)
    with pytest.raises(StudioError, match=message):
        make(engine, **({"model": models["mono"]} | changes), seconds=1)
    assert engine.slot.current is not None and engine.slot.current.source.name == models["mono"]
    assert make(engine, models["mono"], seconds=1).clips


def test_bad_uploads_are_refused_and_the_model_stays_usable(engine, models, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("definitely text " * 50)
    with pytest.raises(StudioError, match="could not be read as audio"):
        make(engine, models["mono"], seconds=2, clip=str(fake), clip_use="continue", prompt_seconds=1)
    assert make(engine, models["mono"], seconds=1).clips


def test_melody_needs_a_melody_model(engine, models, tmp_path):
    path = write_wav(tmp_path / "m.wav", np.zeros((1, 16000), dtype=np.float32), 16000)
    with pytest.raises(StudioError, match="no melody conditioning"):
        make(engine, models["mono"], seconds=1, clip=str(path), clip_use="melody")


def test_melody_models_follow_an_uploaded_clip(engine, tmp_path):
    melody = str(build_tiny_musicgen(tmp_path / "melody", melody=True))  # skipped without torchaudio
    t = np.arange(16000) / 16000
    path = write_wav(tmp_path / "tune.wav", (0.4 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32), 16000)
    result = make(engine, melody, seconds=1, clip=str(path), clip_use="melody")
    assert abs(result.clips[0].shape[-1] - SAMPLE_RATE) <= FRAME
    with pytest.raises(StudioError, match="cannot continue"):
        make(engine, melody, seconds=2, clip=str(path), clip_use="continue", prompt_seconds=1)


def test_stop_in_a_later_window_keeps_the_finished_windows(engine, models, tmp_path):
    steps = []
    # windows of 1.2 s (30 frames) over 0.4 s overlap: the first window takes 30 + 3 steps
    result = engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=3, window_seconds=1.2,
                                          overlap_seconds=0.4),
                             on_progress=steps.append, should_stop=lambda: len(steps) >= 40, save=True,
                             scope=ANY_FOLDER, outputs_dir=tmp_path)
    assert result.stopped and result.steps == 40 and steps[-1].window == 2
    assert result.clips[0].shape[-1] == 30 * FRAME  # the first window, whole
    assert result.paths and "Stopped in window 2 of 4" in result.notes[0]
    assert soundfile.info(str(result.paths[0])).frames == 30 * FRAME


def test_files_go_to_the_folder_given_for_the_call(engine, models, tmp_path):
    result = engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1), scope=ANY_FOLDER,
                             outputs_dir=tmp_path / "visitor")
    assert result.folder.parent == tmp_path / "visitor" / "audio"
    assert [p.suffix for p in (result.paths[0], result.waveforms[0], result.spectrograms[0])] == [".wav", ".png",
                                                                                                   ".jpg"]


def test_a_typed_folder_is_refused_without_a_scope_that_allows_it(engine, models):
    with pytest.raises(StudioError):
        engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1), save=False)
    allowed = {"local_roots": (str(Path(models["mono"]).parent),)}
    assert engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1), save=False,
                           scope=allowed).clips


def test_generation_leaves_the_process_random_state_alone(engine, models):
    """Each request draws from its own torch.Generator: a worker's global generator never moves or is reseeded."""
    import torch

    make(engine, models["mono"], seconds=1)  # loading may draw (weight init); generating must not
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make(engine, models["mono"], seconds=1, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_guidance_one_turns_guidance_off_and_works(engine, models):
    assert make(engine, models["mono"], seconds=1, guidance=1.0).clips
    with pytest.raises(StudioError, match="guidance"):
        make(engine, models["mono"], seconds=1, guidance=0.0)


def test_a_tokenizer_saved_with_padding_still_continues_and_extends(engine, models, tmp_path):
    """Issue 10: padding saved in tokenizer.json reached Encodec's feature extractor (`pad_to_multiple_of`)."""
    import shutil

    from transformers import AutoTokenizer

    padded = tmp_path / "padded"
    shutil.copytree(models["mono"], padded)
    tokenizer = AutoTokenizer.from_pretrained(padded)
    tokenizer(["a b", "a slow low melody"], padding=True)  # switches padding on; save_pretrained keeps it
    tokenizer.save_pretrained(padded)
    assert '"padding": null' not in (padded / "tokenizer.json").read_text()
    upload = write_wav(tmp_path / "up.wav", 0.3 * np.ones((1, 16000), dtype=np.float32), 16000)
    continued = make(engine, str(padded), seconds=2, clip=str(upload), clip_use="continue", prompt_seconds=1)
    assert continued.clips[0].shape[-1] == 2 * SAMPLE_RATE
    extended = make(engine, str(padded), seconds=3, window_seconds=1.2, overlap_seconds=0.4)
    assert extended.windows == 4 and extended.clips[0].shape[-1] == 3 * SAMPLE_RATE


def test_callers_with_different_scopes_share_the_loaded_model(engine, models):
    """Visitors' scopes differ (each holds their own folder); the same model must not be loaded again for each."""
    make(engine, models["mono"], seconds=1)
    loaded = engine.slot.current
    root = str(Path(models["mono"]).parent)
    for scope in ({"local_roots": (root,)}, {"local_roots": (root, "/elsewhere")}):
        engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1), save=False, scope=scope)
        assert engine.slot.current is loaded
    with pytest.raises(StudioError):  # a caller who may not name the folder still cannot use it
        engine.generate(AudioRequest(prompt="x", model=models["mono"], seconds=1), save=False,
                        scope={"local_roots": ("/elsewhere",)})


def test_forgetting_saved_padding_mends_the_processor_itself(models, tmp_path):
    """Beyond the engine's own calls, the loaded processor works for audio again (the melody path uses it)."""
    import shutil

    from transformers import AutoProcessor, AutoTokenizer

    from studio.audio.model import forget_saved_padding

    padded = shutil.copytree(models["mono"], tmp_path / "padded")
    tokenizer = AutoTokenizer.from_pretrained(padded)
    tokenizer(["a b", "a slow low melody"], padding=True)
    tokenizer.save_pretrained(padded)
    processor = AutoProcessor.from_pretrained(padded)
    call = dict(audio=np.zeros(3200, dtype=np.float32), sampling_rate=SAMPLE_RATE, text=["a slow melody"],
                padding=True, return_tensors="pt")
    with pytest.raises(TypeError, match="pad_to_multiple_of"):
        processor(**call)
    assert forget_saved_padding(processor.tokenizer)
    assert set(processor(**call)) == {"input_ids", "attention_mask", "input_values", "padding_mask"}
    assert set(processor(**call)) == {"input_ids", "attention_mask", "input_values", "padding_mask"}  # and again
