"""A finished run told in plain words: what the curves say, for a learner who cannot read them yet.

A pure function of the per-epoch history (dicts with train/val/test loss and
accuracy), so the page, the CLI and the tests all tell the same story.
"""

from __future__ import annotations

from collections.abc import Sequence

GAP = 0.02  # accuracy differences smaller than this are noise on toy data sets


def _at(history: Sequence[dict], epoch: int) -> dict:
    return next(m for m in history if int(m["epoch"]) == epoch)


def tell(history: Sequence[dict], best_epoch: int = 0, stopped: bool = False, early: bool = False) -> str:
    """A few sentences on how the run went and what to try next."""
    if not history:
        return "The run ended before its first epoch, so there is nothing to tell yet."
    last = history[-1]
    peak = max(history, key=lambda m: (m["test_accuracy"], -m["epoch"]))
    sentences = []
    if stopped:
        sentences.append(f"You stopped the run after {len(history)} epoch(s).")
    elif early:
        sentences.append(f"Early stopping ended the run after {len(history)} epochs: the validation loss had "
                         "not improved for a while.")
    fell = peak["test_accuracy"] - last["test_accuracy"]
    rose = last["train_accuracy"] - _at(history, int(peak["epoch"]))["train_accuracy"]
    if fell >= GAP and rose > 0:
        sentences.append(
            f"Test accuracy fell from {peak['test_accuracy']:.2f} to {last['test_accuracy']:.2f} while training "
            f"accuracy rose from {_at(history, int(peak['epoch']))['train_accuracy']:.2f} to "
            f"{last['train_accuracy']:.2f}, from epoch {int(peak['epoch'])} on: the network began to memorise its "
            "training examples (overfitting). More data, dropout, weight decay or fewer epochs help.")
    elif last["train_accuracy"] < 0.7:
        sentences.append(
            f"Training accuracy reached only {last['train_accuracy']:.2f}: the network did not fit even its "
            "training data (underfitting). Try more epochs, a larger learning rate, or a wider or deeper network.")
    elif last["train_accuracy"] - last["test_accuracy"] >= 0.1:
        sentences.append(
            f"Training accuracy ({last['train_accuracy']:.2f}) is well above test accuracy "
            f"({last['test_accuracy']:.2f}): the network fits its own examples better than new ones.")
    else:
        sentences.append(
            f"Test accuracy ({last['test_accuracy']:.2f}) stayed close to training accuracy "
            f"({last['train_accuracy']:.2f}): what the network learned carries over to examples it never saw.")
    if best_epoch:
        sentences.append(f"The saved model is the one from epoch {best_epoch}, where the validation loss was lowest.")
    return " ".join(sentences)
