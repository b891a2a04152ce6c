"""The image engine on tiny SD and SDXL pipelines built from configs: every path, offline, in seconds."""

import dataclasses
import json

import numpy as np
import pytest

from studio.errors import StudioError
from studio.image.generate import ImageGenerator
from studio.image.pnginfo import read_png_settings
from studio.image.request import ImageRequest, LoraChoice
from studio.settings import Settings
from tests.image_models import tiny_lora, tiny_sd, tiny_sdxl, tiny_sdxl_refiner


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("image-models")
    sd, sdxl = tiny_sd(root / "sd"), tiny_sdxl(root / "sdxl")
    return {
        "sd": str(sd), "sdxl": str(sdxl), "refiner": str(tiny_sdxl_refiner(root / "refiner")),
        "lora": tiny_lora(sd, root / "lora-sd"), "lora_sdxl": tiny_lora(sdxl, root / "lora-sdxl"), "root": root,
    }


ANY_PATH = {"any_path": True}  # the test models live in temporary folders, as for a person at a terminal


class Generator(ImageGenerator):
    """The engine as the command line uses it: any folder may be named."""

    def generate(self, request, **kwargs):
        return super().generate(request, **({"scope": ANY_PATH} | kwargs))

    def load_lora(self, model, path, name=None, **kwargs):
        return super().load_lora(model, path, name, **({"scope": ANY_PATH} | kwargs))


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return Generator(Settings(outputs_dir=tmp_path_factory.mktemp("outputs")))


def sd_request(models, **changes) -> ImageRequest:
    return ImageRequest(**({"prompt": "a red circle", "model": models["sd"], "width": 32, "height": 32,
                            "steps": 3, "seed": 7} | changes))


def pixels(result, index=0) -> np.ndarray:
    return np.asarray(result.images[index], dtype=np.int16)


def test_text2img_writes_pngs_with_settings_and_a_record(generator, models):
    result = generator.generate(sd_request(models, images=2))
    assert [p.name for p in result.paths] == ["image-00-seed-7.png", "image-01-seed-8.png"]
    assert result.images[0].size == (32, 32) and result.denoise_steps == 3
    record = json.loads((result.folder / "record.json").read_text())
    assert record["seeds"] == [7, 8] and record["settings"]["prompt"] == "a red circle"
    assert record["model"]["fingerprint"].startswith("sha256 ")
    # Picture 1 of the batch is made again alone from its own PNG's settings.
    again = generator.generate(read_png_settings(result.paths[1]).request)
    assert np.array_equal(pixels(again), pixels(result, 1))


def test_same_settings_and_seed_give_byte_identical_pngs(generator, models):
    first = generator.generate(sd_request(models))
    second = generator.generate(sd_request(models))
    other_seed = generator.generate(sd_request(models, seed=8))
    assert first.paths[0].read_bytes() == second.paths[0].read_bytes()
    assert not np.array_equal(pixels(first), pixels(other_seed))


def test_png_info_round_trips_every_setting(generator, models):
    request = sd_request(models, negative_prompt="blurry", guidance=3.5, scheduler="ddim", steps=4, seed=11)
    result = generator.generate(request)
    info = read_png_settings(result.paths[0])
    assert info.request == request
    assert info.batch == {"seed": 11, "images": 1, "index": 0}
    for field in dataclasses.fields(ImageRequest):
        assert getattr(info.request, field.name) == getattr(request, field.name), field.name


