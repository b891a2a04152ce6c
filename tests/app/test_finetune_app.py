"""The Fine-tune tab through gradio_client: check, train with streamed progress, bad uploads, stop and resume."""

import time

import pytest
from gradio_client import handle_file

API = "/finetune_train"
SMALL = dict(upload=None, example="colours-french", max_steps=6, eval_steps=3, logging_steps=1, batch_size=4)


def test_check_shows_trainable_parameters_before_training(client):
    status = client.predict(api_name="/finetune_check", **SMALL)
    assert "trainable of" in status and "colours-french: 33 rows (instruction)" in status


def test_bad_upload_names_the_file_row_and_column(client, tmp_path):
    bad = tmp_path / "answers.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": 3}\n')
    with pytest.raises(Exception) as err:
        client.predict(api_name=API, **(SMALL | dict(upload=handle_file(str(bad)))))
    assert "answers.jsonl line 2, column &#x27;response&#x27;: expected text" in str(err.value) \
        or "answers.jsonl line 2, column 'response': expected text" in str(err.value)


@pytest.mark.slow
def test_train_streams_progress_then_stop_and_resume(client, tmp_path, studio_settings):
    data = tmp_path / "facts.jsonl"
    data.write_text("".join(f'{{"prompt": "What is {a} and {a}?", "response": "{2 * a}"}}\n' for a in range(40)))
    job = client.submit(api_name=API, **(SMALL | dict(upload=handle_file(str(data)), max_steps=200)))
    statuses = []
    for output in job:
        statuses.append(output[0])
        if "step **" in output[0] and "step **0/" not in output[0] and len(statuses) > 2:
            client.predict(api_name="/finetune_stop")
            break
    deadline = time.monotonic() + 60
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.2)
    final = job.outputs()[-1]
    assert "**Stopped** at step" in final[0], final[0]
    stopped_step = int(final[0].split("at step ")[1].split()[0])
    run_name = final[7] if isinstance(final[7], str) else final[7]["value"]
    assert stopped_step < 200

    job = client.submit(run_name, api_name="/finetune_resume")
    first_status = None
    for output in job:
        if "step **" in output[0] and first_status is None:
            first_status = output[0]
    final = job.outputs()[-1]
    assert "**Done** at step 200" in final[0], final[0]
    assert "Text" in final[4]
    runs = final[6]["data"] if isinstance(final[6], dict) else final[6]
    assert any(row[0] == run_name and row[1] == "finished" for row in runs)

    # The adapter is usable in the Text tab at once: listed among its models, and it answers.
    from studio.ui.text import model_choices

    adapter = next(value for label, value in model_choices(studio_settings) if run_name in label)
    answer, _chat, stats, _file = client.predict(prompt="What is 3 and 3?", model=adapter, greedy=True,
                                                 max_new_tokens=8, api_name="/text_generate")
    assert "tokens/s" in stats and isinstance(answer, str)
