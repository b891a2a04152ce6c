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