def test_png_without_studio_settings_gets_a_clear_message(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    with pytest.raises(StudioError, match="carries no studio settings"):
        read_png_settings(tmp_path / "plain.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(StudioError, match="not an image"):
        read_png_settings(tmp_path / "bad.png")


def test_img2img_from_an_uploaded_picture(generator, models):
    start = generator.generate(sd_request(models))
    result = generator.generate(sd_request(models, mode="img2img", init_image=str(start.paths[0]), strength=0.5,
                                           steps=4))
    assert result.denoise_steps == 2  # strength 0.5 of 4 steps
    assert result.images[0].size == (32, 32)


def test_img2img_refuses_non_images_and_huge_files(generator, models, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(StudioError, match="not a picture"):
        generator.generate(sd_request(models, mode="img2img", init_image=str(text)))
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (50 * 2**20))
    with pytest.raises(StudioError, match="50 MB"):
        generator.generate(sd_request(models, mode="img2img", init_image=str(huge)))
    assert generator.generate(sd_request(models)).images  # still usable


@pytest.mark.parametrize("other", ["dpmpp_2m", "euler_ancestral", "ddim", "pndm", "unipc"])
def test_schedulers_are_swapped_per_request_and_keep_no_state(generator, models, other):
    euler = generator.generate(sd_request(models, scheduler="euler", steps=4))
    changed = generator.generate(sd_request(models, scheduler=other, steps=4))
    generator.generate(sd_request(models, scheduler=other, mode="img2img", init_image=str(euler.paths[0])))
    again = generator.generate(sd_request(models, scheduler=other, steps=4))
    assert not np.array_equal(pixels(euler), pixels(changed))
    assert np.array_equal(pixels(changed), pixels(again))


def test_progress_preview_and_stop_returns_nothing(generator, models):
    seen = []
    result = generator.generate(sd_request(models, steps=4), on_progress=seen.append, preview_every=2)
    assert [(p.step, p.total) for p in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[1].preview is not None and seen[0].preview is None
    calls = []

    def stop_after_two():
        calls.append(1)
        return len(calls) >= 2

    stopped = generator.generate(sd_request(models, steps=10), should_stop=stop_after_two)
    assert stopped.stopped and stopped.images == [] and stopped.paths == []
    assert len(calls) == 2 and stopped.denoise_steps == 2  # ended at the next step, not at the end
    assert generator.generate(sd_request(models)).images


def test_lora_load_scale_unload_and_a_lora_that_does_not_fit(generator, models):
    plain = generator.generate(sd_request(models))
    name = generator.load_lora(models["sd"], models["lora"], "style")
    with_lora = generator.generate(sd_request(models, loras=(LoraChoice("style", 1.0),)))
    half = generator.generate(sd_request(models, loras=(LoraChoice("style", 0.5),)))
    off = generator.generate(sd_request(models))
    assert name == "style"
    assert not np.array_equal(pixels(with_lora), pixels(plain))
    assert not np.array_equal(pixels(half), pixels(with_lora))
    assert np.array_equal(pixels(off), pixels(plain))
    # An SDXL LoRA does not fit SD: clear message, and the loaded LoRA and model work as before.
    with pytest.raises(StudioError, match="does not fit this model"):
        generator.load_lora(models["sd"], models["lora_sdxl"], "wrong")
    again = generator.generate(sd_request(models, loras=(LoraChoice("style", 1.0),)))
    assert np.array_equal(pixels(again), pixels(with_lora))
    generator.unload_loras()
    assert generator.loaded_loras() == []
    assert np.array_equal(pixels(generator.generate(sd_request(models))), pixels(plain))
    with pytest.raises(StudioError, match="not loaded"):
        generator.generate(sd_request(models, loras=(LoraChoice("style", 1.0),)))


def test_corrupt_lora_and_bin_files_are_refused(generator, models, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\xff" * 64)
    with pytest.raises(StudioError, match="damaged"):
        generator.load_lora(models["sd"], corrupt)
    pickled = tmp_path / "old.bin"
    pickled.write_bytes(b"\0" * 8)
    with pytest.raises(StudioError, match="can run code"):
        generator.load_lora(models["sd"], pickled)
    assert generator.generate(sd_request(models)).images


def test_lora_from_a_folder_with_an_awkward_name(generator, models):
    name = generator.load_lora(models["sd"], models["lora"].parent, "my style.v2-final")
    assert name == "my_style_v2_final" and name in generator.loaded_loras()
    assert generator.generate(sd_request(models, loras=(LoraChoice(name, 0.8),))).images
    generator.unload_loras()


def test_sdxl_text2img_and_refiner_both_ways(generator, models):
    base = dict(model=models["sdxl"], refiner_model=models["refiner"], steps=5)
    plain = generator.generate(sd_request(models, **base))
    ensemble = generator.generate(sd_request(models, **base, refiner="ensemble", refiner_fraction=0.6))
    second = generator.generate(sd_request(models, **base, refiner="second_pass", refiner_strength=0.4))
    assert plain.denoise_steps == 5
    assert ensemble.denoise_steps == 5  # 3 base steps hand over to 2 refiner steps
    assert second.denoise_steps == 5 + 2  # a full base run, then 40% of 5 steps
    assert not np.array_equal(pixels(ensemble), pixels(plain))
    assert not np.array_equal(pixels(second), pixels(plain))
    # The refiner borrowed the base's second text encoder and VAE instead of loading its own.
    refiner = generator.refiner_slot.current.model.text2img
    assert refiner.vae is generator.slot.current.model.text2img.vae
    info = read_png_settings(ensemble.paths[0])
    assert (info.request.refiner, info.request.refiner_fraction) == ("ensemble", 0.6)


def test_img2img_pipeline_shares_the_base_weights(generator, models):
    generator.generate(sd_request(models))
    pipes = generator.slot.current.model
    assert type(pipes.img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert pipes.img2img.unet is pipes.text2img.unet and pipes.img2img.vae is pipes.text2img.vae


def test_refiner_only_with_sdxl(generator, models):
    with pytest.raises(StudioError, match="only with an SDXL base"):
        generator.generate(sd_request(models, refiner="ensemble", refiner_model=models["refiner"]))


def test_unknown_model_gets_a_clear_message(generator, models):
    with pytest.raises(StudioError, match="offline|not a model|neither"):
        generator.generate(sd_request(models, model="nobody/no-such-model"))
    assert generator.generate(sd_request(models)).images


def test_sdxl_lora_load_and_unload(generator, models):
    request = sd_request(models, model=models["sdxl"], steps=3)
    plain = generator.generate(request)
    generator.load_lora(models["sdxl"], models["lora_sdxl"], "xl_style")
    styled = generator.generate(dataclasses.replace(request, loras=(LoraChoice("xl_style", 1.0),)))
    generator.unload_loras()
    assert not np.array_equal(pixels(styled), pixels(plain))
    assert np.array_equal(pixels(generator.generate(request)), pixels(plain))
