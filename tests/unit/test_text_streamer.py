"""The streamer between the generating thread and its reader: the first text at once, later text grouped, and
each piece handled by the reader before generation goes on (so the reader never waits for the interpreter lock)."""

import threading

import pytest
import torch

from studio.text import decoding
from studio.text.decoding import TextQueueStreamer
from tests.text_models import tiny_text_model  # noqa: F401  (fixture)

PROMPT = [5, 6, 7]


@pytest.fixture(scope="module")
def tokenizer(tiny_text_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_text_model)


def answer_ids(tokenizer) -> list[int]:
    return tokenizer("the little frog went to the park and found a yellow book")["input_ids"]


def queued(streamer) -> list:
    items = []
    while not streamer.queue.empty():
        items.append(streamer.queue.get())
    return items


def test_first_text_goes_at_once_and_the_rest_waits_for_the_interval_or_the_end(tokenizer, monkeypatch):
    monkeypatch.setattr(decoding, "HANDOVER_WAIT_S", 0.0)  # no reader in this test
    ids = answer_ids(tokenizer)
    streamer = TextQueueStreamer(tokenizer, every_s=60.0)
    streamer.put(torch.tensor([PROMPT]))
    for token in ids:
        streamer.put(torch.tensor([token]))
    first = queued(streamer)
    assert len(first) == 1 and first[0]  # only the first text, at once; the rest within the interval waits
    assert streamer.first_token_at is not None
    streamer.end()
    rest = queued(streamer)
    assert rest[-1] is TextQueueStreamer.END
    assert "".join(first + rest[:-1]) == tokenizer.decode(ids, skip_special_tokens=True)


def test_text_goes_on_every_token_with_no_interval(tokenizer, monkeypatch):
    monkeypatch.setattr(decoding, "HANDOVER_WAIT_S", 0.0)
    ids = answer_ids(tokenizer)
    streamer = TextQueueStreamer(tokenizer, every_s=0.0)
    streamer.put(torch.tensor([PROMPT]))
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    pieces = queued(streamer)[:-1]
    assert len(pieces) >= len(ids) - 2  # a piece per token, but for the few that end mid-word or mid-character
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)


def test_generation_goes_on_only_after_the_reader_handled_the_piece(tokenizer, monkeypatch):
    monkeypatch.setattr(decoding, "HANDOVER_WAIT_S", 30.0)  # long enough that only the reader can end the wait
    streamer = TextQueueStreamer(tokenizer)
    order: list[str] = []
    handled = threading.Event()

    def read():
        for piece in streamer:
            order.append("reader handled " + piece)
            handled.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    streamer.put(torch.tensor([PROMPT]))
    streamer.put(torch.tensor([answer_ids(tokenizer)[0]]))
    order.append("generation goes on")
    assert handled.is_set()
    streamer.end()
    reader.join(5)
    assert order[0].startswith("reader handled") and order[1] == "generation goes on"
