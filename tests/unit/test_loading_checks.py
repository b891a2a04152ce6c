"""Checks before loading that real hub layouts tripped: diffusers repos in the offline cache, SDXL's extra files."""

import pytest

from studio.errors import StudioError
from studio.loading import LoadRequest, ModelSlot, cached_snapshot, fingerprint, folder_bytes
from studio.registry import ModelSource
from tests.replicas.hub_cache import commit_for, offline_cache, place


def diffusers_repo(root):
    """The shape of a full SDXL download: components in sub-folders, big single files at the top."""
    (root / "unet").mkdir(parents=True)
    (root / "vae").mkdir()
    (root / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (root / "unet" / "config.json").write_text("{}")
    (root / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"u" * 4000)
    (root / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"u" * 2000)
    (root / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"v" * 1000)
    (root / "sd_xl_base_1.0.safetensors").write_bytes(b"x" * 50_000)  # never read by from_pretrained
    return root


def test_memory_estimate_counts_only_what_the_loader_reads(tmp_path):
    assert folder_bytes(diffusers_repo(tmp_path / "sdxl")) == 5000


def test_a_cached_diffusers_repo_counts_as_cached_offline(tmp_path):
    repo = diffusers_repo(tmp_path / "sdxl")
    with offline_cache(tmp_path / "cache"):
        assert cached_snapshot("stabilityai/stable-diffusion-xl-base-1.0") is None
        place(repo, "stabilityai/stable-diffusion-xl-base-1.0", tmp_path / "cache")
        snapshot = cached_snapshot("stabilityai/stable-diffusion-xl-base-1.0")
        assert snapshot is not None and snapshot.name == commit_for("stabilityai/stable-diffusion-xl-base-1.0")
        source = ModelSource("stabilityai/stable-diffusion-xl-base-1.0", "hub", "stabilityai/stable-diffusion-xl-base-1.0")
        assert fingerprint(source, object()) == f"revision {snapshot.name}"


def test_an_uncached_hub_id_fails_fast_offline(tmp_path):
    slot = ModelSlot("image", loader=lambda *a: (None, None))
    with offline_cache(tmp_path / "empty"):
        with pytest.raises(StudioError, match="not in the local cache"):
            slot.check(LoadRequest("someone/not-cached", modality="image"))


def test_the_slot_applies_the_operators_remote_code_setting(tmp_path):
    seen = []
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    slot = ModelSlot("text", loader=lambda source, request, *a: seen.append(request.trust_remote_code) or (None, None),
                     trust_remote_code=False)
    slot.load(LoadRequest(str(folder), trust_remote_code=True, any_path=True))
    assert seen == [False]


def test_a_loaded_model_is_reused_across_visitors_only_when_they_may_name_it(tmp_path):
    loads = []
    alice_root, bob_root = tmp_path / "alice", tmp_path / "bob"
    model = alice_root / "run" / "final"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    bob_root.mkdir()
    slot = ModelSlot("text", loader=lambda source, *a: loads.append(source.location) or ("m", "p"))
    first = slot.load(LoadRequest(str(model), local_roots=(str(alice_root),)))
    again = slot.load(LoadRequest(str(model), local_roots=(str(alice_root), "/elsewhere")))  # other scope, same weights
    assert again is first and len(loads) == 1
    with pytest.raises(StudioError, match="not a model this studio offers"):
        slot.load(LoadRequest(str(model), local_roots=(str(bob_root),)))  # Bob may not name Alice's folder
    assert slot.current is first
