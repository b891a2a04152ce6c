"""The Image tab through gradio_client: pictures come back as PNGs with their settings; bad input is refused clearly."""

import pytest
from gradio_client import handle_file

from studio.image.pnginfo import read_png_settings
from tests.image_models import tiny_lora, tiny_sd, tiny_sdxl


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-image-models")
    sd = tiny_sd(root / "sd")
    return {"sd": str(sd), "lora": tiny_lora(sd, root / "lora"), "sdxl_lora": tiny_lora(tiny_sdxl(root / "xl"), root / "xl-lora"),
            "root": root}


def generate(client, tiny, **changes):
    args = dict(prompt="a red circle", negative="", model="embedded/image-shapes", custom_model=tiny["sd"],
                mode="text2img", init_image=None, width=32, height=32, steps=3, guidance=5, strength=0.6,
                scheduler="default", images=1, seed=3, refiner="none",
                refiner_model="stabilityai/stable-diffusion-xl-refiner-1.0", refiner_fraction=0.8,
                refiner_strength=0.3, loras="", low_memory=False, preview_every=0) | changes
    return client.predict(**args, api_name="/image_generate")


def test_a_picture_is_made_and_its_png_carries_the_settings(client, tiny):
    gallery, preview, status, downloads = generate(client, tiny, images=2, seed=5)
    assert len(gallery) == 2 and "seeds 5, 6" in status
    info = read_png_settings(downloads[1])
    assert (info.request.seed, info.request.prompt, info.request.model) == (6, "a red circle", tiny["sd"])
    refill = client.predict(handle_file(downloads[1]), api_name="/image_png_info")
    assert refill[0] == "a red circle" and refill[3] == tiny["sd"] and refill[12] == 6
    assert "seed 6" in refill[-1]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"width": 100}, "multiple of 8"),
        ({"steps": 0}, "steps"),
        ({"mode": "img2img", "strength": 2}, "strength"),
        ({"loras": "style=loud"}, "name=scale"),
        ({"custom_model": "/no/such/folder"}, "neither a local folder nor a hub id"),
    ],
)
def test_bad_settings_give_a_clear_message_and_the_tab_keeps_working(client, tiny, changes, message):
    with pytest.raises(Exception, match=message):
        generate(client, tiny, **changes)
    assert generate(client, tiny)[0]


def test_a_non_image_upload_is_refused(client, tiny, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("this is text, not a picture")
    with pytest.raises(Exception, match="not a picture"):
        generate(client, tiny, mode="img2img", init_image=handle_file(str(fake)))
    assert generate(client, tiny)[0]


def test_a_50_mb_upload_is_refused(client, tiny, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (50 * 2**20))
    with pytest.raises(Exception):  # the server answers 413: over the 5 MB upload limit of the test settings
        generate(client, tiny, mode="img2img", init_image=handle_file(str(big)))
    assert generate(client, tiny)[0]


def test_lora_load_and_a_corrupt_lora(client, tiny, tmp_path):
    loras, note = client.predict(handle_file(str(tiny["lora"])), "style", "embedded/image-shapes", tiny["sd"], "",
                                 api_name="/image_load_lora")
    assert loras == "style=1" and "style" in note
    assert generate(client, tiny, loras="style=0.5")[0]
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x01" * 100)
    with pytest.raises(Exception, match="damaged"):
        client.predict(handle_file(str(corrupt)), "", "embedded/image-shapes", tiny["sd"], "",
                       api_name="/image_load_lora")
    with pytest.raises(Exception, match="does not fit"):
        client.predict(handle_file(str(tiny["sdxl_lora"])), "xl", "embedded/image-shapes", tiny["sd"], "",
                       api_name="/image_load_lora")
    assert generate(client, tiny, loras="style=1")[0]
    assert client.predict(api_name="/image_unload_loras")[0] == ""
    assert generate(client, tiny)[0]


def test_stop_ends_only_this_sessions_generation(client, studio_url, tiny):
    import time

    from gradio_client import Client

    args = dict(prompt="a red circle", negative="", model="embedded/image-shapes", custom_model=tiny["sd"],
                mode="text2img", init_image=None, width=32, height=32, steps=150, guidance=5, strength=0.6,
                scheduler="default", images=1, seed=3, refiner="none",
                refiner_model="stabilityai/stable-diffusion-xl-refiner-1.0", refiner_fraction=0.8,
                refiner_strength=0.3, loras="", low_memory=False, preview_every=0)
    job = client.submit(**args, api_name="/image_generate")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("Step" in str(o[2]) for o in job.outputs()):
        time.sleep(0.05)
    Client(studio_url, verbose=False).predict(api_name="/image_stop")  # another session's Stop: no effect
    time.sleep(0.3)
    assert not job.done()
    client.predict(api_name="/image_stop")
    try:
        final = job.result(timeout=10)
    except Exception:  # cancelled jobs may end without a final value
        final = None
    assert final is None or not final[0]
    gallery, _, status, _ = generate(client, tiny)
    assert gallery and "seeds 3" in status
