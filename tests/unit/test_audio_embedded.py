"""The shipped tiny MusicGen: intact, loads like any MusicGen, and follows tempo and register words it never saw."""

import hashlib
import json

import pytest

from studio.embedded import EMBEDDED_DIR
from studio.embedded.audio_data import (
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
    judge_register,
    judge_tempo,
    make_example,
)

FOLDER = EMBEDDED_DIR / "musicgen-tiny"


def test_the_synthetic_judges_agree_with_the_labels():
    for seed in range(40):
        clip, _, spec = make_example(seed, 2.0, 16000)
        assert judge_tempo(clip, 16000) == spec.tempo and judge_register(clip, 16000) == spec.register


def test_held_out_wordings_are_not_training_wordings():
    assert not set(HELD_OUT_TEMPLATES) & set(TRAIN_TEMPLATES)
    _, caption, _ = make_example(3, 1.0, 16000, held_out=True)
    assert any(caption.split()[0] in t for t in HELD_OUT_TEMPLATES)


def test_the_manifest_matches_the_shipped_files():
    manifest = json.loads((FOLDER / "MANIFEST.json").read_text())
    assert "python -m studio" in manifest["rebuild"]
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name
    assert sum((FOLDER / n).stat().st_size for n in manifest["sha256"]) < 20 * 2**20


@pytest.mark.slow
def test_clips_follow_tempo_and_register_words_on_held_out_wordings():
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    from studio.embedded.audio_model import evaluate

    torch.set_num_threads(1)
    model = MusicgenForConditionalGeneration.from_pretrained(FOLDER, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(FOLDER)
    scores = evaluate(model, processor, n=40, seed=2024)
    assert scores["tempo_accuracy"] >= 0.85, scores
    assert scores["register_accuracy"] >= 0.80, scores


def test_the_shipped_tokenizer_has_no_saved_padding():
    """Saved padding reached Encodec's feature extractor as `pad_to_multiple_of` and broke continuation."""
    assert json.loads((FOLDER / "tokenizer.json").read_text())["padding"] is None


def test_the_builder_saves_the_processor_without_padding(tmp_path):
    from studio.embedded.audio_model import processor_for, save_processor, text_tokenizer

    tokenizer = text_tokenizer()
    tokenizer(["a slow low melody", "a fast melody"], padding=True)  # what training and evaluation do
    save_processor(processor_for(tokenizer, 16000), tmp_path)
    assert json.loads((tmp_path / "tokenizer.json").read_text())["padding"] is None


@pytest.mark.parametrize("padding_saved", [False, True], ids=["as shipped", "as shipped before the fix"])
def test_the_shipped_model_continues_a_clip_and_makes_long_clips(tmp_path, padding_saved):
    import shutil

    import numpy as np

    from studio.audio.clips import write_wav
    from studio.audio.generate import AudioGenerator
    from studio.audio.request import AudioRequest
    from studio.settings import Settings

    folder, scope, model = FOLDER, None, "embedded/musicgen-tiny"
    if padding_saved:  # the tokenizer.json it shipped with, padding block and all
        folder = shutil.copytree(FOLDER, tmp_path / "as-before")
        saved = json.loads((folder / "tokenizer.json").read_text())
        saved["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                            "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"}
        (folder / "tokenizer.json").write_text(json.dumps(saved))
        scope, model = {"any_path": True}, str(folder)
    engine = AudioGenerator(Settings(outputs_dir=tmp_path / "out"))
    t = np.arange(16000) / 16000
    upload = write_wav(tmp_path / "up.wav", (0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), 16000)
    continued = engine.generate(AudioRequest(prompt="a slow low melody", model=model, seconds=2.0, clip=str(upload),
                                             clip_use="continue", prompt_seconds=1.0), save=False, scope=scope)
    assert continued.clips[0].shape == (1, 32000)
    long = engine.generate(AudioRequest(prompt="a fast high melody", model=model, seconds=3.0, window_seconds=1.2,
                                        overlap_seconds=0.4), save=False, scope=scope)
    assert long.windows == 4 and long.clips[0].shape == (1, 48000)
