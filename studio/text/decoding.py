"""Token ids to text while they arrive: an incremental decoder that never fails, and the streamer around it.

Decoding one token at a time is wrong for most tokenizers: a sentencepiece
`▁` becomes a space only after another piece, a byte-fallback token (`<0xE2>`)
is a third of a character, and `tokenizers`' own `DecodeStream` raises "Invalid
prefix encountered" when a sampled sequence makes the text of a prefix change
(seen with Mistral, Gemma-2, Gemma-3 and Phi-3). Decoding the whole answer at
every token is always right but costs O(n) a token. So text is decoded from an
*anchor*: a token position where decoding in two parts was checked to give the
same text as decoding the whole (no byte group or leading space is split
there). Each new token decodes only the ids since the anchor; every `ANCHOR_EVERY`
tokens the anchor moves up after one whole decode checks the new place. Text
that ends in half a character waits for the rest, and so does text while the
last token is a byte-fallback token: `ByteFallback` decodes a run of byte tokens
together, and one invalid byte turns the whole run into "\ufffd"s, so "f" can
become "\ufffd" when the next byte comes.

The streamer hands text from the generating thread to the reading one. Waking
the reader for every token cost 7% of the tokens/s of a small model on a CPU
(the two threads fight for the interpreter lock between torch ops) and the first
token reached the reader 1.8 ms after it was made (a woken thread waits up to
the 5 ms switch interval for the lock). So the first text is handed over at
once and later text at most every `STREAM_EVERY_S` (the ids gathered meanwhile
decoded in one call), and at each hand-over the generating thread waits (at
most `HANDOVER_WAIT_S`) until the reader has handled the piece, so the reader
never waits for the lock.
"""

from __future__ import annotations

import queue
import re
import threading
import time

REPLACEMENT = "\ufffd"  # what a decoder shows for an incomplete (or invalid) UTF-8 character
ANCHOR_EVERY = 32  # tokens between anchor moves; the window decoded per token stays under 2x this
BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")  # sentencepiece-style byte fallback
STREAM_EVERY_S = 0.02  # after the first text, the reader gets new text at most this often (people see no gap)
HANDOVER_WAIT_S = 0.005  # how long generation waits for the reader to handle a piece (the lock's switch interval)


class IncrementalDecoder:
    """Feeds ids in, gets new text out; `text` is everything sent so far, always a prefix of the whole decode."""

    def __init__(self, tokenizer, skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.kwargs = dict(skip_special_tokens=skip_special_tokens)
        self.ids: list[int] = []
        self.anchor = 0  # decode(ids[:anchor]) + decode(ids[anchor:]) == decode(ids), checked
        self.anchor_chars = 0  # len(decode(ids[:anchor])); text[:anchor_chars] is that text
        self.text = ""
        self._byte: dict[int, bool] = {}

    def _is_byte(self, token: int) -> bool:
        if token not in self._byte:
            piece = self.tokenizer.convert_ids_to_tokens(token)
            self._byte[token] = isinstance(piece, str) and bool(BYTE_TOKEN.match(piece))
        return self._byte[token]

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, **self.kwargs)

    def add(self, ids: list[int]) -> str:
        """The new text these ids complete (often "", when they end mid-character)."""
        self.ids.extend(ids)
        if not self.ids or self._is_byte(self.ids[-1]):
            return ""  # a run of byte tokens decodes as a whole: wait for its end
        if len(self.ids) - self.anchor >= 2 * ANCHOR_EVERY:
            self._move_anchor()
        window = self._decode(self.ids[self.anchor:])
        sent = self.text[self.anchor_chars:]
        if window.startswith(sent):
            current = self.text[:self.anchor_chars] + window
        else:  # cannot happen at a checked anchor; the whole decode is the safe answer
            current = self._decode(self.ids)
        return self._emit(current)

    def _emit(self, current: str) -> str:
        if current.endswith(REPLACEMENT) or not current.startswith(self.text):
            return ""  # wait for the rest of the character (or for text that extends what was sent)
        piece = current[len(self.text):]
        self.text = current
        return piece

    def _move_anchor(self) -> None:
        candidate = len(self.ids) - ANCHOR_EVERY
        if self._is_byte(self.ids[candidate - 1]) or self._is_byte(self.ids[candidate]):
            return  # never inside a run of byte tokens
        head = self._decode(self.ids[:candidate])
        if head + self._decode(self.ids[candidate:]) == self._decode(self.ids) and self.text.startswith(head):
            self.anchor, self.anchor_chars = candidate, len(head)

    def flush(self) -> str:
        """At the end: whatever the whole sequence decodes to beyond what was sent (a trailing partial character)."""
        full = self._decode(self.ids)
        piece = full[len(self.text):] if full.startswith(self.text) else ""
        self.text += piece
        return piece


class TextQueueStreamer:
    """A `generate(streamer=...)` target: decodes new tokens and hands text to the consuming thread.

    Implements the streamer protocol of transformers (`put`, `end`); the prompt's
    ids arrive in the first `put` and are skipped. `first_token_at` times the
    first generated token for the time-to-first-token figure. The first text goes
    to the reader at once, later text at most every `every_s` (see the module's
    docstring); `end` sends what is left.
    """

    END = object()

    def __init__(self, tokenizer, every_s: float = STREAM_EVERY_S):
        self.decoder = IncrementalDecoder(tokenizer)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.first_token_at: float | None = None
        self.every_s = every_s
        self._prompt_seen = False
        self._waiting: list[int] = []  # ids not decoded yet
        self._sent_at: float | None = None  # when text last went to the reader
        self._handled = threading.Event()  # the reader has handled the last piece

    def put(self, value) -> None:
        if value.dim() > 1:
            if value.shape[0] > 1:
                raise ValueError("streaming needs batch size 1")
            value = value[0]
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self._waiting.extend(value.tolist())
        if self._sent_at is not None and now - self._sent_at < self.every_s:
            return
        piece = self.decoder.add(self._waiting)
        self._waiting = []
        if piece:
            self._sent_at = now
            self._hand_over(piece)

    def _hand_over(self, piece: str) -> None:
        self._handled.clear()
        self.queue.put(piece)
        self._handled.wait(HANDOVER_WAIT_S)

    def end(self) -> None:
        piece = self.decoder.add(self._waiting) if self._waiting else ""
        self._waiting = []
        piece += self.decoder.flush()
        if piece:
            self.queue.put(piece)
        self.queue.put(self.END)

    def __iter__(self):
        while True:
            piece = self.queue.get()
            if piece is self.END:
                return
            try:
                yield piece
            finally:  # handled, or the reader left: either way generation goes on (and a leaving reader stops it)
                self._handled.set()
