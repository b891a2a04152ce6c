"""Streaming generation on a tiny random Llama: chunks, stop within one step, slicing, stop sequences, records."""

import json
import threading

import pytest

from studio.loading import LoadRequest
from studio.settings import Settings
from studio.text.engine import TextEngine, TextSaved
from studio.text.generate import generation_config, STOP_SEQUENCE, STOPPED, SequenceDone, TextChunk, stream_text
from studio.text.request import TextRequest
from tests.text_models import tiny_text_model  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return TextEngine(Settings(outputs_dir=tmp_path_factory.mktemp("outputs"), hf_token="hf_SECRET_do_not_leak"))


@pytest.fixture(scope="module")
def loaded(engine, tiny_text_model):
    return engine.load(LoadRequest(str(tiny_text_model), any_path=True))


def run(loaded, request, stop=None):
    events = list(stream_text(loaded.model, loaded.processor, request, stop))
    chunks = [e for e in events if isinstance(e, TextChunk)]
    done = [e for e in events if isinstance(e, SequenceDone)]
    return chunks, done


def test_streams_chunks_that_add_up_to_the_answer(loaded):
    chunks, done = run(loaded, TextRequest("Once upon a time", max_new_tokens=30, seed=1, top_k=0))
    assert len(chunks) >= 2  # the first text at once, the rest grouped (test_text_streamer.py)
    assert "".join(c.text for c in chunks) == done[0].text
    stats = done[0].stats
    assert stats.tokens == 30 and stats.stop_reason == "max tokens"
    assert 0 < stats.ttft_s < stats.seconds and stats.tokens_per_second > 0


def test_a_requests_config_leaves_the_models_own_untouched(loaded):
    """The request's config is a shallow copy of the model's: its fields are replaced, never changed in place."""
    before = loaded.model.generation_config.to_dict()
    config = generation_config(loaded.model, loaded.processor,
                               TextRequest("x", max_new_tokens=7, repetition_penalty=1.3, ignore_eos=True))
    assert config.max_new_tokens == 7 and config.repetition_penalty == 1.3 and config.suppress_tokens
    assert loaded.model.generation_config.to_dict() == before


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
    events = list(engine.generate(LoadRequest(str(tiny_text_model), any_path=True), TextRequest("Hello", max_new_tokens=5)))
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


def test_decoder_pieces_add_up_to_the_decoded_text(loaded):
    from studio.text.decoding import IncrementalDecoder

    tokenizer = loaded.processor
    ids = tokenizer("Once upon a time, a cat said: \"Ünïcödé 漢字!\"\nThe end.")["input_ids"]
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.add([token]) for token in ids] + [decoder.flush()]
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)


@pytest.fixture(scope="module")
def mistral_tokenizer(tmp_path_factory):
    """The Mistral replica's tokenizer: sentencepiece-style BPE with byte fallback, as the hub's."""
    from tests.replicas.text import mistral_v01

    return mistral_v01()[2]


def test_random_ids_decode_incrementally_where_decode_stream_fails(mistral_tokenizer):
    """Issue 10: sampled streaming on Mistral/Gemma crashed with 'Invalid prefix encountered' in DecodeStream."""
    import random

    from tokenizers.decoders import DecodeStream

    from studio.text.decoding import IncrementalDecoder

    rng = random.Random(0)
    crashed = 0
    for _ in range(5):
        ids = [rng.randrange(len(mistral_tokenizer)) for _ in range(150)]
        stream = DecodeStream(skip_special_tokens=True)
        try:
            for token in ids:
                stream.step(mistral_tokenizer.backend_tokenizer, token)
        except Exception as err:
            crashed += "Invalid prefix" in str(err)
        decoder = IncrementalDecoder(mistral_tokenizer)
        pieces = [decoder.add([token]) for token in ids] + [decoder.flush()]
        assert "".join(pieces) == mistral_tokenizer.decode(ids, skip_special_tokens=True)
    assert crashed  # the library's stream does fail on these ids: the test would catch a return to it


def test_long_answers_decode_a_bounded_window(loaded):
    from studio.text import decoding

    tokenizer, calls = loaded.processor, []
    ids = tokenizer(" ".join(["Once upon a time there was a cat."] * 60))["input_ids"]
    decoder = decoding.IncrementalDecoder(tokenizer)
    original = decoder._decode
    decoder._decode = lambda part: calls.append(len(part)) or original(part)
    text = "".join(decoder.add([token]) for token in ids) + decoder.flush()
    assert text == tokenizer.decode(ids, skip_special_tokens=True)
    windows = sorted(calls)[: len(ids)]  # the per-token decodes (whole decodes happen once per anchor move)
    assert max(windows) < 2 * decoding.ANCHOR_EVERY + 2 and len(ids) > 300


def test_sampling_uses_its_own_generator_and_matches_bare_sampling(loaded):
    import torch

    tokenizer = loaded.processor
    state = torch.get_rng_state()
    _, done = run(loaded, TextRequest("The sun", max_new_tokens=20, seed=11, temperature=0.9, top_k=40, top_p=0.9))
    assert torch.equal(state, torch.get_rng_state())  # no global seeding, no draws from the global generator
    ids = tokenizer("The sun", return_tensors="pt")
    torch.manual_seed(11)
    bare = loaded.model.generate(**ids, max_new_tokens=20, do_sample=True, temperature=0.9, top_k=40, top_p=0.9)
    assert done[0].text == tokenizer.decode(bare[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_a_template_that_refuses_a_system_turn_gets_it_in_the_first_message(mistral_tokenizer):
    from studio.text.prompting import render_chat

    messages = TextRequest("Hi there.", chat=True, system_prompt="Be brief.").messages()
    enc, notes = render_chat(mistral_tokenizer, messages, "mistral")
    text = mistral_tokenizer.decode(enc["input_ids"][0])
    assert "[INST] Be brief.\n\nHi there. [/INST]" in text
    assert notes and "system prompt was put at the start of the first user message" in notes[0]


def test_4bit_check_ignores_the_vocabulary_and_output_sizes(monkeypatch):
    from studio.registry import ModelSource
    from studio.text import model as text_model

    gpt2 = {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_inner": None, "vocab_size": 50257}
    assert text_model.quantized_input_sizes(gpt2) == {"hidden_size": 768, "intermediate_size": 3072,
                                                      "attention output size": 768}
    odd_kv = {"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4, "num_key_value_heads": 1,
              "head_dim": 32, "vocab_size": 50257}
    assert not any(v % 64 for v in text_model.quantized_input_sizes(odd_kv).values())
    source = ModelSource("x", "folder", "/nonexistent")
    monkeypatch.setattr(text_model, "_local_config", lambda s: {"n_embd": 96, "n_head": 2})
    with pytest.raises(Exception, match="hidden_size 96"):
        text_model.check_text_source(source, LoadRequest("x", precision="4bit"), "cpu")
