"""`ImageRequest` checks every setting in one place and names the field and the bad value."""

import pytest

from studio.errors import ConfigError
from studio.image.request import ImageRequest, LoraChoice


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"width": 100}, "width", "multiple of 8"),
        ({"height": 16}, "height", "between"),
        ({"width": 4096}, "width", "between"),
        ({"steps": 0}, "steps", "from 1"),
        ({"steps": 1000}, "steps", "to 150"),
        ({"strength": 2.0}, "strength", "at most 1"),
        ({"strength": 0.0}, "strength", "above 0"),
        ({"guidance": -1.0}, "guidance", "from 0"),
        ({"images": 9}, "images", "to 8"),
        ({"images": 0}, "images", "from 1"),
        ({"seed": -2}, "seed", "whole number"),
        ({"scheduler": "magic"}, "scheduler", "choose one"),
        ({"refiner": "twice"}, "refiner", "choose one"),
        ({"refiner_fraction": 1.0}, "refiner_fraction", "between 0 and 1"),
        ({"mode": "img2img"}, "init_image", "upload"),
        ({"mode": "img2img", "init_image": "https://example.com/cat.png"}, "init_image", "never fetches"),
        ({"prompt": "x" * 5000}, "prompt", "under 2000"),
        ({"loras": (LoraChoice("a"), LoraChoice("a"))}, "loras", "once"),
        ({"mode": "img2img", "init_image": "x.png", "steps": 3, "strength": 0.3}, "strength", "at least 4"),
        ({"refiner": "second_pass", "steps": 3, "refiner_strength": 0.3}, "refiner_strength", "no denoising step"),
        ({"guidance": float("nan")}, "guidance", "from 0"),
        ({"guidance": float("inf")}, "guidance", "from 0"),
        ({"strength": float("nan")}, "strength", "above 0"),
        ({"refiner_fraction": float("nan")}, "refiner_fraction", "between 0 and 1"),
        ({"refiner_strength": float("inf")}, "refiner_strength", "at most 1"),
        ({"loras": (LoraChoice("a", float("nan")),)}, "scale of LoRA a", "from -4"),
        ({"width": 24}, "width", "or 0 for the model's own size"),
        ({"refiner": "ensemble", "mode": "img2img", "init_image": "x.png"}, "refiner", "text-to-image"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(changes, field, words):
    with pytest.raises(ConfigError) as err:
        ImageRequest(**({"prompt": "a red circle"} | changes))
    assert err.value.field == field
    assert words in str(err.value)


def test_width_message_suggests_neighbours():
    with pytest.raises(ConfigError, match="e.g. 96 or 104"):
        ImageRequest("a", width=100)


def test_seeds_per_image_and_redo_alone():
    request = ImageRequest("a", images=3, seed=10)
    assert request.seeds() == [10, 11, 12]
    alone = request.for_image(2)
    assert (alone.seed, alone.images) == (12, 1)
    resolved = ImageRequest("a", seed=-1).with_resolved_seed()
    assert resolved.seed >= 0


def test_dict_round_trip_keeps_every_field():
    request = ImageRequest("a red circle", negative_prompt="blurry", width=128, steps=7, guidance=3.5,
                           scheduler="ddim", images=2, seed=5, loras=(LoraChoice("style", 0.7),), low_memory=True)
    assert ImageRequest.from_dict(request.to_dict()) == request


def test_0_means_the_models_own_size_and_pndm_is_allowed_part_way():
    request = ImageRequest("a", width=0, height=0, scheduler="pndm", mode="img2img", init_image="x.png", steps=2,
                           strength=0.5)
    assert (request.width, request.height) == (0, 0)


def test_the_pixel_limit_names_itself():
    from studio.errors import StudioError
    from studio.image.request import check_pixels

    check_pixels(1024, 1024, 1024 * 1024)
    with pytest.raises(StudioError, match=r"1,048,576 pixels.*max_image_pixels.*STUDIO_MAX_IMAGE_PIXELS"):
        check_pixels(1024, 1032, 1024 * 1024)
