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
