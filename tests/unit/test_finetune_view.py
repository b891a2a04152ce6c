"""The Fine-tune page's pure parts: what the loss plot is given, and the ETA from measured step time."""

import pytest

from studio.ui.finetune_view import StepClock, loss_frame, lr_frame, progress_line

LOGS = [{"step": 0, "stage": "train", "eval_loss": 3.0},
        {"step": 1, "stage": "train", "loss": 3.2, "learning_rate": 1e-3, "grad_norm": 1.0},
        {"step": 2, "stage": "train", "loss": 2.9, "learning_rate": 9e-4, "grad_norm": 1.0},
        {"step": 2, "stage": "train", "eval_loss": 2.7}]


def test_the_loss_plot_gets_train_and_eval_loss_and_the_lr_plot_the_learning_rate():
    frame = loss_frame(LOGS)
    assert set(frame["series"]) == {"train loss", "eval loss"}
    assert list(frame[frame["series"] == "train loss"]["value"]) == [3.2, 2.9]
    assert list(lr_frame(LOGS)["value"]) == [1e-3, 9e-4]


def test_the_eta_waits_for_the_warm_up_then_uses_the_measured_step_time():
    clock = StepClock(warmup=3)
    clock.tick(1, 0.0)
    clock.tick(2, 30.0)  # the first steps include loading and the first evaluation: not counted
    assert clock.eta(2, 100) is None and "ETA after 3 steps" in progress_line(2, 100, clock)
    clock.tick(4, 31.0)
    for step, now in ((5, 31.5), (6, 32.0), (8, 33.0)):
        clock.tick(step, now)
    assert clock.rate() == pytest.approx(2.0)  # 4 steps in 2 s after the warm-up
    assert clock.eta(8, 100) == pytest.approx(46.0)
    assert "ETA 46s" in progress_line(8, 100, clock) and "2.00 steps/s" in progress_line(8, 100, clock)
    assert "past the 0.5-minute limit" in progress_line(8, 100, clock, limit_s=30)


def test_the_first_loss_frame_names_both_series_so_the_plot_keeps_a_colour_for_each():
    from studio.ui.finetune_view import loss_frame

    frame = loss_frame([{"step": 0, "eval_loss": 8.1}])  # an eval at step 0 comes before any train loss
    assert set(frame["series"]) == {"train loss", "eval loss"}
    assert frame[frame["series"] == "train loss"]["value"].isna().all()
