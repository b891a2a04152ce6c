"""Lessons (setups with notes, as one link) and the overlay of a kept run on the plots."""

import base64
import json
import math
import zlib

import pytest

from studio.errors import ConfigError
from studio.playground.config import defaults_for
from studio.playground.curves import compared_rows
from studio.playground.form import form_values, parse_form
from studio.playground.lessons import (
    BUILT_IN, MAX_NOTE, MAX_STEPS, PREFIX, Lesson, Step, decode_lesson, encode_lesson, step,
)
from studio.playground.share import encode

from .test_playground_training import one_thread  # noqa: F401  (one torch thread, as in a worker)


def packed(payload) -> str:
    raw = json.dumps(payload).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


def test_the_built_in_lessons_cover_the_issue_and_class_balance():
    titles = " ".join(BUILT_IN).lower()
    assert len(BUILT_IN) == 5
    for word in ("hidden layer", "overfitting", "convolutions", "order", "rare"):
        assert word in titles


@pytest.mark.parametrize("title", list(BUILT_IN))
def test_every_built_in_step_loads_into_the_form_and_builds_a_config(title):
    lesson = BUILT_IN[title]
    assert len(lesson) >= 2 and all(s.note for s in lesson.steps)
    for s in lesson.steps:
        config = s.config
        assert parse_form(form_values(config)) == config  # what the form shows is what trains
    assert decode_lesson(encode_lesson(lesson)) == lesson


def test_built_in_lessons_compare_what_they_promise():
    models = {t: [s.config.model for s in lesson.steps] for t, lesson in BUILT_IN.items()}
    assert models["Why convolutions for images"] == ["mlp", "cnn"]
    assert {"rnn", "transformer"} <= set(models["Why order needs recurrence or attention"])
    overfit = [s.config for s in BUILT_IN["Overfitting and regularisation"].steps]
    assert overfit[0].samples <= 100 and max(overfit[0].widths) >= 128
    assert any(c.dropouts[0] > 0 for c in overfit) and any(c.weight_decay > overfit[0].weight_decay for c in overfit)
    assert any(c.patience > 0 for c in overfit)


def test_a_lesson_round_trips_exactly_through_its_string_and_a_link():
    lesson = Lesson("Shapes", (step("first", "mlp", dataset="circle"), step("two: é, \"quotes\"", "cnn")))
    text = encode_lesson(lesson)
    assert text.startswith(PREFIX) and all(ch.isalnum() or ch in "-_." for ch in text)
    assert decode_lesson(text) == lesson and encode_lesson(decode_lesson(text)) == text
    assert decode_lesson(f"http://127.0.0.1:7860/?lesson={text}&x=1") == lesson


def test_a_teacher_adds_steps_one_by_one():
    lesson = Lesson("Mine", ())
    lesson = lesson.adding(defaults_for("mlp", seed=3), "  look   at the   boundary ")
    lesson = lesson.adding(defaults_for("rnn"), "")
    assert [s.config.model for s in lesson.steps] == ["mlp", "rnn"] and lesson.steps[0].note == "look at the boundary"
    assert lesson.steps[0].config.seed == 3
    with pytest.raises(ConfigError, match="^step note"):
        lesson.adding(defaults_for("mlp"), "x" * (MAX_NOTE + 1))
    full = Lesson("Full", (Step(encode(defaults_for("mlp")), "n"),) * MAX_STEPS)
    with pytest.raises(ConfigError, match="^lesson"):
        full.adding(defaults_for("mlp"), "one too many")


GOOD = encode(defaults_for("mlp"))


@pytest.mark.parametrize("text, named", [
    ("", "lesson link"),
    ("pg1.abc", "lesson link"),  # a setup, not a lesson
    ("pl1.!!!notbase64", "lesson link"),
    (PREFIX + base64.urlsafe_b64encode(b"not zlib").decode(), "lesson link"),
    (packed([1, 2]), "lesson link"),
    (packed({"t": "x", "s": []}), "lesson link"),
    (packed({"t": "x", "s": [[GOOD]]}), "lesson link"),
    (packed({"t": "x", "s": [[GOOD, 3]]}), "lesson link"),
    (packed({"t": "x", "s": [[GOOD, "n"]] * (MAX_STEPS + 1)}), "lesson link"),
    (packed({"t": "x", "s": [[GOOD, "n" * (MAX_NOTE + 1)]]}), "lesson link"),
    (packed({"t": "x", "s": [[GOOD, "fine"], ["pg1.broken", "bad"]]}), "lesson link, step 2"),
    ("pl1." + "A" * 30000, "lesson link"),
])
def test_a_malformed_lesson_is_refused_with_a_named_message(text, named):
    with pytest.raises(ConfigError) as err:
        decode_lesson(text)
    assert str(err.value).startswith(named)


def history(epochs):
    return [{"epoch": float(e), **{f"{s}_{m}": 0.5 for s in ("train", "val", "test") for m in ("loss", "accuracy")}}
            for e in range(1, epochs + 1)]


def test_a_kept_run_is_overlaid_under_its_label():
    rows = compared_rows(history(3), "loss", history(5), "batch norm on")
    series = {r["series"] for r in rows}
    assert series == {"train", "val", "test", "train (batch norm on)", "val (batch norm on)", "test (batch norm on)"}
    assert sum(r["series"] == "val (batch norm on)" for r in rows) == 5
    assert {r["metric"] for r in rows} == {"loss"}


def test_every_frame_names_every_series_from_the_first_one():
    # Gradio's LinePlot keeps the first frame's colours: series with no point yet get a NaN row.
    rows = compared_rows([], "accuracy", history(4), "kept")
    blanks = [r for r in rows if r["series"] in ("train", "val", "test")]
    assert len(blanks) == 3 and all(math.isnan(r["value"]) for r in blanks)
    assert all(r["epoch"] == 1.0 for r in blanks)
    assert {r["series"] for r in compared_rows(history(2), "loss")} == {"train", "val", "test"}  # nothing kept


@pytest.mark.slow
def test_the_rare_class_lesson_shows_accuracy_rising_while_blue_is_missed():
    import torch

    from studio.playground.datasets import make_dataset
    from studio.playground.training import train_playground

    even, rare = (s.config for s in BUILT_IN["When one class is rare"].steps)
    assert even.replace(balance=0.1) == rare
    found = {}
    for config in (even, rare):
        data = make_dataset(config)
        result = train_playground(config, None, data)
        with torch.no_grad():
            said = result.model(data.test.x).argmax(1)
        blue = data.test.y == 0
        found[config.balance] = (result.test_accuracy, float((said[blue] == 0).float().mean()))
    assert found[0.1][0] > found[0.5][0]  # accuracy goes up ...
    assert found[0.1][1] < found[0.5][1] - 0.15  # ... while far fewer blue points are found
