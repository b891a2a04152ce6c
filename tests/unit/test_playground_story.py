"""The plain-language account of a finished run."""

from studio.playground.story import tell


def epochs(train, test):
    return [{"epoch": float(i), "train_accuracy": a, "test_accuracy": b, "val_accuracy": b,
             "train_loss": 1 - a, "val_loss": 1 - b, "test_loss": 1 - b} for i, (a, b) in enumerate(zip(train, test), 1)]


def test_overfitting_names_the_epoch_where_test_accuracy_turned():
    text = tell(epochs([0.8, 0.9, 0.95, 0.99, 1.0], [0.78, 0.88, 0.9, 0.85, 0.83]), best_epoch=3)
    assert "from epoch 3" in text and "fell from 0.90 to 0.83" in text and "rose" in text and "overfitting" in text
    assert "epoch 3, where the validation loss was lowest" in text


def test_underfitting_and_a_good_fit():
    assert "underfitting" in tell(epochs([0.5, 0.55], [0.5, 0.52]))
    assert "carries over" in tell(epochs([0.9, 0.97], [0.9, 0.96]))


def test_stop_and_early_stop_are_told():
    assert tell(epochs([0.9], [0.9]), stopped=True).startswith("You stopped the run after 1 epoch")
    assert tell(epochs([0.9], [0.9]), early=True).startswith("Early stopping")
    assert "nothing to tell" in tell([])
