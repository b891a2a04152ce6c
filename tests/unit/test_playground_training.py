"""The training loop: reproducible, accumulation that steps a partial window, stop, best checkpoint,
batch norm with a last batch of one row, and a run that diverges ending as failed."""

import math

import pytest
import torch

from studio.errors import ConfigError
from studio.events import EvalEvent, StepEvent
from studio.playground.config import defaults_for
from studio.playground.curves import curve_rows
from studio.playground.datasets import make_dataset
from studio.playground.training import TrainingDiverged, epoch_batches, schedule, train_playground


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks train fastest on one thread (as in a Playground worker); two fight over a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class StopAfter:
    """A run handle that asks to stop after `checks` looks at the flag (one per step), recording its events."""

    def __init__(self, checks: int = 10**9):
        self.checks, self.events = checks, []

    def emit(self, event):
        self.events.append(event)

    @property
    def should_stop(self) -> bool:
        self.checks -= 1
        return self.checks < 0

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


def test_training_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_playground(defaults_for("mlp", samples=100, epochs=1, patience=0))
    assert torch.equal(torch.rand(3), expected)


def test_stop_ends_within_one_step_and_keeps_best_model():
    c = defaults_for("mlp", samples=400, epochs=500, patience=0)
    run = StopAfter(30)
    result = train_playground(c, run)
    # The step in flight when Stop arrived finishes; no more after it, and no evaluation of a partial epoch.
    assert result.stopped and result.steps == 31
    assert result.model is not None and 0 <= result.test_accuracy <= 1
    assert result.epochs == len(result.history) == 3  # 8 steps an epoch: only whole epochs are kept
    assert result.best_epoch == min(result.history, key=lambda m: m.val_loss).epoch


def test_step_events_are_throttled_but_the_last_step_is_always_sent():
    c = defaults_for("mlp", samples=300, epochs=20, patience=0)
    run = StopAfter()
    result = train_playground(c, run, step_every=10.0)
    steps = [e.step for e in run.events if isinstance(e, StepEvent)]
    assert steps == [1, result.steps]
    every = StopAfter()
    train_playground(c, every, step_every=0)
    assert len([e for e in every.events if isinstance(e, StepEvent)]) == result.steps


@pytest.mark.parametrize("model, changes", [
    ("mlp", dict(batch_norm=True)),
    ("resmlp", {}),
])
def test_batch_norm_trains_when_a_last_batch_has_one_row(model, changes):
    # 300 samples: 225 train, 225 - int(225 * 0.15) = 192 after validation; batch 191 leaves 1 row over.
    c = defaults_for(model, samples=300, epochs=2, patience=0, batch_size=191, **changes)
    result = train_playground(c)
    assert result.steps == 2 and math.isfinite(result.test_loss)


def test_a_last_batch_of_one_is_kept_without_batch_norm():
    order = torch.arange(9)
    assert [len(b) for b in epoch_batches(order, 4, drop_single=False)] == [4, 4, 1]
    assert [len(b) for b in epoch_batches(order, 4, drop_single=True)] == [4, 4]
    assert [len(b) for b in epoch_batches(torch.arange(1), 4, drop_single=True)] == [1]


@pytest.mark.parametrize("model, changes", [("mlp", dict(batch_norm=True)), ("resmlp", {}), ("cnn", {})])
def test_batch_size_one_with_batch_norm_is_refused_by_name(model, changes):
    with pytest.raises(ConfigError, match="^batch size.*batch norm"):
        defaults_for(model, batch_size=1, **changes)
    assert defaults_for("mlp", batch_size=1).batch_size == 1  # without batch norm it is fine


def test_a_loss_that_becomes_nan_fails_as_diverged():
    c = defaults_for("mlp", samples=300, epochs=3, patience=0)
    data = make_dataset(c)
    data.train.x[5] = float("nan")  # one poisoned example: the batch holding it has a NaN loss
    with pytest.raises(TrainingDiverged, match=r"^failed: diverged at step \d+") as err:
        train_playground(c, StopAfter(), data)
    assert 1 <= err.value.step <= 7  # within the first epoch (7 batches of 32)


def test_early_stopping_restores_the_best_epoch():
    c = defaults_for("mlp", samples=300, epochs=300, patience=5, learning_rate=0.05)
    result = train_playground(c)
    assert result.early_stopped and result.epochs < 300
    best = min(result.history, key=lambda m: m.val_loss)
    assert result.best_epoch == best.epoch
    assert result.test_loss == pytest.approx(best.test_loss, rel=1e-4)


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


@pytest.mark.parametrize("model, dataset", [("mlp", "moons"), ("rnn", "parity")])
def test_one_pass_over_validation_and_test_gives_each_its_own_numbers(model, dataset):
    from studio.playground.models import build_model
    from studio.playground.training import HeldOut, Split

    data = make_dataset(defaults_for(model, dataset=dataset, samples=300))
    net = build_model(defaults_for(model, dataset=dataset), data).train()
    val, test = data.train.subset(torch.arange(40)), data.test
    joined = HeldOut(val, test, batch=64).evaluate(net)  # several batches, one split across two of them
    for (loss, accuracy), split in zip(joined, (val, test)):
        logits = net.eval()(split.x) if split.lengths is None else net.eval()(split.x, split.lengths)
        assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, split.y).item(), rel=1e-5)
        assert accuracy == pytest.approx((logits.argmax(1) == split.y).float().mean().item())
    empty = Split(test.x[:0], test.y[:0], None if test.lengths is None else test.lengths[:0])
    assert all(math.isnan(v) for v in HeldOut(empty, test).evaluate(net)[0])
    assert net.training is False  # it was in eval mode when HeldOut was called: it is left as it was


def test_pictures_between_the_first_and_the_last_are_taken_beside_the_loop_of_the_weights_asked_for():
    """The first and last pictures come from the loop itself (the page's first frame has one; the last shows the
    final weights); the ones between from a thread beside it, each of a copy of the weights when it was asked
    (training goes on meanwhile, so the copy, not the model, is what it pictures)."""
    import threading

    taken = []

    def snapshot(model):
        taken.append((threading.current_thread().name, model.head.weight.detach().clone()))
        return {"n": len(taken)}

    config = defaults_for("mlp", dataset="xor", samples=300, epochs=30, patience=0)
    run = StopAfter()
    train_playground(config, run, snapshot=snapshot, snapshot_every=0.0)
    extras = [e.extras for e in run.events if isinstance(e, EvalEvent)]
    assert extras[0] == {"n": 1} and extras[-1] == {"n": len(taken)}
    names = [name for name, _ in taken]
    assert names[0] == names[-1] == threading.current_thread().name
    assert len(names) >= 4 and all(name.startswith("snapshots") for name in names[1:-1])
    assert not torch.equal(taken[1][1], taken[-2][1])  # copies of weights that training had moved on
    shown = [e["n"] for e in extras if e]
    assert shown == sorted(shown) and len(set(shown)) == len(shown)  # each picture reaches the page once, in order
    assert not any(t.name.startswith("snapshots") for t in threading.enumerate())  # the thread ends with the run
