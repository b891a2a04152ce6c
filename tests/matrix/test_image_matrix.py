"""The image engine on every family and path, compared pixel for pixel with bare diffusers at the same seed.

Families: replicas of SD 1.5 (safety checker, PNDM), SD 2.1 (v-prediction), SDXL base and its refiner
(tests/replicas/image.py), each loaded from a folder (as an operator's STUDIO_LOCAL_MODELS folder) and by hub
id from an offline cache; and the shipped embedded/image-shapes exactly as shipped. Paths: text-to-image,
img2img, every scheduler (both modes), LoRAs at scales 0, 0.5 and 1 (diffusers and kohya files; SDXL), the
refiner as an ensemble and as a second pass. The bare side is the plain pipeline call a diffusers user would
write; at the same seed the studio's picture must be the same pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from studio.embedded import EMBEDDED_DIR
from studio.image.generate import ImageGenerator
from studio.image.request import SCHEDULERS, ImageRequest, LoraChoice
from studio.settings import Settings
from tests.replicas import hub_cache
from tests.replicas.image import HUB_IDS, diffusers_lora, session_replicas
from tests.replicas.report import record

pytestmark = pytest.mark.slow

PROMPT = "a red circle on a blue background"
SEED = 5
STEPS = 3
EMBEDDED = "embedded/image-shapes"
NAMES = {"sd15": "SD 1.5", "sd21": "SD 2.1 (v-prediction)", "sdxl": "SDXL base", "refiner": "SDXL refiner",
         EMBEDDED: "embedded/image-shapes"}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    return session_replicas(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return ImageGenerator(Settings(outputs_dir=tmp_path_factory.mktemp("image-matrix-out")))


class Cells:
    """Runs each cell, records its outcome in docs/models.md's table, and fails the test at the end if any failed."""

    def __init__(self, family: str):
        self.family, self.failed = NAMES[family], []

    def run(self, path: str, check) -> None:
        try:
            check()
            outcome = "works"
        except AssertionError as err:
            outcome = f"differs from bare diffusers: {str(err).splitlines()[0][:120]}"
            self.failed.append(f"{path}: {outcome}")
        except Exception as err:  # a refusal or a crash: recorded as what a visitor would read
            outcome = f"refused: {str(err).splitlines()[0][:160]}"
            self.failed.append(f"{path}: {outcome}")
        record("image", self.family, path, outcome)

    def assert_all_work(self) -> None:
        assert not self.failed, "\n".join(self.failed)


