"""Lessons: an ordered list of Playground setups, each with a short note, handed to a class as one link.

A lesson is data, like a share string: it travels as `pl1.` + URL-safe base64 of
compressed JSON, and decoding checks every step's setup the way the Load box does,
so a link that opens is a lesson whose every step the form accepts. The four
built-in lessons below are data too (a test parses and builds every step).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass

from studio.errors import ConfigError, StudioError

from .config import PlaygroundConfig, defaults_for
from .share import decode, encode

PREFIX = "pl1."
LESSON_HINT = "paste a lesson link made with \"Add this setup as a step\" (its code starts with pl1.)"
MAX_STEPS = 20
MAX_NOTE = 400  # characters: a note is a sentence or two, not a page
MAX_TITLE = 80
MAX_LENGTH = 20000  # characters of a whole lesson string


@dataclass(frozen=True)
class Step:
    """One setup of a lesson (`setup` is a share string of share.py) and what to look at in it."""

    setup: str
    note: str

    @property
    def config(self) -> PlaygroundConfig:
        return decode(self.setup)


@dataclass(frozen=True)
class Lesson:
    title: str
    steps: tuple[Step, ...]

    def __len__(self) -> int:
        return len(self.steps)

    def adding(self, config: PlaygroundConfig, note: str) -> "Lesson":
        """This lesson with one more step at the end (the teacher's "Add this setup as a step")."""
        note = " ".join((note or "").split())
        if len(note) > MAX_NOTE:
            raise ConfigError("step note", note[:37] + "...", f"keep a note under {MAX_NOTE} characters")
        if len(self.steps) >= MAX_STEPS:
            raise ConfigError("lesson", f"{len(self.steps)} steps", f"a lesson holds at most {MAX_STEPS} steps")
        return Lesson(self.title, (*self.steps, Step(encode(config), note)))


def step(note: str, model: str, **setup) -> Step:
    """A step from a model's defaults and the fields that differ (how the built-in lessons are written)."""
    return Step(encode(defaults_for(model, **setup)), note)


def encode_lesson(lesson: Lesson) -> str:
    payload = {"t": lesson.title, "s": [[s.setup, s.note] for s in lesson.steps]}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode_lesson(text: str) -> Lesson:
    """A lesson from its string or a whole link (`...?lesson=pl1...`); a malformed one raises `ConfigError`
    naming the lesson link (and the step, when one step's setup is the problem)."""
    text = (text or "").strip()
    if "lesson=" in text:
        text = text.split("lesson=", 1)[1].split("&", 1)[0].split("#", 1)[0]
    if not text.startswith(PREFIX) or len(text) > MAX_LENGTH:
        raise ConfigError("lesson link", _short(text), LESSON_HINT)
    body = text[len(PREFIX):]
    try:
        raw = zlib.decompressobj().decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), 200_000)
        payload = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        raise ConfigError("lesson link", _short(text), LESSON_HINT) from None
    if not (isinstance(payload, dict) and isinstance(payload.get("t"), str) and isinstance(payload.get("s"), list)
            and all(isinstance(s, list) and len(s) == 2 and all(isinstance(p, str) for p in s)
                    for s in payload["s"])):
        raise ConfigError("lesson link", _short(text), LESSON_HINT)
    if not 1 <= len(payload["s"]) <= MAX_STEPS:
        raise ConfigError("lesson link", f"{len(payload['s'])} steps", f"a lesson has 1 to {MAX_STEPS} steps")
    if len(payload["t"]) > MAX_TITLE or any(len(note) > MAX_NOTE for _, note in payload["s"]):
        raise ConfigError("lesson link", _short(text), f"titles stay under {MAX_TITLE} characters and notes "
                          f"under {MAX_NOTE}")
    for number, (setup, _) in enumerate(payload["s"], 1):
        try:
            decode(setup)
        except StudioError as err:
            raise ConfigError(f"lesson link, step {number}", _short(setup), f"its setup does not load ({err})") \
                from None
    return Lesson(payload["t"], tuple(Step(setup, note) for setup, note in payload["s"]))


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# The built-in lessons. Small data and few epochs, so each step trains in seconds on a laptop.
_POINTS = dict(samples=600, noise=0.05, epochs=60, patience=0)
_RARE = dict(samples=600, epochs=60, patience=0)
BUILT_IN: dict[str, Lesson] = {lesson.title: lesson for lesson in (
    Lesson("What a hidden layer adds", (
        step("Two hidden units are about as much as a straight line can do: on the circle they can cut the "
             "plane with a couple of folds, never close a ring. Train and look at the boundary.",
             "mlp", dataset="circle", widths=(2,), activations=("relu",), dropouts=(0.0,), residual=False,
             **_POINTS),
        step("Now one hidden layer of 16 units: each unit adds a fold, and together they close the ring. "
             "Compare the test accuracy with step 1.",
             "mlp", dataset="circle", widths=(16,), activations=("relu",), dropouts=(0.0,), residual=False,
             **_POINTS),
        step("XOR is the classic case a line cannot separate. With two units the network struggles; "
             "watch the boundary as it trains.",
             "mlp", dataset="xor", widths=(2,), activations=("relu",), dropouts=(0.0,), residual=False, **_POINTS),
        step("The same XOR with 16 hidden units. Then try the x·y input feature with 2 units: a good input "
             "does the hidden layer's job.",
             "mlp", dataset="xor", widths=(16,), activations=("relu",), dropouts=(0.0,), residual=False,
             **_POINTS),
    )),
    Lesson("Overfitting and regularisation", (
        step("Few noisy points and a big network, with no brakes: the training loss keeps falling while the "
             "validation loss turns up. That gap is overfitting.",
             "mlp", dataset="moons", samples=80, noise=0.35, widths=(256, 256, 256), dropouts=(0.0,) * 3,
             weight_decay=0.0, epochs=200, patience=0),
        step("The same, with dropout 0.3 on every layer: units switch off at random, so no single one can "
             "memorise a point. Compare the validation curve.",
             "mlp", dataset="moons", samples=80, noise=0.35, widths=(256, 256, 256), dropouts=(0.3,) * 3,
             weight_decay=0.0, epochs=200, patience=0),
        step("No dropout, but weight decay 0.05: big weights are pulled back towards zero, so the boundary "
             "stays smoother.",
             "mlp", dataset="moons", samples=80, noise=0.35, widths=(256, 256, 256), dropouts=(0.0,) * 3,
             weight_decay=0.05, epochs=200, patience=0),
        step("Early stopping: patience 15 ends the run when the validation loss has not improved for 15 "
             "epochs and restores the best epoch.",
             "mlp", dataset="moons", samples=80, noise=0.35, widths=(256, 256, 256), dropouts=(0.0,) * 3,
             weight_decay=0.0, epochs=200, patience=15),
    )),
    Lesson("Why convolutions for images", (
        step("An MLP on 8×8 digits sees 64 unrelated numbers: shift a stroke by one pixel and it is new "
             "input. Note the parameters and the test accuracy.",
             "mlp", dataset="digits", widths=(64, 64), activations=("relu",) * 2, dropouts=(0.1,) * 2,
             epochs=15, patience=0),
        step("A CNN slides small filters over the image, so a stroke is the same stroke anywhere. Compare "
             "parameters and accuracy with step 1, and look inside at the feature maps.",
             "cnn", dataset="digits", widths=(16, 32), epochs=15, patience=0),
    )),
    Lesson("When one class is rare", (
        step("Two overlapping clouds, half the points blue. Train, and note the test accuracy and how much of "
             "the plane the network gives to blue.",
             "mlp", dataset="gaussians", noise=0.5, widths=(16,), activations=("relu",), dropouts=(0.0,),
             residual=False, **_RARE),
        step("The same clouds with only one point in ten blue (class balance 0.1). The test accuracy goes up, "
             "yet the blue region shrinks and many blue rings land on orange: a network that always said "
             "orange would score 0.9. Accuracy alone hides a rare class.",
             "mlp", dataset="gaussians", noise=0.5, balance=0.1, widths=(16,), activations=("relu",),
             dropouts=(0.0,), residual=False, **_RARE),
    )),
    Lesson("Why order needs recurrence or attention", (
        step("Parity: is the number of ones odd? Every element matters. An RNN reads the sequence one step at "
             "a time and carries a running answer in its hidden state.",
             "rnn", dataset="parity", samples=2000, epochs=25, patience=0),
        step("The same task for a transformer: attention looks at all positions at once. Compare how fast "
             "each learns, and the attention maps inside.",
             "transformer", dataset="parity", samples=2000, epochs=25, patience=0),
        step("Sorted: is the sequence in order? The answer depends on neighbours. An RNN compares each step "
             "with what it remembers.",
             "rnn", dataset="sorted", samples=2000, epochs=25, patience=0),
        step("A transformer on sorted, with position vectors: without them attention could not tell which "
             "element comes first.",
             "transformer", dataset="sorted", samples=2000, epochs=25, patience=0),
    )),
)}
