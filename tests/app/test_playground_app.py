"""Layer 2: the Playground through its public API, on a launched server (training in worker processes)."""

import json
import threading
import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.playground.config import defaults_for
from studio.playground.form import FORM_FIELDS, form_values
from studio.playground.share import encode

# Outputs of /playground_train, in order.
STATS, PICTURE, PREDICTIONS, INSIDE, LOSS, ACCURACY, STORY, LOG, FILES = range(9)


def form(model="mlp", **changes):
    base = dict(samples=400, epochs=40, patience=0) if model == "mlp" else dict(samples=300, epochs=3, patience=0)
    return form_values(defaults_for(model, **base)) | changes


def paths(files):
    return [f if isinstance(f, str) else f["path"] for f in files]


@pytest.mark.slow
def test_train_streams_plots_and_finishes(client):
    job = client.submit(**form(samples=1000, epochs=100), api_name="/playground_train")  # a few seconds
    partials = [out for out in job]
    out = job.outputs()[-1]
    assert len(partials) >= 2  # live updates, not one answer at the end
    assert out[STATS].startswith("**Done.**") and "test accuracy" in out[STATS]
    assert out[PICTURE] and out[INSIDE] and out[LOSS]["data"] and out[ACCURACY]["data"]
    assert "finished after 100 epochs" in out[LOG] and out[STORY].startswith("**What happened:**")
    weights, record = paths(out[FILES])
    assert weights.endswith("model.pt") and record.endswith("record.json")
    saved = json.loads(open(record).read())
    assert saved["setup"] == encode(defaults_for("mlp", samples=1000, epochs=100, patience=0))
    assert saved["result"]["steps"] > 0 and saved["versions"]["torch"] and saved["story"]


@pytest.mark.slow
@pytest.mark.parametrize("model, dataset", [("rnn", "parity"), ("rnn", "sorted"), ("transformer", "majority"),
                                            ("cnn", "digits"), ("resmlp", "digits")])
def test_every_architecture_trains_through_the_api(client, model, dataset):
    changes = dict(widths=(8, 8)) if model == "cnn" else {}
    values = form_values(defaults_for(model, dataset=dataset, samples=300, epochs=2, patience=0, **changes))
    out = client.predict(**values, api_name="/playground_train")
    assert out[STATS].startswith("**Done.**"), out[STATS]
    assert out[INSIDE]  # hidden state, attention maps, feature maps
    if model in ("rnn", "transformer"):
        assert out[PREDICTIONS]["data"]


def test_batch_norm_with_a_last_batch_of_one_row_trains(client):
    # 300 samples -> 192 training rows after test and validation: batches of 191 leave one row over.
    out = client.predict(**form(samples=300, epochs=2, batch_size=191, batch_norm=True), api_name="/playground_train")
    assert out[STATS].startswith("**Done.**")
    with pytest.raises(AppError, match="^batch size"):
        client.predict(**form(batch_size=1, batch_norm=True), api_name="/playground_train")


# JSON has no infinity or NaN: gradio_client refuses to send float("inf"), so a caller sends them as text.
@pytest.mark.parametrize("field, value, named", [
    ("learning_rate", "inf", "learning rate"),
    ("learning_rate", "Infinity", "learning rate"),
    ("learning_rate", 1e12, "learning rate"),
    ("epochs", 1e9, "epochs"),
    ("epochs", "inf", "epochs"),
    ("samples", "nan", "samples"),
    ("noise", "nan", "noise"),
    ("layers", 0, "layers"),
    ("width", "wide", "width"),
    ("learning_rate", -1, "learning rate"),
    ("dropout", "0.1, 0.2", "dropout"),
    ("features", [], "features"),
    ("balance", 0.97, "class balance"),
])
def test_bad_settings_give_a_clear_message(client, field, value, named):
    with pytest.raises(AppError) as err:
        client.predict(**form(**{field: value}), api_name="/playground_train")
    message = str(err.value)
    assert message.startswith(named) and "Traceback" not in message


@pytest.mark.slow
def test_stop_ends_the_run_and_keeps_the_best_model(client):
    job = client.submit(**form(epochs=2000, samples=2000), api_name="/playground_train")
    for out in job:
        if isinstance(out[LOSS], dict) and out[LOSS].get("data"):  # an epoch has been drawn: it is training
            break
    started = time.monotonic()
    client.predict(api_name="/playground_stop")
    while not job.done():
        time.sleep(0.05)
    assert time.monotonic() - started < 3.0
    out = job.outputs()[-1]
    assert out[STATS].startswith("**Stopped.**") and "restored" in out[STATS]
    assert paths(out[FILES])[0].endswith("model.pt")


@pytest.mark.slow
def test_one_visitors_stop_leaves_anothers_training_alone(studio_url):
    alice, bob = Client(studio_url, verbose=False), Client(studio_url, verbose=False)
    job = alice.submit(**form(epochs=2000, samples=2000), api_name="/playground_train")
    steps = []

    def watch():
        for out in job:
            if "step **" in out[STATS]:
                steps.append(int(out[STATS].split("step **")[1].split("/")[0]))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deadline = time.monotonic() + 60
    while not steps and time.monotonic() < deadline:
        time.sleep(0.1)
    assert steps, "alice's run did not start"
    bob.predict(api_name="/playground_stop")
    seen = len(steps)
    time.sleep(2.5)
    assert not job.done() and len(steps) > seen and steps[-1] > steps[seen - 1]  # still training
    alice.predict(api_name="/playground_stop")
    watcher.join(10)
    assert job.outputs()[-1][STATS].startswith("**Stopped.**")


def test_share_string_loads_the_setup(client):
    setup = defaults_for("rnn", widths=(48,), rnn_cell="gru", seed=5)
    out = client.predict(encode(setup), api_name="/playground_load")
    shown = dict(zip(FORM_FIELDS, out))
    assert shown["model"] == "rnn" and shown["width"] == "48" and shown["rnn_cell"] == "gru" and shown["seed"] == 5
    with pytest.raises(AppError, match="share string"):
        client.predict("pg1.nonsense", api_name="/playground_load")


def test_class_balance_trains_through_the_api_and_travels_in_the_share_string(client):
    out = client.predict(**form(dataset="gaussians", balance=0.2, epochs=2), api_name="/playground_train")
    assert out[STATS].startswith("**Done.**"), out[STATS]
    assert all(p.endswith(".png") for p in paths([out[PICTURE], out[INSIDE]]))  # PNG: quicker to encode than WebP
    record = json.loads(open(paths(out[FILES])[1]).read())
    shown = dict(zip(FORM_FIELDS, client.predict(record["setup"], api_name="/playground_load")))
    assert shown["balance"]["value"] == 0.2 and shown["balance"]["visible"] and shown["dataset"]["value"] == "gaussians"


def test_server_survives_bad_input_and_trains_again(client):
    with pytest.raises(AppError):
        client.predict(**form(layers=-3), api_name="/playground_train")
    assert client.predict(**form(epochs=3), api_name="/playground_train")[STATS].startswith("**Done.**")