def bare_pipe(folder: Path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bare_scheduler(name: str, config):
    from studio.image.pipelines import make_scheduler

    return make_scheduler(name, dict(config))  # the same class and config a diffusers user would pick


def bare_call(pipe, **kwargs):
    import torch

    kwargs = {"num_inference_steps": STEPS, "guidance_scale": 5.0} | kwargs
    return np.asarray(pipe(PROMPT, generator=torch.Generator("cpu").manual_seed(SEED), **kwargs).images[0])


def studio_call(engine, model: str, scope: dict, **changes) -> np.ndarray:
    request = ImageRequest(**({"prompt": PROMPT, "model": model, "steps": STEPS, "seed": SEED} | changes))
    result = engine.generate(request, scope=scope)
    assert result.paths, f"no picture kept ({result.notes})"
    return np.asarray(result.images[0])


def same(studio: np.ndarray, bare: np.ndarray) -> None:
    assert studio.shape == bare.shape, f"size {studio.shape} vs {bare.shape}"
    assert np.array_equal(studio, bare), f"max pixel difference {np.abs(studio.astype(int) - bare).max()}"


def sources(replicas, family: str):
    """(column prefix, model name, scope, cache context) for the folder and the hub id."""
    import contextlib

    yield "folder", str(replicas.folders[family]), {"local_roots": (str(replicas.folders[family].parent),)}, \
        contextlib.nullcontext()
    yield "hub id", HUB_IDS[family], {}, hub_cache.offline_cache(replicas.cache)


def start_image(size: int, tmp_path: Path) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    path = tmp_path / f"start-{size}.png"
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize("family", ["sd15", "sd21"])
def test_sd_families(engine, replicas, family, tmp_path):
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    cells = Cells(family)
    bare = bare_pipe(replicas.folders[family])
    bare_i2i = AutoPipelineForImage2Image.from_pipe(bare)
    size = bare.unet.config.sample_size * bare.vae_scale_factor
    init = start_image(size, tmp_path)
    for column, model, scope, context in sources(replicas, family):
        with context:
            cells.run(f"{column}: text-to-image", lambda: same(studio_call(engine, model, scope),
                                                               bare_call(bare)))
            cells.run(f"{column}: img2img", lambda: same(
                studio_call(engine, model, scope, mode="img2img", init_image=init, strength=0.7, steps=4),
                bare_call(bare_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4)))
    model, scope = str(replicas.folders[family]), {"any_path": True}

    def every_scheduler():
        for name in SCHEDULERS:
            bare.scheduler = bare_i2i.scheduler = bare_scheduler(name, bare.scheduler.config)
            same(studio_call(engine, model, scope, scheduler=name), bare_call(bare))
            same(studio_call(engine, model, scope, scheduler=name, mode="img2img", init_image=init, strength=0.7,
                             steps=4),
                 bare_call(bare_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4))

    saved = bare.scheduler
    cells.run("every scheduler, both modes", every_scheduler)
    bare.scheduler = bare_i2i.scheduler = saved
    if family == "sd15":
        lora_cells(cells, engine, bare, model, scope, replicas.loras["sd15"], "LoRA 0 / 0.5 / 1 (diffusers file)")
        lora_cells(cells, engine, bare, model, scope, replicas.loras["sd15_kohya"], "LoRA 0 / 0.5 / 1 (kohya file)")
    cells.assert_all_work()


def lora_cells(cells, engine, bare, model, scope, file: Path, column: str) -> None:
    def check():
        name = engine.load_lora(model, file, "style", scope=scope)
        bare.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name="style")
        try:
            for scale in (0.0, 0.5, 1.0):
                bare.set_adapters(["style"], adapter_weights=[scale])
                same(studio_call(engine, model, scope, loras=(LoraChoice(name, scale),)), bare_call(bare))
        finally:
            bare.unload_lora_weights()
            engine.unload_loras()

    cells.run(column, check)


def test_sdxl_base_refiner_and_lora(engine, replicas, tmp_path):
    from diffusers import AutoPipelineForImage2Image

    from PIL import Image

    cells = Cells("sdxl")
    base = bare_pipe(replicas.folders["sdxl"])
    base_i2i = AutoPipelineForImage2Image.from_pipe(base)
    refiner = AutoPipelineForImage2Image.from_pretrained(replicas.folders["refiner"])
    refiner.set_progress_bar_config(disable=True)
    size = base.unet.config.sample_size * base.vae_scale_factor
    init = start_image(size, tmp_path)
    refiner_cells = Cells("refiner")
    for column, model, scope, context in sources(replicas, "sdxl"):
        refiner_model = str(replicas.folders["refiner"]) if column == "folder" else HUB_IDS["refiner"]
        refiner_scope = scope if column == "hub id" else {"local_roots": (str(replicas.folders["refiner"].parent),)}
        with context:
            cells.run(f"{column}: text-to-image", lambda: same(studio_call(engine, model, scope, steps=4),
                                                               bare_call(base, num_inference_steps=4)))
            cells.run(f"{column}: img2img", lambda: same(
                studio_call(engine, model, scope, mode="img2img", init_image=init, strength=0.7, steps=4),
                bare_call(base_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4)))

            # Both phases draw from one generator per picture, as in diffusers' own refiner examples.
            def ensemble():
                import torch

                generator = torch.Generator("cpu").manual_seed(SEED)
                latents = base(PROMPT, num_inference_steps=4, denoising_end=0.5, output_type="latent",
                               generator=generator, guidance_scale=5.0).images
                expected = np.asarray(refiner(PROMPT, image=latents, num_inference_steps=4, denoising_start=0.5,
                                              guidance_scale=5.0, generator=generator).images[0])
                studio = studio_call(engine, model, scope | refiner_scope, steps=4, refiner="ensemble",
                                     refiner_fraction=0.5, refiner_model=refiner_model)
                assert studio.shape == expected.shape == (size, size, 3)
                same(studio, expected)

            def second_pass():
                import torch

                generator = torch.Generator("cpu").manual_seed(SEED)
                first = base(PROMPT, num_inference_steps=4, guidance_scale=5.0, generator=generator).images
                expected = np.asarray(refiner(PROMPT, image=first, num_inference_steps=4, strength=0.5,
                                              guidance_scale=5.0, generator=generator).images[0])
                studio = studio_call(engine, model, scope | refiner_scope, steps=4, refiner="second_pass",
                                     refiner_strength=0.5, refiner_model=refiner_model)
                assert studio.shape == expected.shape
                same(studio, expected)

            refiner_cells.run(f"{column}: ensemble (latents)", ensemble)
            refiner_cells.run(f"{column}: second pass (img2img)", second_pass)
    model, scope = str(replicas.folders["sdxl"]), {"any_path": True}

    def every_scheduler():
        saved = base.scheduler
        try:
            for name in SCHEDULERS:
                base.scheduler = base_i2i.scheduler = bare_scheduler(name, saved.config)
                same(studio_call(engine, model, scope, scheduler=name), bare_call(base))
                same(studio_call(engine, model, scope, scheduler=name, mode="img2img", init_image=init, strength=0.7,
                                 steps=4),
                     bare_call(base_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4))
        finally:
            base.scheduler = base_i2i.scheduler = saved

    cells.run("every scheduler, both modes", every_scheduler)
    lora_cells(cells, engine, base, model, scope, replicas.loras["sdxl"], "LoRA 0 / 0.5 / 1 (diffusers file)")
    cells.assert_all_work()
    refiner_cells.assert_all_work()


