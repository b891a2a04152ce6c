"""The real families' traps (issue 10) and per-owner state, on the tiny replicas of SD 1.5, SD 2.1 and SDXL."""

import json

import numpy as np
import pytest

from studio.errors import StudioError
from studio.image.generate import ImageGenerator
from studio.image.request import ImageRequest, LoraChoice
from studio.settings import Settings
from tests.replicas import hub_cache
from tests.replicas.image import HUB_IDS, NATIVE, session_replicas

ANY_PATH = {"any_path": True}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    return session_replicas(tmp_path_factory)


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return ImageGenerator(Settings(outputs_dir=tmp_path_factory.mktemp("outputs")))


@pytest.fixture()
def owners(tmp_path):
    return tmp_path / "alice", tmp_path / "bob"


def make(generator, model, outputs_dir=None, **changes):
    request = ImageRequest(**({"prompt": "a red circle", "model": str(model), "steps": 3, "seed": 4} | changes))
    return generator.generate(request, scope=ANY_PATH, outputs_dir=outputs_dir)


def pixels(result, index=0):
    return np.asarray(result.images[index], dtype=np.int16)


def test_a_picture_the_safety_checker_flags_is_withheld_with_a_note_on_the_page_and_in_the_record(generator, replicas):
    plain = make(generator, replicas.folders["sd15"], images=2)
    assert plain.withheld == [] and len(plain.paths) == 2
    checker = generator.slot.current.model.text2img.safety_checker
    saved = checker.concept_embeds_weights.clone()
    checker.concept_embeds_weights.data[:] = -2.0  # every picture now scores above every concept threshold
    try:
        flagged = make(generator, replicas.folders["sd15"], images=2)
    finally:
        checker.concept_embeds_weights.data[:] = saved
    assert flagged.withheld == [0, 1] and flagged.images == [] and flagged.paths == []
    assert "safety checker" in flagged.notes[0] and "seed 4" in flagged.notes[0]
    record = json.loads((flagged.folder / "record.json").read_text())
    assert record["withheld"] == [{"index": 0, "seed": 4, "reason": "safety checker"},
                                  {"index": 1, "seed": 5, "reason": "safety checker"}]
    assert any("safety checker" in note for note in record["notes"])


@pytest.mark.parametrize("family", ["sd15", "sd21", "sdxl"])
def test_width_and_height_0_draw_at_the_models_own_size(generator, replicas, family):
    result = make(generator, replicas.folders[family], steps=2)
    assert result.images[0].size == (NATIVE[family],) * 2 != (64, 64)
    assert (result.request.width, result.request.height) == (NATIVE[family],) * 2


def test_a_hub_model_draws_at_its_size_and_its_record_names_the_revision(generator, replicas):
    with hub_cache.offline_cache(replicas.cache):
        result = generator.generate(ImageRequest("a cat", model=HUB_IDS["sdxl"], steps=2), scope={})
    assert result.images[0].size == (NATIVE["sdxl"],) * 2
    record = json.loads((result.folder / "record.json").read_text())
    assert record["model"]["fingerprint"] == f"revision {hub_cache.commit_for(HUB_IDS['sdxl'])}"


def test_sdxl_with_no_negative_prompt_uses_its_zero_embedding_like_the_bare_pipeline(generator, replicas):
    import torch
    from diffusers import DiffusionPipeline

    studio = make(generator, replicas.folders["sdxl"], steps=2)
    bare = DiffusionPipeline.from_pretrained(replicas.folders["sdxl"])
    bare.set_progress_bar_config(disable=True)
    assert bare.config.force_zeros_for_empty_prompt
    expected = bare("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(4)).images[0]
    assert np.array_equal(pixels(studio), np.asarray(expected, dtype=np.int16))


def test_the_embedded_model_named_by_its_folder_still_draws_at_64_px_and_is_upscaled(generator):
    from studio.embedded import EMBEDDED_DIR

    result = make(generator, EMBEDDED_DIR / "image-shapes", width=256, height=256, steps=2)
    assert result.images[0].size == (256, 256) and "draws at 64x64" in result.notes[0]


def test_the_operators_pixel_limit_is_named_also_for_the_models_own_size(replicas, tmp_path):
    small = ImageGenerator(Settings(outputs_dir=tmp_path, max_image_pixels=32 * 32))
    assert make(small, replicas.folders["sd15"], steps=1).images  # 32x32: within
    with pytest.raises(StudioError, match=r"at most 1,024 pixels.*max_image_pixels"):
        make(small, replicas.folders["sdxl"], steps=1)  # its own 48x48 is above the limit


def test_explicit_pndm_works_for_img2img_as_sd15s_own_pndm_does(generator, replicas):
    start = make(generator, replicas.folders["sd15"])
    for scheduler in ("default", "pndm"):
        result = make(generator, replicas.folders["sd15"], mode="img2img", init_image=str(start.paths[0]),
                      strength=0.5, steps=4, scheduler=scheduler)
        assert result.images and result.denoise_steps >= 2  # PLMS repeats its first step
    assert make(generator, replicas.folders["sd15"], steps=1, scheduler="pndm").images


def test_loras_belong_to_their_owner_and_one_owners_unload_cannot_change_anothers_picture(generator, replicas,
                                                                                         owners):
    alice, bob = owners
    model = replicas.folders["sd15"]
    plain = make(generator, model, bob)
    assert generator.load_lora(str(model), replicas.loras["sd15"], "style", scope=ANY_PATH, outputs_dir=bob) == "style"
    bob_styled = make(generator, model, bob, loras=(LoraChoice("style", 0.5),))
    # Alice's "style" is another file and another adapter; Bob cannot use hers, nor she his.
    generator.load_lora(str(model), replicas.loras["sd15_kohya"], "style", scope=ANY_PATH, outputs_dir=alice)
    alice_styled = make(generator, model, alice, loras=(LoraChoice("style", 1.0),))
    assert not np.array_equal(pixels(alice_styled), pixels(bob_styled))
    assert np.array_equal(pixels(make(generator, model, alice)), pixels(plain))  # her plain picture: no LoRA on
    generator.unload_loras(alice)
    with pytest.raises(StudioError, match="not loaded"):
        make(generator, model, alice, loras=(LoraChoice("style", 1.0),))
    assert np.array_equal(pixels(make(generator, model, bob, loras=(LoraChoice("style", 0.5),))), pixels(bob_styled))
    assert np.array_equal(pixels(make(generator, model, bob)), pixels(plain))
    assert generator.loaded_loras(bob) == ["style"] and generator.loaded_loras(alice) == []


def test_a_fresh_worker_finds_the_owners_lora_again(generator, replicas, owners, tmp_path):
    alice, _ = owners
    model = replicas.folders["sd15"]
    generator.load_lora(str(model), replicas.loras["sd15"], "mine", scope=ANY_PATH, outputs_dir=alice)
    before = make(generator, model, alice, loras=(LoraChoice("mine", 1.0),))
    fresh = ImageGenerator(Settings(outputs_dir=tmp_path))  # e.g. the worker was restarted after a Stop
    after = make(fresh, model, alice, loras=(LoraChoice("mine", 1.0),))
    assert np.array_equal(pixels(after), pixels(before))
    assert json.loads((after.folder / "record.json").read_text())["loras"]["mine"].startswith("sha256 ")
