"""The image tasks as a worker runs them: progress events with previews, Stop within a step, per-owner LoRAs."""


import pytest

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, ProgressEvent
from studio.image.request import ImageRequest, LoraChoice
from studio.image.tasks import ImageJob, LoraJob
from studio.jobs import JobRegistry
from studio.ownership import owner_outputs, settings_for
from studio.settings import Settings
from tests.image_models import tiny_lora, tiny_sd
from tests.job_events import events_of as events


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-tasks")
    sd = tiny_sd(root / "models" / "sd")
    settings = Settings(outputs_dir=root / "outputs", torch_threads=1)
    registry = JobRegistry(settings, mode="thread")
    yield {"registry": registry, "settings": settings, "sd": str(sd), "lora": tiny_lora(sd, root / "lora"),
           "scope": {"local_roots": (str(root / "models"),)}}  # as if the operator allowed that folder
    registry.close()


def submit(setup, owner, task, payload):
    settings = settings_for(setup["settings"], owner)
    return setup["registry"].submit(owner, "image", f"studio.image.tasks:{task}", payload, settings=settings)




def image_job(setup, **changes):
    request = ImageRequest(**({"prompt": "a red circle", "model": setup["sd"], "width": 32, "height": 32,
                               "steps": 4, "seed": 1} | changes))
    return ImageJob(request, setup["scope"], preview_every=2)


def test_generate_reports_steps_with_previews_and_saves_in_the_owners_folder(setup):
    got = events(submit(setup, "alice", "generate", image_job(setup)))
    steps = [e for e in got if isinstance(e, ProgressEvent) and e.step]
    assert [(e.step, e.total, e.unit) for e in steps] == [(i, 4, "steps") for i in range(1, 5)]
    assert steps[1].preview is not None and steps[1].preview.size == (32, 32) and steps[0].preview is None
    result = got[-1].result
    assert isinstance(got[-1], DoneEvent) and not got[-1].stopped
    assert owner_outputs(setup["settings"].outputs_dir, "alice") in result.paths[0].parents


def test_stop_ends_the_job_within_one_step(setup):
    job = submit(setup, "alice", "generate", image_job(setup, steps=150))
    seen = []
    for batch in job.run.batches(0.01):
        seen += batch
        if any(isinstance(e, ProgressEvent) and e.step >= 2 for e in batch):
            break
    asked_at = max(e.step for e in seen if isinstance(e, ProgressEvent))
    setup["registry"].stop(job)
    last = events(job)[-1]
    assert isinstance(last, DoneEvent) and last.stopped and last.result.paths == []
    assert last.result.denoise_steps <= asked_at + 3  # the events in flight, then one more step at most


def test_a_visitor_cannot_name_a_server_folder(setup):
    request = ImageJob(image_job(setup).request, {"local_roots": ()})
    last = events(submit(setup, "alice", "generate", request))[-1]
    assert isinstance(last, ErrorEvent) and "not a model this studio offers" in last.message


def test_loras_are_loaded_and_unloaded_per_owner(setup):
    loaded = events(submit(setup, "bob", "load_lora", LoraJob(setup["sd"], str(setup["lora"]), "style",
                                                               setup["scope"])))[-1]
    assert loaded.result == "style"
    styled = image_job(setup, loras=(LoraChoice("style", 1.0),))
    assert isinstance(events(submit(setup, "bob", "generate", styled))[-1], DoneEvent)
    refused = events(submit(setup, "carol", "generate", styled))[-1]
    assert isinstance(refused, ErrorEvent) and "not loaded" in refused.message
    events(submit(setup, "carol", "unload_loras", None))  # Carol's unload leaves Bob's LoRA alone
    assert isinstance(events(submit(setup, "bob", "generate", styled))[-1], DoneEvent)
    events(submit(setup, "bob", "unload_loras", None))
    assert "not loaded" in events(submit(setup, "bob", "generate", styled))[-1].message


def test_warm_makes_a_tiny_picture_with_the_embedded_model(setup):
    last = events(setup["registry"].submit("studio:warm-up", "image", "studio.image.tasks:warm", None))[-1]
    assert isinstance(last, DoneEvent) and last.result.images[0].size == (64, 64)


def test_the_tab_module_does_no_tensor_work():
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "studio" / "ui" / "image.py"
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source.read_text()))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"torch", "diffusers", "transformers", "peft"}
    with pytest.raises(StudioError):  # and the request is checked before anything is submitted
        ImageRequest("a", steps=0)
