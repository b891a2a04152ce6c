"""The shipped embedded model: checksums match, it writes readable English and gets most held-out sums right."""

import hashlib
import json
import re

import pytest

from studio.embedded import EMBEDDED_DIR
from studio.embedded.corpus import held_out_sums, make_corpus, sum_line, vocabulary, words
from studio.loading import LoadRequest
from studio.text.generate import stream_text
from studio.text.model import text_slot
from studio.text.request import TextRequest

FOLDER = EMBEDDED_DIR / "text-tiny"
STORY_PROMPTS = ["Once upon a time", "One day, Mia", "There was a little dog", "Tell me a story about a frog."]


@pytest.fixture(scope="module")
def embedded():
    return text_slot("cpu").load(LoadRequest("embedded/text-tiny"))


def answer(loaded, **kwargs) -> str:
    events = list(stream_text(loaded.model, loaded.processor, TextRequest(**kwargs)))
    return events[-1].text


def test_manifest_checksums_match_the_shipped_files():
    manifest = json.loads((FOLDER / "MANIFEST.json").read_text())
    assert manifest["command"] == "python -m studio embedded build text"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name
    assert (FOLDER / "model.safetensors").stat().st_size < 5 * 2**20


def test_every_linear_size_is_a_multiple_of_64(embedded):
    import torch

    for name, module in embedded.model.named_modules():
        if isinstance(module, torch.nn.Linear):
            assert module.in_features % 64 == 0 and module.out_features % 64 == 0, name
    assert embedded.model.dtype == torch.float32


def test_held_out_sums_never_appear_in_training():
    held = {sum_line(a, b) for a, b in held_out_sums()}
    corpus = make_corpus(seed=0, documents=3000, chats=0)
    lines = {line for doc in corpus.documents for line in doc.split("\n")}
    assert len(held) >= 200 and not held & lines


def test_most_held_out_sums_are_right(embedded):
    from studio.embedded.text import sum_accuracy

    accuracy = sum_accuracy(embedded.model, embedded.processor, held_out_sums())
    assert accuracy >= 0.6, f"{accuracy:.0%} of held-out sums right"


def test_samples_are_readable_english(embedded):
    """Fixed seeds; each sample: known words, several sentences, each capitalised, ended and at least 3 words."""
    known = vocabulary()
    for i, prompt in enumerate(STORY_PROMPTS):
        chat = prompt.endswith(".")
        text = answer(embedded, prompt=prompt, chat=chat, max_new_tokens=120, seed=i, temperature=0.7)
        found = words(text)
        assert len(found) >= 15, text
        assert sum(w in known for w in found) / len(found) >= 0.95, text
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
        complete = [s for s in sentences if s[-1] in '.!?"']
        assert len(complete) >= 3, text
        story = (prompt + text) if not chat else text
        for sentence in re.split(r"(?<=[.!?])\s+", story.strip())[1:]:
            if sentence and sentence[-1] in '.!?"':
                assert sentence[0].isupper() or sentence[0] == '"', sentence
                assert len(words(sentence)) >= 2, sentence


def test_chat_answers_a_fact(embedded):
    text = answer(embedded, prompt="What is the capital of Spain?", chat=True, max_new_tokens=20, greedy=True)
    assert text.strip() == "The capital of Spain is Madrid."
