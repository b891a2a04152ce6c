"""The Playground page's job view: what one refresh sends, kept cheap for the page process to encode."""

import numpy as np

from studio.events import EvalEvent, StepEvent
from studio.playground.config import defaults_for
from studio.ui.playground_view import PlaygroundView, curves

STATS, PICTURE, PREDICTIONS, INSIDE, LOSS, ACCURACY = range(6)
METRICS = {"train_loss": 0.6, "train_accuracy": 0.7, "val_loss": 0.5, "val_accuracy": 0.75, "test_loss": 0.55,
           "test_accuracy": 0.72, "learning_rate": 0.01}


def epoch(n: int, caption: str = "Each hidden unit's output") -> EvalEvent:
    picture = np.full((4, 4, 3), n, dtype=np.uint8)
    return EvalEvent(n * 10, float(n), METRICS, {"boundary": picture, "inside": picture, "inside_caption": caption})


def is_update(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def test_each_refresh_sends_numbers_plots_and_the_newest_pictures_at_once():
    view = PlaygroundView(defaults_for("mlp"))
    frame = view.update([StepEvent(10, 100, 1.0, 0.6), epoch(1)])
    assert "step **10/100**" in frame[STATS] and frame[PICTURE][0, 0, 0] == 1
    assert set(frame[LOSS]["series"]) == {"train", "val", "test"}
    quiet = view.update([StepEvent(12, 100, 1.2, 0.6)])  # no new epoch: only the numbers change
    assert "step **12/100**" in quiet[STATS] and all(is_update(v) for v in quiet[PICTURE:])


def test_the_inside_picture_carries_its_label_only_when_the_label_changes():
    # An update with a label makes Gradio rebuild the component (milliseconds a frame); a bare picture does not.
    view = PlaygroundView(defaults_for("mlp"))
    first = view.update([epoch(1)])[INSIDE]
    assert is_update(first) and first["label"] == "Each hidden unit's output"
    second = view.update([epoch(2)])[INSIDE]
    assert isinstance(second, np.ndarray) and second[0, 0, 0] == 2
    assert view.update([epoch(3, "Feature maps")])[INSIDE]["label"] == "Feature maps"


def test_plot_frames_have_float_columns_and_every_series():
    frame = curves([{"epoch": 1, **METRICS}], "loss", {"label": "before", "history": [{"epoch": 1, **METRICS}]})
    assert str(frame["epoch"].dtype) == "float64" and str(frame["value"].dtype) == "float64"
    assert set(frame["series"]) == {"train", "val", "test", "train (before)", "val (before)", "test (before)"}


def test_a_frame_due_just_before_the_end_waits_for_the_end(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("studio.ui.playground_view.time.monotonic", lambda: clock[0])
    view = PlaygroundView(defaults_for("mlp"))
    assert view.update([StepEvent(10, 1000, 1.0, 0.6), epoch(1)]) is not None
    clock[0] += 1.0  # 490 steps a second: 500 steps left are a second away
    assert view.update([StepEvent(500, 1000, 5.0, 0.6), epoch(5)]) is not None
    clock[0] += 1.0  # 985 steps in 2 s: the last 15 are 0.03 s away, the end's frame comes with them
    assert view.update([StepEvent(995, 1000, 9.9, 0.6), epoch(9)]) is None
    assert view.history[-1]["epoch"] == 9  # nothing is lost: the end's frame draws from the same history
