"""Streaming generation on a tiny random Llama: chunks, stop within one step, slicing, stop sequences, records."""

import json
import threading

import pytest

from studio.loading import LoadRequest
from studio.settings import Settings
from studio.text.engine import TextEngine, TextSaved
from studio.text.generate import STOP_SEQUENCE, STOPPED, SequenceDone, TextChunk, stream_text
from studio.text.request import TextRequest
from tests.text_models import tiny_text_model  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return TextEngine(Settings(outputs_dir=tmp_path_factory.mktemp("outputs"), hf_token="hf_SECRET_do_not_leak"))


@pytest.fixture(scope="module")
def loaded(engine, tiny_text_model):
    return engine.load(LoadRequest(str(tiny_text_model)))


def run(loaded, request, stop=None):
    events = list(stream_text(loaded.model, loaded.processor, request, stop))
    chunks = [e for e in events if isinstance(e, TextChunk)]
    done = [e for e in events if isinstance(e, SequenceDone)]
    return chunks, done


def test_streams_many_chunks_that_add_up_to_the_answer(loaded):
    chunks, done = run(loaded, TextRequest("Once upon a time", max_new_tokens=30, seed=1, top_k=0))
    assert len(chunks) >= 5
    assert "".join(c.text for c in chunks) == done[0].text
    stats = done[0].stats
    assert stats.tokens == 30 and stats.stop_reason == "max tokens"
    assert 0 < stats.ttft_s < stats.seconds and stats.tokens_per_second > 0


def test_same_seed_same_text_and_sequence_i_uses_seed_plus_i(loaded):
    _, two = run(loaded, TextRequest("The sun", max_new_tokens=12, seed=5, num_sequences=2))
    _, alone = run(loaded, TextRequest("The sun", max_new_tokens=12, seed=6))
    assert [d.seed for d in two] == [5, 6]
    assert two[1].text == alone[0].text


def test_prompt_is_not_echoed_sliced_by_tokens(loaded):
    prompt = "Once upon a time"
    tokenizer = loaded.processor
    _, done = run(loaded, TextRequest(prompt, max_new_tokens=10, greedy=True))
    prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    full = loaded.model.generate(prompt_ids, max_new_tokens=10, do_sample=False, attention_mask=None)
    assert done[0].text == tokenizer.decode(full[0, prompt_ids.shape[1]:], skip_special_tokens=True)
    assert not done[0].text.startswith(prompt)


def test_stop_ends_generation_within_one_token_step(loaded):
    """The stop event is set from inside the 10th forward pass; at most one more pass may follow."""
    model, stop, calls = loaded.model, threading.Event(), []
    original = model.forward

    def counting_forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            stop.set()
        return original(*args, **kwargs)

    model.forward = counting_forward
    try:
        _, done = run(loaded, TextRequest("Once", max_new_tokens=500, temperature=1.0, top_k=0, num_sequences=3),
                      stop)
    finally:
        del model.forward
    assert len(calls) <= 11
    assert len(done) == 1  # the sequences not begun are skipped
    assert done[0].stats.stop_reason == STOPPED and done[0].stats.tokens <= 11


def test_consumer_leaving_early_stops_the_worker(loaded):
    stream = stream_text(loaded.model, loaded.processor, TextRequest("Once", max_new_tokens=4000, top_k=0))
    next(stream)
    stream.close()  # what a cancelled Gradio generator does
    assert not [t for t in threading.enumerate() if t.name.startswith("text-generate") and t.is_alive()]


def test_stop_sequence_cuts_the_answer_and_is_never_shown(loaded):
    settings = dict(prompt="Once upon", max_new_tokens=40, greedy=True, repetition_penalty=1.3)
    _, free = run(loaded, TextRequest(**settings))
    text = free[0].text
    stop = text[len(text) // 2 : len(text) // 2 + 2]  # two characters from the middle of the free-running answer
    assert len(stop) == 2, text
    chunks, done = run(loaded, TextRequest(**settings, stop_sequences=(stop,)))
    assert done[0].text == text[: text.find(stop)]
    assert "".join(c.text for c in chunks) == done[0].text
    assert done[0].stats.stop_reason == STOP_SEQUENCE
    assert done[0].stats.tokens < 40


def test_chat_mode_uses_the_template_and_answers(loaded):
    chunks, done = run(loaded, TextRequest("Tell me a story.", chat=True, system_prompt="Be kind.",
                                           max_new_tokens=8, greedy=True))
    assert done[0].stats.tokens >= 1
    assert "<|user|>" not in done[0].text and "Tell me a story." not in done[0].text


def test_each_answer_is_saved_with_a_record_that_holds_no_token(engine, tiny_text_model):
    events = list(engine.generate(LoadRequest(str(tiny_text_model)), TextRequest("Hello", max_new_tokens=5)))
    saved = events[-1]
    assert isinstance(saved, TextSaved)
    assert saved.text_path.read_text() == saved.sequences[0].text
    raw = saved.record_path.read_text()
    record = json.loads(raw)
    assert "hf_SECRET" not in raw and "hf_token" not in raw
    assert record["settings"]["max_new_tokens"] == 5 and record["settings"]["seed"] == 0
    assert record["model"]["fingerprint"].startswith("sha256 ")
    assert record["sequences"][0]["stats"]["tokens"] == 5
    assert {"torch", "transformers"} <= set(record["versions"])


def test_ignore_eos_writes_until_max_tokens(engine):
    loaded = engine.load(LoadRequest("embedded/text-tiny"))
    _, normal = run(loaded, TextRequest("What is the capital of Peru?", chat=True, greedy=True, max_new_tokens=60))
    assert normal[0].stats.stop_reason == "end of text" and normal[0].stats.tokens < 60
    _, forced = run(loaded, TextRequest("What is the capital of Peru?", chat=True, greedy=True, max_new_tokens=60,
                                        ignore_eos=True))
    assert forced[0].stats.stop_reason == "max tokens" and forced[0].stats.tokens == 60


@pytest.mark.parametrize("incremental", [True, False])
def test_streamer_pieces_add_up_to_the_decoded_text(loaded, incremental):
    import torch

    from studio.text.generate import _streamer_class

    tokenizer = loaded.processor
    ids = tokenizer("Once upon a time, a cat said: \"Ünïcödé 漢字!\"\nThe end.")["input_ids"]
    streamer = _streamer_class()(tokenizer, skip_prompt=False, skip_special_tokens=True)
    if not incremental:
        streamer.stream = None  # the path slow tokenizers take
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    assert "".join(streamer) == tokenizer.decode(ids, skip_special_tokens=True)
