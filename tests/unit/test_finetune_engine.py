"""The fine-tune engine on a tiny Llama built from a config: masking, runs, stop and resume, curriculum, CLI."""

import json

import pytest

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, EvalEvent, LogEvent, StageEvent, StepEvent
from studio.finetune.config import FinetuneConfig, MethodSettings, Stage, TrainingSettings
from studio.finetune.data import load_data
from studio.finetune.format import IGNORE, encode, tokenize_rows
from studio.settings import Settings
from tests.text_models import tiny_text_model  # noqa: F401  (session fixture)


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
    from studio.finetune.lora import preview

    lora = preview(str(tiny_text_model), MethodSettings(rank=4), settings)
    full = preview(str(tiny_text_model), MethodSettings(method="full"), settings)
    assert 0 < lora.trainable < lora.total and "trainable of" in lora.describe()
    assert full.trainable == full.total


# ---- whole runs -----------------------------------------------------------------------------------


def test_lora_run_leaves_a_finished_folder_the_text_tab_lists(tiny_text_model, settings):  # noqa: F811
    from studio.finetune.runs import list_runs
    from studio.finetune.session import start_finetune
    from studio.registry import finetuned_text_models

    run, folder = start_finetune(config_for(tiny_text_model, data="capitals-chat", batch_size=2), settings)
    events = events_of(run)
    done = events[-1]
    assert isinstance(done, DoneEvent) and not done.stopped and done.result.steps == 6
    assert [e.step for e in events if isinstance(e, StepEvent)] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in events if isinstance(e, EvalEvent)] == [0, 3, 6]
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
    from studio.finetune.session import start_finetune

    config = config_for(tiny_text_model, steps=30)
    run, folder = start_finetune(config, settings)
    stop_at = None
    for event in run:
        if isinstance(event, StepEvent) and event.step == 4 and stop_at is None:
            stop_at = event.step
            run.request_stop()
        if isinstance(event, DoneEvent):
            done = event
    assert done.stopped and done.result.steps <= stop_at + 1  # within one step
    assert folder.status == "stopped" and not (folder.path / "record.json").exists() and not folder.final.exists()
    checkpoint = folder.latest_checkpoint("train")
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{done.result.steps}"

    run, _ = start_finetune(config, settings, folder=folder, resume=True)
    events = events_of(run)
    steps = [e.step for e in events if isinstance(e, StepEvent)]
    assert steps[0] == done.result.steps + 1 and steps[-1] == 30
    assert events[-1].result.steps == 30 and folder.status == "finished"
    logged = [r["step"] for r in folder.logs() if "loss" in r]
    assert logged == sorted(logged) and logged[-1] == 30  # one curve across the stop


def test_curriculum_runs_easiest_first_with_folders_named_after_stages(tiny_text_model, settings):  # noqa: F811
    from studio.finetune.session import start_finetune

    config = config_for(tiny_text_model, steps=3)
    config.stages = [Stage("Hard sums", "sums-in-words", difficulty=2, learning_rate=1e-3),
                     Stage("Easy sums", "sums-in-words-easy", difficulty=1)]
    run, folder = start_finetune(config, settings)
    events = events_of(run)
    stages = [e for e in events if isinstance(e, StageEvent)]
    assert [(s.name, s.step, s.index) for s in stages] == [("Easy sums", 0, 0), ("Hard sums", 3, 1)]
    assert [e.step for e in events if isinstance(e, StepEvent)] == [1, 2, 3, 4, 5, 6]
    assert all(e.total_steps == 6 for e in events if isinstance(e, StepEvent))
    for stage in ("easy-sums", "hard-sums"):
        assert (folder.stage_dir(stage) / "adapter_config.json").is_file()
        assert json.loads((folder.stage_dir(stage) / "stage.json").read_text())["steps"] == 3
    assert json.loads((folder.path / "config.json").read_text())["stages"][0]["name"] == "Hard sums"


def test_full_finetuning_saves_a_whole_model(tiny_text_model, settings):  # noqa: F811
    from studio.finetune.session import start_finetune

    config = config_for(tiny_text_model, steps=2)
    config.method = MethodSettings(method="full")
    run, folder = start_finetune(config, settings)
    events = events_of(run)
    assert any("(100.00%)" in e.message for e in events if isinstance(e, LogEvent))
    assert (folder.final / "config.json").is_file() and (folder.final / "model.safetensors").is_file()


def test_bad_data_fails_before_a_run_folder_exists(tmp_path, settings, tiny_text_model):  # noqa: F811
    from studio.finetune.session import start_finetune

    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n')
    with pytest.raises(StudioError, match="rows.jsonl line 2: the column 'response' is missing"):
        start_finetune(config_for(tiny_text_model, data=str(bad)), settings)
    assert not (settings.outputs_dir / "finetune").exists() or not list((settings.outputs_dir / "finetune").iterdir())


def test_fewer_rows_than_a_batch_is_refused(tmp_path, settings, tiny_text_model):  # noqa: F811
    from studio.finetune.session import start_finetune

    small = tmp_path / "small.txt"
    small.write_text("one line\ntwo lines\nthree\n")
    run, folder = start_finetune(config_for(tiny_text_model, data=str(small), batch_size=8), settings)
    error = list(run)[-1]
    assert isinstance(error, ErrorEvent) and "small.txt: 2 training rows" in error.message
    assert folder.status == "incomplete"


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
    assert exported["command"].startswith("accelerate launch --config_file")
    assert "num_processes: 2" in open(exported["config_file"]).read()
