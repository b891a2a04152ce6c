"""The audio engine on every MusicGen family and path, compared sample for sample with bare transformers.

Families: replicas of facebook/musicgen-small (mono; its tokenizer saved with padding on) and
facebook/musicgen-stereo-small (8 interleaved codebooks), each loaded from a folder (as an operator's
STUDIO_LOCAL_MODELS folder) and by hub id from an offline cache; and the shipped embedded/musicgen-tiny
exactly as shipped. Paths: 1 s and 3 s clips (exact lengths), continuation of an uploaded clip, a long clip
made in windows, and the channel layout of a stereo WAV. The bare side is `torch.manual_seed(seed)` and
`generate(do_sample=True)` on the tokenizer's and feature extractor's own outputs: at the same seed the
studio's clips must be the same samples.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from studio.audio.clips import write_wav
from studio.audio.generate import AudioGenerator
from studio.audio.request import EMBEDDED_MODEL, AudioRequest
from studio.embedded import EMBEDDED_DIR
from studio.settings import Settings
from tests.replicas import audio as replicas
from tests.replicas import hub_cache
from tests.replicas.report import record

pytestmark = pytest.mark.slow

PROMPT = "a calm lofi melody with piano"
SEED = 11


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("audio-replicas")
    folders = replicas.build_all(root)
    folders[EMBEDDED_MODEL] = EMBEDDED_DIR / "musicgen-tiny"
    return root, folders


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return AudioGenerator(Settings(outputs_dir=tmp_path_factory.mktemp("audio-matrix-out")))


@pytest.fixture(scope="module")
def bare_models(built):
    """The bare library's own model and processor per folder, loaded once."""
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    _, folders = built
    return {name: (MusicgenForConditionalGeneration.from_pretrained(folder).eval(),
                   AutoProcessor.from_pretrained(folder)) for name, folder in folders.items()}


def bare_generate(bare, frames: int, audio: np.ndarray | None = None) -> np.ndarray:
    """One plain `generate` call (the RNG is seeded by the caller); (channels, samples)."""
    import torch

    model, processor = bare
    inputs = dict(processor.tokenizer([PROMPT], padding=True, return_tensors="pt"))
    if audio is not None:
        rows = audio[0] if audio.shape[0] == 1 else audio
        features = processor.feature_extractor(rows, sampling_rate=processor.feature_extractor.sampling_rate,
                                               return_tensors="pt")
        inputs |= dict(input_values=features["input_values"], padding_mask=features["padding_mask"])
    delay = model.decoder.num_codebooks // model.config.decoder.audio_channels - 1
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=True, guidance_scale=3.0, temperature=1.0, top_k=250,
                             max_new_tokens=frames + delay)
    return out[0].numpy()


