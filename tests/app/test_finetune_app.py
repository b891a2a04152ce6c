"""The Fine-tune tab through gradio_client: check, refusals, ownership between two visitors, stop, resume, failure."""

import time

import pytest
from gradio_client import Client, handle_file

API = "/finetune_train"
SMALL = dict(upload=None, example="colours-french", max_steps=6, eval_steps=3, logging_steps=1, batch_size=4)


def error_of(call) -> str:
    with pytest.raises(Exception) as err:
        call()
    return str(err.value).replace("&#x27;", "'")


def run_names(client) -> list[str]:
    table = client.predict(None, api_name="/finetune_runs")[0]
    rows = table["data"] if isinstance(table, dict) else table
    return [row[0] for row in rows]


def wait_for_steps(job, at_least: int = 1, timeout: float = 120) -> str:
    """Iterate a streaming train job until its status shows `at_least` steps; returns that status."""
    deadline = time.monotonic() + timeout
    for output in job:
        status = output[0] or ""
        if "step **" in status and int(status.split("step **")[1].split("/")[0]) >= at_least:
            return status
        assert time.monotonic() < deadline, status
    raise AssertionError(f"the job ended first: {job.outputs()[-1][0] if job.outputs() else None}")


def last_output(job, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.2)
    return job.outputs()[-1]


def test_check_shows_trainable_parameters_before_training(client):
    status = client.predict(api_name="/finetune_check", **SMALL)
    assert "trainable of" in status and "colours-french: 33 rows (instruction)" in status


def test_bad_upload_names_the_file_row_and_column(client, tmp_path):
    bad = tmp_path / "answers.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": 3}\n')
    message = error_of(lambda: client.predict(api_name=API, **(SMALL | dict(upload=[handle_file(str(bad))]))))
    assert "answers.jsonl line 2, column 'response': expected text" in message


def test_a_server_path_in_stage_data_is_refused_the_same_whether_or_not_it_exists(client, tmp_path):
    real = tmp_path / "secret.jsonl"
    real.write_text('{"prompt": "the secret", "response": "is here"}\n' * 20)
    messages = []
    for path in (str(real), str(tmp_path / "nothing-here.jsonl")):
        stages = f'[{{"name": "one", "data": "{path}"}}]'
        messages.append(error_of(lambda: client.predict(api_name="/finetune_check", **(SMALL | dict(stages=stages))))
                        .replace(path, "PATH"))
    assert messages[0] == messages[1] and "stage one data" in messages[0] and "cannot be named" in messages[0]
    assert "secret" not in messages[0]


@pytest.mark.parametrize("value", ["inf", "nan", 1e12, -1.0])  # strings: JSON has no inf or NaN
def test_absurd_learning_rates_are_refused_naming_the_field(client, value):
    message = error_of(lambda: client.predict(api_name=API, **(SMALL | dict(learning_rate=value))))
    assert "learning_rate" in message and "at most 10" in message


def test_steps_beyond_the_operator_limit_are_refused_naming_it(client):
    message = error_of(lambda: client.predict(api_name=API, **(SMALL | dict(max_steps=10**6))))
    assert "max_finetune_steps" in message and "1000000 steps" in message


def test_too_many_uploads_are_refused_naming_the_limit(client, tmp_path, studio_settings):
    files = []
    for i in range(studio_settings.max_uploads + 1):
        (tmp_path / f"d{i}.txt").write_text("a line\n")
        files.append(handle_file(str(tmp_path / f"d{i}.txt")))
    message = error_of(lambda: client.predict(api_name="/finetune_check", **(SMALL | dict(upload=files))))
    assert "max_uploads" in message


@pytest.mark.slow
def test_a_diverging_run_fails_and_is_listed_as_failed(client):
    message = error_of(lambda: client.predict(api_name=API, **(SMALL | dict(learning_rate=10.0, max_steps=12,
                                                                             eval_steps=20))))
    assert "failed: diverged at step" in message
    table = client.predict(None, api_name="/finetune_runs")[0]
    rows = table["data"] if isinstance(table, dict) else table
    assert rows and rows[0][1] == "failed"


@pytest.mark.slow
def test_two_visitors_own_their_runs_and_their_stops(studio_url, tmp_path):
    alice, bob = Client(studio_url, verbose=False), Client(studio_url, verbose=False)
    job = alice.submit(api_name=API, **(SMALL | dict(max_steps=300, eval_steps=100)))
    wait_for_steps(job, 1)
    alice_run = run_names(alice)[0]

    # Bob's Stop stops nothing of Alice's: her step count goes on.
    bob.predict(api_name="/finetune_stop")
    time.sleep(1.0)
    before = wait_for_steps(job, 1)
    after = wait_for_steps(job, int(before.split("step **")[1].split("/")[0]) + 2)
    assert "Stopped" not in after

    # Bob cannot see, resume, merge or export Alice's run: it reads exactly like a made-up name.
    assert alice_run not in run_names(bob)
    for api in ("/finetune_resume", "/finetune_merge", "/finetune_export"):
        theirs = error_of(lambda: bob.predict(alice_run, api_name=api))
        made_up = error_of(lambda: bob.predict("20990101-000000-0123456789abcdef", api_name=api))
        assert theirs.replace(alice_run, "X") == made_up.replace("20990101-000000-0123456789abcdef", "X")
        assert "no fine-tune run" in theirs
    compared = error_of(lambda: bob.predict([alice_run], api_name="/finetune_compare_runs"))
    assert "no fine-tune run" in compared or "not in the list of choices: []" in compared

    alice.predict(api_name="/finetune_stop")
    final = last_output(job)
    assert "**Stopped** at step" in final[0], final[0]


@pytest.mark.slow
def test_train_streams_progress_then_stop_and_resume(client, tmp_path):
    data = tmp_path / "facts.jsonl"
    data.write_text("".join(f'{{"prompt": "What is {a} and {a}?", "response": "{2 * a}"}}\n' for a in range(40)))
    job = client.submit(api_name=API, **(SMALL | dict(upload=[handle_file(str(data))], max_steps=200)))
    wait_for_steps(job, 2)
    client.predict(api_name="/finetune_stop")
    final = last_output(job, 60)
    assert "**Stopped** at step" in final[0], final[0]
    stopped_step = int(final[0].split("at step ")[1].split()[0])
    run_name = final[7] if isinstance(final[7], str) else final[7]["value"]
    assert stopped_step < 200

    job = client.submit(run_name, api_name="/finetune_resume")
    final = last_output(job, 300)
    assert "**Done** at step 200" in final[0], final[0]
    assert "Text" in final[4]
    runs = final[6]["data"] if isinstance(final[6], dict) else final[6]
    assert any(row[0] == run_name and row[1] == "finished" for row in runs)
    # the uploaded data was copied into the run, so Resume did not depend on Gradio's upload cache
    merged = client.predict(run_name, api_name="/finetune_merge")
    assert f"saved as run {run_name}/merged" in merged


def test_processes_control_is_bounded_by_the_machine_and_said_by_check(client):
    import os

    cores = len(os.sched_getaffinity(0))
    message = error_of(lambda: client.predict(api_name="/finetune_check", **(SMALL | dict(processes=cores + 1))))
    assert f"processes: {cores + 1} is more than this machine's {cores} CPU cores" in message
    if cores >= 2:
        status = client.predict(api_name="/finetune_check", **(SMALL | dict(processes=2)))
        assert "2 cpu processes" in status
