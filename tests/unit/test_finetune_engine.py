"""The fine-tune engine on a tiny Llama built from a config, run as the tab runs it (its tasks, as jobs):
masking, runs, stop and resume, curriculum, divergence, the wall-time limit, best weights, merge, CLI."""

import json
import shutil

import pytest

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, EvalEvent, LogEvent, StageEvent, StepEvent
from studio.finetune.config import FinetuneConfig, MethodSettings, Stage, TrainingSettings
from studio.finetune.data import load_data
from studio.finetune.format import IGNORE, encode, tokenize_rows
from studio.finetune.requests import ModelScope, RunRequest, TrainRequest
from studio.finetune.runs import RunFolder, list_runs
from studio.settings import Settings
from tests.text_models import odd_text_model, tiny_text_model  # noqa: F401  (session fixtures)

CLI = ModelScope(any_path=True)  # the tiny model is a folder: only the command line's scope may name it


def submit(settings, task: str, payload):
    """A fine-tune task as a job (thread mode: the same task the worker process runs)."""
    from studio.jobs import JobRegistry

    return JobRegistry(settings, mode="thread").submit("tester", "finetune", f"studio.finetune.tasks:{task}",
                                                       payload)


def start(config, settings, uploads=None, scope=CLI):
    return submit(settings, "train", TrainRequest(config, uploads or {}, scope)).run


def folder_of(settings, result) -> RunFolder:
    return RunFolder.find(settings.outputs_dir, result.run)


@pytest.fixture()
def settings(tmp_path):
    import torch

    torch.set_num_threads(1)
    return Settings(outputs_dir=tmp_path / "outputs", torch_threads=1)


@pytest.fixture(scope="module")
def tokenizer(tiny_text_model):  # noqa: F811
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_text_model)


def config_for(model, data="sums-in-words", steps=6, **training):
    values = dict(max_steps=steps, batch_size=4, eval_steps=3, logging_steps=1, save_steps=1000, max_length=48,
                  learning_rate=5e-3)
    values.update(training)
    return FinetuneConfig(model=str(model), data=data, method=MethodSettings(rank=4, alpha=8),
                          training=TrainingSettings(**values))


def events_of(run):
    events = list(run)
    errors = [e.message for e in events if isinstance(e, ErrorEvent)]
    assert not errors, errors
    return events


# ---- labels ------------------------------------------------------------------------------------


def test_pairs_learn_only_the_response(tokenizer):
    ids, labels = encode({"prompt": "How much is 2 and 3?", "response": "2 and 3 make 5."}, "pairs", tokenizer)
    prompt = tokenizer("How much is 2 and 3?")["input_ids"]
    assert labels[: len(prompt)] == [IGNORE] * len(prompt)
    learned = [t for t in labels if t != IGNORE]
    assert tokenizer.decode(learned[:-1]) == " 2 and 3 make 5." and learned[-1] == tokenizer.eos_token_id
    assert ids[len(prompt):] == learned


def test_chat_learns_only_assistant_turns(tokenizer):
    row = load_data("capitals-chat").rows[1].values  # has a system turn
    ids, labels = encode(row, "messages", tokenizer)
    learned = tokenizer.decode([t for t in labels if t != IGNORE])
    assert learned.startswith("The capital of") and "<|user|>" not in learned and "Answer briefly" not in learned
    assert len(ids) == len(labels)


def test_instruction_rows_learn_the_output(tokenizer):
    ids, labels = encode({"instruction": "Say it in French.", "input": "red", "output": "rouge"}, "instruction",
                         tokenizer)
    assert tokenizer.decode([t for t in labels if t != IGNORE][:-1]) == "rouge"


def test_overlong_rows_are_cut_or_dropped_and_counted(tokenizer):
    rows = load_data("sums-in-words").rows[:10]
    cut = tokenize_rows(rows, "pairs", tokenizer, max_length=12, overlong="truncate")
    dropped = tokenize_rows(rows, "pairs", tokenizer, max_length=12, overlong="drop")
    assert cut.truncated == 10 and all(len(e["input_ids"]) == 12 for e in cut.examples)
    assert dropped.dropped == 10 and not dropped.examples


def test_config_errors_name_the_field():
    with pytest.raises(StudioError, match="rank: 0 is not valid"):
        MethodSettings(rank=0)
    with pytest.raises(StudioError, match="target_modules"):
        MethodSettings(target_modules="q_proj; rm -rf")
    with pytest.raises(StudioError, match="stages"):
        FinetuneConfig(stages=[Stage("a", "x"), Stage("A", "y")])


