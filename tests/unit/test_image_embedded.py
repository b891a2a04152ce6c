"""The shipped embedded image model: intact, fast at its native size, and it follows prompts it never saw."""

import time

import numpy as np
import pytest

from studio.embedded import image_data
from studio.embedded.image_model import ASSET_DIR, verify_manifest
from studio.image.generate import ImageGenerator
from studio.image.request import ImageRequest
from studio.settings import Settings

pytestmark = pytest.mark.skipif(not (ASSET_DIR / "MANIFEST.json").is_file(),
                                reason="embedded image model not built: python -m studio.embedded.image_model")
SEEDS = 8


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    import torch

    torch.set_num_threads(1)  # on a busy 2-core machine, 2 threads make these small ops many times slower
    return ImageGenerator(Settings(outputs_dir=tmp_path_factory.mktemp("outputs")))


def test_shipped_files_match_the_manifest():
    assert verify_manifest(ASSET_DIR) == []


@pytest.mark.slow
def test_follows_prompts_on_held_out_combinations(generator):
    hits = {"colour": 0, "background": 0, "shape": 0}
    total = 0
    for sample in image_data.held_out_combinations():
        result = generator.generate(ImageRequest(sample.caption, images=SEEDS, seed=0), save=False)
        for image in result.images:
            reading = image_data.describe_image(np.asarray(image))
            hits["colour"] += reading.colour == sample.colour
            hits["background"] += reading.background == sample.background
            hits["shape"] += reading.shape == sample.shape
            total += 1
    accuracy = {k: v / total for k, v in hits.items()}
    print("held-out accuracy", accuracy)
    assert accuracy["colour"] >= 0.8
    assert accuracy["background"] >= 0.8
    assert accuracy["shape"] >= 0.6


def test_native_size_picture_in_under_two_seconds_and_larger_requests_upscaled(generator):
    generator.generate(ImageRequest("a red circle on a blue background"), save=False)  # load and warm up
    start = time.perf_counter()
    result = generator.generate(ImageRequest("a green square on a purple background", seed=1))
    assert time.perf_counter() - start < 2.0
    assert result.images[0].size == (64, 64)
    big = generator.generate(ImageRequest("a green square on a purple background", width=256, height=128), save=False)
    assert big.images[0].size == (256, 128)
    assert "upscaled" in big.notes[0]
