"""Form values and share strings: round trips, and messages that name the bad field."""

import pytest

from studio.errors import ConfigError
from studio.playground.config import MODELS, PlaygroundConfig, defaults_for
from studio.playground.form import form_values, parse_form
from studio.playground.share import decode, encode


@pytest.mark.parametrize("model", list(MODELS))
def test_round_trips(model):
    c = defaults_for(model, seed=7)
    assert parse_form(form_values(c)) == c
    assert decode(encode(c)) == c


def test_per_layer_lists():
    values = form_values(defaults_for("mlp")) | {"layers": 2, "width": "64, 32", "activation": "relu, tanh", "dropout": "0.1"}
    c = parse_form(values)
    assert c.widths == (64, 32) and c.activations == ("relu", "tanh") and c.dropouts == (0.1, 0.1)


def test_share_string_is_short_and_url_friendly():
    text = encode(defaults_for("mlp", widths=(64, 32), activations=("relu", "tanh"), dropouts=(0.1, 0.0), seed=3))
    assert len(text) < 160 and all(ch.isalnum() or ch in "-_." for ch in text)
    assert decode(f"http://127.0.0.1:7860/?setup={text}&x=1") == decode(text)


@pytest.mark.parametrize("field, value, named", [
    ("layers", 0, "layers"),
    ("width", "abc", "width"),
    ("width", "64, 32", "width"),  # two widths for three layers
    ("learning_rate", -0.1, "learning rate"),
    ("learning_rate", "", "learning rate"),
    ("activation", "softmaxx", "activation"),
    ("dropout", "1.5", "dropout"),
    ("epochs", 0, "epochs"),
    ("batch_size", 2.5, "batch size"),
    ("dataset", "digits", None),  # fine for an MLP
])
def test_bad_fields_are_named(field, value, named):
    values = form_values(defaults_for("mlp")) | {field: value}
    if named is None:
        assert parse_form(values).dataset == "digits"
        return
    with pytest.raises(ConfigError) as err:
        parse_form(values)
    assert str(err.value).startswith(named)


@pytest.mark.parametrize("field, value, named", [
    ("learning_rate", float("inf"), "learning rate"),
    ("learning_rate", float("nan"), "learning rate"),
    ("learning_rate", 1e12, "learning rate"),
    ("learning_rate", "inf", "learning rate"),
    ("epochs", 1e9, "epochs"),
    ("epochs", float("inf"), "epochs"),
    ("samples", float("nan"), "samples"),
    ("batch_size", float("-inf"), "batch size"),
    ("weight_decay", float("nan"), "weight decay"),
    ("clip_norm", float("inf"), "gradient clipping"),
    ("noise", float("nan"), "noise"),
    ("test_fraction", float("inf"), "test fraction"),
    ("warmup_steps", 1e300, "warmup steps"),
    ("seed", float("inf"), "seed"),
    ("width", "inf", "width"),
    ("width", "1e9", "width"),
    ("dropout", "nan", "dropout"),
    ("layers", float("inf"), "layers"),
    ("features", [], "features"),
    ("features", ["x", "z"], "features"),
    ("balance", 0.95, "class balance"),
    ("balance", float("nan"), "class balance"),
])
def test_non_finite_and_absurd_numbers_are_refused_by_field(field, value, named):
    values = form_values(defaults_for("mlp")) | {field: value}
    with pytest.raises(ConfigError) as err:
        parse_form(values)
    assert str(err.value).startswith(named), str(err.value)


def test_features_noise_and_test_fraction_travel_in_the_share_string():
    c = parse_form(form_values(defaults_for("mlp", dataset="circle")) | {
        "features": ["y2", "x2"], "noise": 0.35, "test_fraction": 0.4})
    assert c.features == ("x2", "y2")  # one order, whatever order the boxes were ticked in
    again = decode(encode(c))
    assert (again.features, again.noise, again.test_fraction) == (("x2", "y2"), 0.35, 0.4)
    assert form_values(again)["features"] == ["x2", "y2"]


def test_class_balance_travels_in_the_share_string_and_old_strings_load_even():
    c = parse_form(form_values(defaults_for("mlp", dataset="moons")) | {"balance": 0.2})
    assert c.balance == 0.2 and decode(encode(c)).balance == 0.2
    assert form_values(c)["balance"] == 0.2
    # Copied from the Share box before the balance control existed: it loads, with an even balance.
    old = decode("pg1.eNqrVsrNT0nNUbJSys0pUNJRSkksSSxOLQHykzOLknNSgUJ5-ZnFqUpWBnrGOkrFqakpSlamtQDwiBE0")
    assert old == defaults_for("mlp", dataset="circle", noise=0.3, seed=5) and old.balance == 0.5


def test_dataset_must_fit_the_model():
    with pytest.raises(ConfigError, match="dataset"):
        PlaygroundConfig(model="cnn", dataset="spiral")


def _packed(payload: bytes) -> str:
    import base64
    import zlib

    return "pg1." + base64.urlsafe_b64encode(zlib.compress(payload)).decode()


@pytest.mark.parametrize("garbage", [
    "", "garbage", "pg1.", "pg1.!!!!", "pg1." + "A" * 50, "pg1." + "A" * 3000,
    _packed(b"not json"), _packed(b"[1, 2]"), _packed(b'{"model": "mlp", "colour": "red"}'),
    _packed(b'{"model": "mlp", "epochs": "many"}'), _packed(b'{"model": "gpt"}'), _packed(b'{"epochs": 3}'),
])
def test_garbage_share_strings_are_refused_clearly(garbage):
    # A well-packed string with one bad value is refused naming that field instead.
    with pytest.raises(ConfigError, match="^(share string|epochs|model)"):
        decode(garbage)