def test_trainable_parameters_before_training(tiny_text_model, settings):  # noqa: F811
    from studio.finetune.lora import check_base, preview

    source, _ = check_base(str(tiny_text_model), MethodSettings(), settings, CLI)
    lora = preview(source, MethodSettings(rank=4), settings)
    full = preview(source, MethodSettings(method="full"), settings)
    assert 0 < lora.trainable < lora.total and "trainable of" in lora.describe()
    assert full.trainable == full.total


# ---- whole runs -----------------------------------------------------------------------------------


def test_lora_run_leaves_a_finished_folder_the_text_tab_lists(tiny_text_model, settings):  # noqa: F811
    from studio.registry import finetuned_text_models

    events = events_of(start(config_for(tiny_text_model, data="capitals-chat", batch_size=2), settings))
    done = events[-1]
    folder = folder_of(settings, done.result)
    assert isinstance(done, DoneEvent) and not done.stopped and done.result.steps == 6
    assert [e.step for e in events if isinstance(e, StepEvent)] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in events if isinstance(e, EvalEvent)] == [0, 3, 6]
    assert not list(folder.path.glob("checkpoints/*/checkpoint-*/scheduler.pt.tmp"))
    assert any(isinstance(e, StageEvent) for e in events)
    assert any("trainable of" in e.message for e in events if isinstance(e, LogEvent))
    for name in ("config.json", "logs.jsonl", "record.json", "comparison.json", "final/adapter_config.json"):
        assert (folder.path / name).is_file(), name
    assert list((folder.path / "tensorboard").glob("events.out.tfevents.*"))
    assert folder.status == "finished" and list_runs(settings.outputs_dir)[0]["status"] == "finished"
    assert finetuned_text_models(settings.outputs_dir) == [str(folder.final)]
    assert len(done.result.comparison) == 3 and set(done.result.comparison[0]) == {"prompt", "expected", "before",
                                                                                    "after"}


def test_stop_within_one_step_then_resume_continues_the_count(tiny_text_model, settings):  # noqa: F811
    config = config_for(tiny_text_model, steps=30)
    run = start(config, settings)
    stop_at = None
    for event in run:
        if isinstance(event, StepEvent) and event.step == 4 and stop_at is None:
            stop_at = event.step
            run.request_stop()
        if isinstance(event, DoneEvent):
            done = event
    assert done.stopped and done.result.steps <= stop_at + 1  # within one step
    folder = folder_of(settings, done.result)
    assert folder.status == "stopped" and not (folder.path / "record.json").exists() and not folder.final.exists()
    checkpoint = folder.latest_checkpoint("train")
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{done.result.steps}"

    events = events_of(submit(settings, "resume", RunRequest(folder.name, CLI)).run)
    steps = [e.step for e in events if isinstance(e, StepEvent)]
    assert steps[0] == done.result.steps + 1 and steps[-1] == 30
    assert events[-1].result.steps == 30 and folder.status == "finished"
    logged = [r["step"] for r in folder.logs() if "loss" in r]
    assert logged == sorted(logged) and logged[-1] == 30  # one curve across the stop


def test_curriculum_runs_easiest_first_with_folders_named_after_stages(tiny_text_model, settings):  # noqa: F811
    config = config_for(tiny_text_model, steps=3)
    config.stages = [Stage("Hard sums", "sums-in-words", difficulty=2, learning_rate=1e-3),
                     Stage("Easy sums", "sums-in-words-easy", difficulty=1)]
    events = events_of(start(config, settings))
    folder = folder_of(settings, events[-1].result)
    stages = [e for e in events if isinstance(e, StageEvent)]
    assert [(s.name, s.step, s.index) for s in stages] == [("Easy sums", 0, 0), ("Hard sums", 3, 1)]
    assert [e.step for e in events if isinstance(e, StepEvent)] == [1, 2, 3, 4, 5, 6]
    assert all(e.total_steps == 6 for e in events if isinstance(e, StepEvent))
    for stage in ("easy-sums", "hard-sums"):
        assert (folder.stage_dir(stage) / "adapter_config.json").is_file()
        assert json.loads((folder.stage_dir(stage) / "stage.json").read_text())["steps"] == 3
    assert json.loads((folder.path / "config.json").read_text())["stages"][0]["name"] == "Hard sums"


