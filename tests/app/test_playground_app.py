"""Layer 2: the Playground through its public API, on a launched server."""

import json
import time

import pytest
from gradio_client.exceptions import AppError

from studio.playground.config import defaults_for
from studio.playground.form import form_values
from studio.playground.share import encode


def form(**changes):
    return form_values(defaults_for("mlp", samples=400, epochs=40, patience=0)) | changes


def test_train_streams_plots_and_finishes(client):
    job = client.submit(**form(samples=1000, epochs=100), api_name="/playground_train")  # a few seconds
    partials = [out for out in job]
    stats, boundary, _, loss_plot, acc_plot, log, share, files = job.outputs()[-1]
    assert len(partials) >= 2  # live updates, not one answer at the end
    assert stats.startswith("**Done.**") and "test accuracy" in stats
    assert boundary and loss_plot["data"] and acc_plot["data"]
    assert "finished after 100 epochs" in log
    assert share == encode(defaults_for("mlp", samples=1000, epochs=100, patience=0))
    weights, record = (f if isinstance(f, str) else f["path"] for f in files)
    assert weights.endswith("model.pt") and record.endswith("record.json")
    saved = json.loads(open(record).read())
    assert saved["setup"] == share and saved["result"]["steps"] > 0 and saved["versions"]["torch"]


def test_stop_ends_the_run_and_keeps_the_best_model(client):
    job = client.submit(**form(epochs=2000, samples=2000), api_name="/playground_train")
    time.sleep(2.0)
    started = time.monotonic()
    client.predict(api_name="/playground_stop")
    while not job.done():
        time.sleep(0.05)
    assert time.monotonic() - started < 3.0
    stats = job.outputs()[-1][0]
    assert stats.startswith("**Stopped.**") and "restored" in stats


@pytest.mark.parametrize("changes, named", [
    (dict(layers=0), "layers"),
    (dict(width="wide"), "width"),
    (dict(learning_rate=-1), "learning rate"),
    (dict(dropout="0.1, 0.2"), "dropout"),
])
def test_bad_settings_give_a_clear_message(client, changes, named):
    with pytest.raises(AppError) as err:
        client.predict(**form(**changes), api_name="/playground_train")
    message = str(err.value)
    assert message.startswith(named) and "Traceback" not in message


def test_share_string_loads_the_setup(client):
    setup = defaults_for("rnn", widths=(48,), rnn_cell="gru", seed=5)
    out = client.predict(encode(setup), api_name="/playground_load")
    assert out[0] == "rnn" and out[6] == "48" and out[11] == "gru" and out[4] == 5
    with pytest.raises(AppError, match="share string"):
        client.predict("pg1.nonsense", api_name="/playground_load")


def test_server_survives_bad_input_and_trains_again(client):
    with pytest.raises(AppError):
        client.predict(**form(layers=-3), api_name="/playground_train")
    stats = client.predict(**form(epochs=3), api_name="/playground_train")[0]
    assert stats.startswith("**Done.**")
