"""The training loop: reproducible, accumulation that steps a partial window, stop, best checkpoint."""


import pytest
import torch

from studio.events import DoneEvent, EvalEvent, StepEvent, start_run
from studio.playground.config import defaults_for
from studio.playground.curves import curve_rows
from studio.playground.pictures import BoundaryPainter, snapshot_for
from studio.playground.datasets import make_dataset
from studio.playground.training import schedule, train_playground

FAST = dict(samples=300, epochs=8, patience=0)


def test_same_seed_same_numbers():
    c = defaults_for("mlp", **FAST)
    a, b = train_playground(c), train_playground(c)
    assert [m.train_loss for m in a.history] == [m.train_loss for m in b.history]
    assert a.test_accuracy == b.test_accuracy


def test_accumulation_steps_the_last_partial_window():
    c = defaults_for("mlp", **FAST, batch_size=32, accumulation=3)
    result = train_playground(c)
    train_size = 300 - 75 - int((300 - 75) * c.val_fraction)
    batches = -(-train_size // 32)
    assert result.steps == c.epochs * -(-batches // 3)


def test_schedules_warm_up_then_decay():
    cosine = schedule("cosine", 10, 100)
    assert cosine(0) < cosine(5) < cosine(9) <= 1.0
    assert cosine(99) < 0.01
    assert schedule("linear", 0, 100)(50) == pytest.approx(0.5)
    assert schedule("none", 0, 100)(99) == 1.0


def test_stop_ends_within_one_step_and_keeps_best_model():
    c = defaults_for("mlp", samples=400, epochs=500, patience=0)
    seen_steps = []
    stop_at = 30

    def work(run):
        return train_playground(c, run)

    run = start_run(work)
    for event in run:
        if isinstance(event, StepEvent):
            seen_steps.append(event.step)
            if event.step == stop_at:
                run.request_stop()
        if isinstance(event, DoneEvent):
            result = event.result
            assert event.stopped
    # The step in flight when Stop arrived may finish; no more after it.
    assert result.stopped and result.steps <= stop_at + 1
    assert result.model is not None and 0 <= result.test_accuracy <= 1


def test_early_stopping_restores_the_best_epoch():
    c = defaults_for("mlp", samples=300, epochs=300, patience=5, learning_rate=0.05)
    result = train_playground(c)
    assert result.early_stopped and result.epochs < 300
    best = min(result.history, key=lambda m: m.val_loss)
    assert result.best_epoch == best.epoch
    assert result.test_loss == pytest.approx(best.test_loss, rel=1e-4)


def test_eval_events_carry_pictures_for_points_and_sequences():
    for model, data_name in (("mlp", "circle"), ("rnn", "parity")):
        c = defaults_for(model, dataset=data_name, samples=200, epochs=2, patience=0)
        data = make_dataset(c)
        run = start_run(lambda r: train_playground(c, r, data, snapshot_for(data), snapshot_every=0))
        extras = [e.extras for e in run if isinstance(e, EvalEvent)]
        assert len(extras) == 2
        if model == "mlp":
            painter = BoundaryPainter(data.test.x.numpy(), data.test.y.numpy(), extras[-1]["extent"])
            picture = painter.paint(extras[-1]["boundary"])
            assert picture.shape == (240, 240, 3) and picture.dtype.name == "uint8"
            assert len({tuple(p) for p in picture.reshape(-1, 3)[::97]}) > 3  # shaded, not blank
        else:
            assert extras[-1]["predictions"][0]["answer"] in ("even", "odd")


def test_curve_rows_are_long_format():
    rows = curve_rows([{"epoch": 1.0, "train_loss": 1, "val_loss": 2, "test_loss": 3,
                        "train_accuracy": 0.1, "val_accuracy": 0.2, "test_accuracy": 0.3}])
    assert {(r["series"], r["metric"]) for r in rows} == {(s, m) for s in ("train", "val", "test") for m in ("loss", "accuracy")}


@pytest.mark.slow
@pytest.mark.parametrize("model, target", [("mlp", 0.97), ("cnn", 0.95), ("rnn", 0.90), ("transformer", 0.90)])
def test_presets_reach_their_targets(model, target):
    torch.set_num_threads(1)
    result = train_playground(defaults_for(model))
    assert result.test_accuracy >= target, result.summary()