def test_full_finetuning_saves_a_whole_model(tiny_text_model, settings):  # noqa: F811
    config = config_for(tiny_text_model, steps=2)
    config.method = MethodSettings(method="full")
    events = events_of(start(config, settings))
    folder = folder_of(settings, events[-1].result)
    assert any("(100.00%)" in e.message for e in events if isinstance(e, LogEvent))
    assert (folder.final / "config.json").is_file() and (folder.final / "model.safetensors").is_file()


def no_runs(settings) -> bool:
    return not list_runs(settings.outputs_dir)


def test_bad_data_fails_before_a_run_folder_exists(tmp_path, settings, tiny_text_model):  # noqa: F811
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n')
    error = list(start(config_for(tiny_text_model, data="rows.jsonl"), settings, {"rows.jsonl": str(bad)}))[-1]
    assert isinstance(error, ErrorEvent) and "rows.jsonl line 2: the column 'response' is missing" in error.message
    assert no_runs(settings)


def test_fewer_rows_than_a_batch_is_refused_and_leaves_no_run(tmp_path, settings, tiny_text_model):  # noqa: F811
    small = tmp_path / "small.txt"
    small.write_text("one line\ntwo lines\nthree\n")
    error = list(start(config_for(tiny_text_model, data="small.txt", batch_size=8), settings,
                       {"small.txt": str(small)}))[-1]
    assert isinstance(error, ErrorEvent) and "small.txt: 2 training rows" in error.message
    assert no_runs(settings)  # was a half-made "incomplete" folder


def test_a_visitor_cannot_name_a_server_folder_as_the_base(settings, tiny_text_model):  # noqa: F811
    error = list(start(config_for(tiny_text_model), settings, scope=ModelScope()))[-1]
    assert isinstance(error, ErrorEvent) and "not a model this studio offers" in error.message
    assert no_runs(settings)


def test_a_diverging_run_fails_and_says_so_on_disk(settings, tiny_text_model):  # noqa: F811
    from studio.registry import finetuned_text_models

    error = list(start(config_for(tiny_text_model, steps=12, learning_rate=10.0, eval_steps=50), settings))[-1]
    assert isinstance(error, ErrorEvent) and error.message.startswith("failed: diverged at step ")
    run = list_runs(settings.outputs_dir)[0]
    assert run["status"] == "failed" and finetuned_text_models(settings.outputs_dir) == []
    folder = RunFolder.find(settings.outputs_dir, run["run"])
    resumed = list(submit(settings, "resume", RunRequest(folder.name, CLI)).run)[-1]
    assert isinstance(resumed, ErrorEvent) and "cannot be resumed: failed: diverged" in resumed.message


def test_the_wall_time_limit_stops_with_a_checkpoint_and_names_the_setting(settings, tiny_text_model):  # noqa: F811
    import dataclasses

    limited = dataclasses.replace(settings, max_job_minutes=0.02)  # 1.2 s: reached during the first steps
    done = events_of(start(config_for(tiny_text_model, steps=200), limited))[-1]
    assert done.stopped and done.result.steps < 200 and "max_job_minutes" in done.result.stop_reason
    folder = folder_of(settings, done.result)
    assert folder.status == "stopped" and folder.latest_checkpoint("train") is not None


def test_the_step_limit_is_checked_in_the_task_too(settings, tiny_text_model):  # noqa: F811
    import dataclasses

    error = list(start(config_for(tiny_text_model, steps=50),
                       dataclasses.replace(settings, max_finetune_steps=10)))[-1]
    assert isinstance(error, ErrorEvent) and "max_finetune_steps" in error.message and no_runs(settings)


@pytest.mark.parametrize("restore", [True, False])
def test_a_run_ends_with_its_best_eval_weights_unless_told_not_to(settings, tiny_text_model, restore,  # noqa: F811
                                                                  monkeypatch):
    from safetensors.torch import load_file

    from studio.finetune.trainer import EventsCallback

    real = EventsCallback.on_evaluate

    def valley_at_step_4(self, args, state, control, metrics=None, **kwargs):  # eval loss: lowest at step 4
        return real(self, args, state, control, metrics={**metrics, "eval_loss": 1.0 + abs(state.global_step - 4)},
                    **kwargs)

    monkeypatch.setattr(EventsCallback, "on_evaluate", valley_at_step_4)
    config = config_for(tiny_text_model, steps=8, eval_steps=2, save_steps=4, restore_best=restore)
    done = events_of(start(config, settings))[-1]
    folder = folder_of(settings, done.result)
    final = load_file(folder.final / "adapter_model.safetensors")
    at_4 = load_file(folder.checkpoints("train") / "checkpoint-4" / "adapter_model.safetensors")
    same = all(bool((final[k] == at_4[k]).all()) for k in final)
    if restore:
        assert same and done.result.last_eval_loss == 1.0 and done.result.restored == "step 4 (eval loss 1.0000)"
    else:
        assert not same and done.result.last_eval_loss == 5.0 and not done.result.restored