def test_the_shipped_embedded_model_on_every_path(engine, replicas, tmp_path):
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    cells = Cells(EMBEDDED)
    folder = EMBEDDED_DIR / "image-shapes"
    bare = bare_pipe(folder)
    bare_i2i = AutoPipelineForImage2Image.from_pipe(bare)
    init = start_image(64, tmp_path)
    cells.run("folder: text-to-image", lambda: same(studio_call(engine, str(folder), {"any_path": True}),
                                                    bare_call(bare)))
    cells.run("preset: text-to-image", lambda: same(studio_call(engine, EMBEDDED, {}), bare_call(bare)))
    cells.run("preset: img2img", lambda: same(
        studio_call(engine, EMBEDDED, {}, mode="img2img", init_image=init, strength=0.7, steps=4),
        bare_call(bare_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4)))

    def every_scheduler():
        saved = bare.scheduler
        try:
            for name in SCHEDULERS:
                bare.scheduler = bare_i2i.scheduler = bare_scheduler(name, saved.config)
                same(studio_call(engine, EMBEDDED, {}, scheduler=name), bare_call(bare))
                same(studio_call(engine, EMBEDDED, {}, scheduler=name, mode="img2img", init_image=init,
                                 strength=0.7, steps=4),
                     bare_call(bare_i2i, image=Image.open(init).convert("RGB"), strength=0.7, num_inference_steps=4))
        finally:
            bare.scheduler = bare_i2i.scheduler = saved

    cells.run("every scheduler, both modes", every_scheduler)
    lora = diffusers_lora(folder, tmp_path / "embedded-lora")
    lora_cells(cells, engine, bare, EMBEDDED, {}, lora, "LoRA 0 / 0.5 / 1 (diffusers file)")

    def fixed_size_however_named():
        for name, scope in ((EMBEDDED, {}), (str(folder), {"any_path": True})):
            result = engine.generate(ImageRequest(PROMPT, model=name, width=256, height=256, steps=2), scope=scope)
            assert result.images[0].size == (256, 256) and "draws at 64x64" in result.notes[0], name

    cells.run("larger than 64 px (preset or folder)", fixed_size_however_named)
    cells.assert_all_work()
    with pytest.raises(Exception, match="only with an SDXL base"):
        engine.generate(dataclasses.replace(ImageRequest(PROMPT, model=EMBEDDED), refiner="ensemble"), scope={})
    record("image", NAMES[EMBEDDED], "refiner", "refused: the refiner works only with an SDXL base")