def bare_windows(bare, total: int, window: int, overlap: int, hop: int) -> np.ndarray:
    """A long clip the plain way: one window, then each next window continues the last `overlap` frames."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        made = bare_generate(bare, window)[:, : window * hop]
        while made.shape[-1] < total * hop:
            new = min(window - overlap, total - made.shape[-1] // hop)
            out = bare_generate(bare, new, audio=made[:, -overlap * hop:])
            made = np.concatenate([made, out[:, overlap * hop: (overlap + new) * hop]], axis=-1)
    return made


def cases():
    for family in replicas.FAMILIES:
        for path in ("folder", "hub id"):
            yield family.repo_id, path
    yield EMBEDDED_MODEL, "preset"


def run_engine(engine, built, name: str, path: str, save: bool = False, **changes):
    root, folders = built
    model = {"folder": str(folders.get(name, "")), "hub id": name, "preset": name}[path]
    request = AudioRequest(**({"prompt": PROMPT, "model": model, "seed": SEED, "top_k": 250} | changes))
    scope = {"local_roots": (str(root),)}  # as an operator's STUDIO_LOCAL_MODELS
    with hub_cache.offline_cache(root / "hub"):
        return engine.generate(request, save=save, scope=scope)


def frame_facts(engine) -> tuple[int, int, int]:
    music = engine.slot.current.model
    return music.sampling_rate, music.hop_length, music.frame_rate


@pytest.mark.parametrize("name, path", list(cases()))
def test_one_and_three_seconds_are_exact_and_equal_the_bare_call(engine, built, bare_models, name, path):
    import torch

    for seconds in (1, 3):
        result = run_engine(engine, built, name, path, seconds=seconds)
        sr, hop, fps = frame_facts(engine)
        assert result.clips[0].shape[-1] == seconds * sr, "not the length asked"
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            expected = bare_generate(bare_models[name], seconds * fps)
        np.testing.assert_array_equal(result.clips[0], expected[:, : seconds * sr])
    record("audio", name, f"{path}: 1 s and 3 s", "works")


@pytest.mark.parametrize("name, path", list(cases()))
def test_a_continuation_opens_with_the_clip_and_equals_the_bare_call(engine, built, bare_models, name, path,
                                                                     tmp_path):
    import torch

    model, processor = bare_models[name]
    sr, channels = processor.feature_extractor.sampling_rate, model.config.decoder.audio_channels
    t = np.arange(sr) / sr  # one second at the model's own rate: fitting it changes nothing
    upload = np.stack([0.4 * np.sin(2 * np.pi * f * t) for f in (220, 330)[:channels]]).astype(np.float32)
    clip_path = write_wav(tmp_path / "upload.wav", upload, sr)
    result = run_engine(engine, built, name, path, seconds=2.0, clip=str(clip_path), clip_use="continue",
                        prompt_seconds=0.5)
    _, hop, fps = frame_facts(engine)
    kept = (sr // 2) // hop * hop  # the prompt is used in whole codec frames
    prompt = soundfile.read(str(clip_path), dtype="float32", always_2d=True)[0].T[:, :kept]
    assert result.clips[0].shape == (channels, 2 * sr)
    np.testing.assert_array_equal(result.clips[0][:, :kept], prompt)  # the visitor's own samples first
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        expected = bare_generate(bare_models[name], 2 * fps - kept // hop, audio=prompt)
    np.testing.assert_array_equal(result.clips[0][:, kept:], expected[:, kept: 2 * sr])
    record("audio", name, f"{path}: continuation", "works")


@pytest.mark.parametrize("name, path", list(cases()))
def test_a_long_clip_made_in_windows_equals_the_bare_window_loop(engine, built, bare_models, name, path):
    result = run_engine(engine, built, name, path, seconds=3.0, window_seconds=1.2, overlap_seconds=0.4)
    sr, hop, fps = frame_facts(engine)
    assert result.windows == 4 and result.clips[0].shape[-1] == 3 * sr
    expected = bare_windows(bare_models[name], 3 * fps, int(1.2 * fps), int(0.4 * fps), hop)
    np.testing.assert_array_equal(result.clips[0], expected)
    record("audio", name, f"{path}: windowed long clip", "works")


@pytest.mark.parametrize("path", ["folder", "hub id"])
def test_a_stereo_wav_keeps_left_and_right_apart(engine, built, bare_models, path):
    import torch

    name = "facebook/musicgen-stereo-small"
    result = run_engine(engine, built, name, path, save=True, seconds=1)
    saved, sr = soundfile.read(str(result.paths[0]), dtype="float32", always_2d=True)
    info = soundfile.info(str(result.paths[0]))
    assert (info.channels, info.samplerate, info.subtype, info.frames) == (2, replicas.SAMPLE_RATE, "PCM_16", sr)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        expected = np.clip(bare_generate(bare_models[name], replicas.FRAME_RATE), -1, 1)[:, :sr]
    assert not np.allclose(expected[0], expected[1]), "the replica's channels should differ"
    np.testing.assert_allclose(saved.T, expected, atol=1.5 / 32768)  # left is the first channel, right the second
    record("audio", name, f"{path}: stereo WAV layout", "works")


def test_the_padded_replica_has_the_trait_that_broke(bare_models):
    """The bare processor call fails on it, as it did on the embedded model: the fix is the engine's, not luck."""
    _, processor = bare_models["facebook/musicgen-small"]
    with pytest.raises(TypeError, match="pad_to_multiple_of"):
        processor(audio=np.zeros(6400, dtype=np.float32), sampling_rate=replicas.SAMPLE_RATE, text=[PROMPT],
                  padding=True, return_tensors="pt")