def test_uploads_are_copied_into_the_run_so_resume_needs_no_upload(tmp_path, settings, tiny_text_model):  # noqa: F811
    upload = tmp_path / "gradio" / "doubles.jsonl"
    upload.parent.mkdir()
    upload.write_text("".join(f'{{"prompt": "Double {a}?", "response": "{2 * a}"}}\n' for a in range(40)))
    run = start(config_for(tiny_text_model, data="doubles.jsonl", steps=20), settings, {"doubles.jsonl": str(upload)})
    for event in run:
        if isinstance(event, StepEvent) and event.step == 2:
            run.request_stop()
        if isinstance(event, DoneEvent):
            done = event
    shutil.rmtree(upload.parent)  # Gradio's cache was cleaned
    events = events_of(submit(settings, "resume", RunRequest(done.result.run, CLI)).run)
    assert events[-1].result.steps == 20


def test_merge_loads_the_base_through_the_loader_within_the_scope(settings, tiny_text_model):  # noqa: F811
    done = events_of(start(config_for(tiny_text_model, steps=2), settings))[-1]
    folder = folder_of(settings, done.result)
    adapter = folder.final / "adapter_config.json"
    claims = json.loads(adapter.read_text())
    adapter.write_text(json.dumps(claims | {"base_model_name_or_path": "/etc"}))  # what the file says is not used
    refused = list(submit(settings, "merge", RunRequest(folder.name, ModelScope())).run)[-1]
    assert isinstance(refused, ErrorEvent) and "not a model this studio offers" in refused.message
    merged = events_of(submit(settings, "merge", RunRequest(folder.name, CLI)).run)[-1]
    assert merged.result == folder.name and (folder.path / "merged" / "config.json").is_file()


def test_another_owner_s_run_is_no_such_run(settings, tiny_text_model, tmp_path):  # noqa: F811
    import dataclasses

    done = events_of(start(config_for(tiny_text_model, steps=1), settings))[-1]
    other = dataclasses.replace(settings, outputs_dir=tmp_path / "someone-else")
    theirs = list(submit(other, "resume", RunRequest(done.result.run, CLI)).run)[-1]
    made_up = list(submit(other, "resume", RunRequest("20990101-000000-00", CLI)).run)[-1]
    assert theirs.message.replace(done.result.run, "X") == made_up.message.replace("20990101-000000-00", "X")


def test_command_line_trains_merges_and_exports(tiny_text_model, tmp_path, monkeypatch, capsys):  # noqa: F811
    from studio.__main__ import main

    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("STUDIO_TORCH_THREADS", "1")
    assert main(["finetune", "--model", str(tiny_text_model), "--data", "colours-french", "--max-steps", "2",
                 "--batch-size", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 2 and result["final"].endswith("final")
    assert main(["finetune", "--merge", result["run"], "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)["merged"]
    assert (tmp_path / "out" / "finetune" / result["run"] / "merged" / "config.json").is_file(), merged
    assert main(["finetune", "--export", result["run"], "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    run = tmp_path / "out" / "finetune" / result["run"]
    assert f"accelerate launch --config_file {run / 'accelerate.yaml'} --num_processes 1 -m " \
           f"studio.finetune.distributed {run}" in exported["command"]  # what the studio runs for --processes N
    assert "num_processes: 1" in open(exported["config_file"]).read()
    assert exported["command"] in (run / "launch.sh").read_text()


def test_qlora_that_cannot_work_on_the_cpu_is_refused_by_check_before_loading(settings, odd_text_model,  # noqa: F811
                                                                               monkeypatch):
    import transformers

    from studio.finetune.lora import check_base

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    with pytest.raises(StudioError, match=r"QLoRA cannot train .* on the CPU: .*hidden size 32.*use LoRA instead"):
        check_base(str(odd_text_model), MethodSettings(method="qlora"), settings, CLI)
    config = config_for(odd_text_model)
    config.method = MethodSettings(method="qlora")
    checked = list(submit(settings, "train", TrainRequest(config, scope=CLI, check_only=True)).run)[-1]
    assert isinstance(checked, ErrorEvent) and "use LoRA instead" in checked.message and no_runs(settings)
