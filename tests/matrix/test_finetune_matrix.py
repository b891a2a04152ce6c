"""The fine-tune engine on every base family and path, as a visitor runs it (hub ids from an offline cache).

Families: tiny replicas of SmolLM2 (Llama), Qwen2.5, GPT-2, Gemma-2 and Mistral v0.1 with their real model
and tokenizer classes and their hub chat templates (`tests/replicas/finetune_bases.py`), plus the shipped
embedded model exactly as shipped. Paths: LoRA, QLoRA (4-bit on the CPU, where bitsandbytes allows it), a
two-stage curriculum, chat data with a system turn (refused by Check, before any weights load, where the
family cannot take it), the adapter loaded into the Text tab's engine, and merge. Each cell is recorded for
docs/models.md: "works", or "refused: <the sentence the visitor reads>".
"""

from __future__ import annotations

import importlib.util

import pytest

from studio.events import DoneEvent, ErrorEvent
from studio.finetune.config import FinetuneConfig, MethodSettings, Stage, TrainingSettings
from studio.finetune.requests import ModelScope, RunRequest, TrainRequest
from studio.finetune.runs import RunFolder, list_runs
from studio.settings import Settings
from tests.replicas import hub_cache
from tests.replicas.finetune_bases import FINETUNE_FAMILIES, build_bases
from tests.replicas.report import record

pytestmark = pytest.mark.slow

FAMILIES = (*FINETUNE_FAMILIES, "embedded")
SMALL = dict(max_steps=2, batch_size=4, eval_steps=2, logging_steps=1, save_steps=1000, max_length=48)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("finetune-bases")
    built = build_bases(root / "folders", root / "hub")
    with hub_cache.offline_cache(root / "hub"):
        yield {name: hub_id for name, (_, hub_id) in built.items()} | {"embedded": "embedded/text-tiny"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(outputs_dir=tmp_path_factory.mktemp("finetune-matrix-out"), torch_threads=1)


@pytest.fixture(scope="module")
def lora_runs():
    return {}  # family -> run name of its LoRA cell, for the adapter and merge cells


def run_job(settings, task: str, payload) -> list:
    from studio.jobs import JobRegistry

    job = JobRegistry(settings, mode="thread").submit("visitor", "finetune", f"studio.finetune.tasks:{task}",
                                                      payload)
    return list(job.run)


def outcome(events) -> tuple[str, object]:
    last = events[-1]
    if isinstance(last, ErrorEvent):
        return f"refused: {last.message}", None
    assert isinstance(last, DoneEvent) and not last.stopped
    return "works", last.result


def train(settings, model: str, **changes):
    stages = changes.pop("stages", [])
    method = changes.pop("method", MethodSettings(rank=4, alpha=8))
    data = changes.pop("data", "colours-french")
    config = FinetuneConfig(model=model, data=data, stages=stages, method=method,
                            training=TrainingSettings(**(SMALL | changes)))
    return run_job(settings, "train", TrainRequest(config, scope=ModelScope()))  # a visitor: hub ids and presets


@pytest.mark.parametrize("family", FAMILIES)
def test_lora(bases, settings, lora_runs, family):
    result, run = outcome(train(settings, bases[family]))
    record("finetune", family, "lora", result)
    assert result == "works", result
    folder = RunFolder.find(settings.outputs_dir, run.run)
    assert folder.status == "finished" and (folder.final / "adapter_config.json").is_file()
    lora_runs[family] = run.run


@pytest.mark.parametrize("family", FAMILIES)
def test_qlora_on_the_cpu(bases, settings, family):
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed")
    before = {r["run"] for r in list_runs(settings.outputs_dir)}
    result, run = outcome(train(settings, bases[family], method=MethodSettings(method="qlora", rank=4, alpha=8)))
    record("finetune", family, "qlora (cpu)", result)
    if result != "works":  # a refusal is said before loading, with what to do, and leaves no run behind
        assert "use LoRA" in result or "LoRA instead" in result, result
        assert {r["run"] for r in list_runs(settings.outputs_dir)} == before
    else:
        assert run.steps == 2


@pytest.mark.parametrize("family", FAMILIES)
def test_curriculum(bases, settings, family):
    stages = [Stage("hard", "sums-in-words", difficulty=2), Stage("easy", "sums-in-words-easy", difficulty=1)]
    result, run = outcome(train(settings, bases[family], stages=stages))
    record("finetune", family, "curriculum", result)
    assert result == "works", result
    folder = RunFolder.find(settings.outputs_dir, run.run)
    assert [s for s in ("easy", "hard") if (folder.stage_dir(s) / "stage.json").is_file()] == ["easy", "hard"]


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_with_a_system_turn(bases, settings, family):
    from tests.replicas.finetune_bases import FAMILIES as REPLICAS

    before = {r["run"] for r in list_runs(settings.outputs_dir)}
    config = FinetuneConfig(model=bases[family], data="capitals-chat", method=MethodSettings(rank=4, alpha=8),
                            training=TrainingSettings(**(SMALL | dict(batch_size=2))))
    checked, _ = outcome(run_job(settings, "train", TrainRequest(config, scope=ModelScope(), check_only=True)))
    trained, _ = outcome(run_job(settings, "train", TrainRequest(config, scope=ModelScope())))
    record("finetune", family, "chat with a system turn", trained)
    assert checked.startswith("works") == (trained == "works"), (checked, trained)  # Check says what Train does
    if trained != "works":
        assert checked == trained and {r["run"] for r in list_runs(settings.outputs_dir)} == before
    system = REPLICAS[family].system if family in REPLICAS else "native"
    assert (trained == "works") == (system in ("native", "folded")), trained


@pytest.mark.parametrize("family", FAMILIES)
def test_the_adapter_loads_in_the_text_engine(bases, settings, lora_runs, family):
    import torch

    from studio.loading import LoadRequest
    from studio.text.engine import TextEngine

    if family not in lora_runs:
        pytest.skip("its LoRA cell failed")
    final = RunFolder.find(settings.outputs_dir, lora_runs[family]).final
    loaded = TextEngine(settings).load(LoadRequest(str(final), local_roots=(str(settings.outputs_dir),)))
    ids = loaded.processor("The capital of Peru", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = loaded.model(ids).logits
    ok = bool(torch.isfinite(logits).all()) and getattr(loaded.model, "peft_config", None) is not None
    record("finetune", family, "adapter in the Text tab", "works" if ok else "refused: the adapter did not load")
    assert ok


@pytest.mark.parametrize("family", FAMILIES)
def test_merge(bases, settings, lora_runs, family):
    if family not in lora_runs:
        pytest.skip("its LoRA cell failed")
    result, name = outcome(run_job(settings, "merge", RunRequest(lora_runs[family], ModelScope())))
    record("finetune", family, "merge", result)
    assert result == "works", result
    assert (RunFolder.find(settings.outputs_dir, name).path / "merged" / "config.json").is_file()
