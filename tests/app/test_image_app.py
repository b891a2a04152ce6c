"""The Image tab through gradio_client: pictures come back as PNGs with their settings, bad input is refused
clearly, and two visitors sharing the image worker never change each other's pictures or stop each other's work."""

import time

import pytest
from gradio_client import Client, handle_file

from studio.image.pnginfo import read_png_settings
from tests.app.conftest import free_port
from tests.image_models import tiny_lora, tiny_sd, tiny_sdxl


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-image-models")
    models = root / "allowed"  # the operator's STUDIO_LOCAL_MODELS folder
    sd = tiny_sd(models / "sd")
    return {"sd": str(sd), "lora": tiny_lora(sd, root / "lora"), "lora_b": tiny_lora(sd, root / "lora-b", seed=5),
            "sdxl_lora": tiny_lora(tiny_sdxl(root / "xl"), root / "xl-lora"), "root": root, "allowed": models}


@pytest.fixture(scope="module")
def image_url(tiny, tmp_path_factory):
    """A studio whose operator allows the test models' folder (visitors may not name other server folders)."""
    from studio.settings import Settings
    from studio.ui.app import build_app, launch_kwargs

    settings = Settings(outputs_dir=tmp_path_factory.mktemp("image-app-out"), port=free_port(), max_file_size_mb=5,
                        local_models=(tiny["allowed"].resolve(),), torch_threads=1)
    demo = build_app(settings)
    _, url, _ = demo.launch(**launch_kwargs(settings) | dict(prevent_thread_lock=True, quiet=True))
    yield url
    demo.close()
    demo.studio.close()


@pytest.fixture()
def client(image_url):
    return Client(image_url, verbose=False)


ARGS = dict(prompt="a red circle", negative="", model="embedded/image-shapes", mode="text2img", init_image=None,
            width=32, height=32, steps=3, guidance=5, strength=0.6, scheduler="default", images=1, seed=3,
            refiner="none", refiner_model="stabilityai/stable-diffusion-xl-refiner-1.0", refiner_fraction=0.8,
            refiner_strength=0.3, loras="", low_memory=False, preview_every=0)


def generate(client, tiny, **changes):
    return client.predict(**(ARGS | {"custom_model": tiny["sd"]} | changes), api_name="/image_generate")


def load_lora(client, tiny, file, name="style"):
    return client.predict(handle_file(str(file)), name, "embedded/image-shapes", tiny["sd"], "",
                          api_name="/image_load_lora")


def png_bytes(result) -> bytes:
    with open(result[3][0], "rb") as png:
        return png.read()


def test_a_picture_is_made_and_its_png_carries_the_settings(client, tiny):
    gallery, preview, status, downloads = generate(client, tiny, images=2, seed=5)
    assert len(gallery) == 2 and "seeds 5, 6" in status
    info = read_png_settings(downloads[1])
    assert (info.request.seed, info.request.prompt, info.request.model) == (6, "a red circle", tiny["sd"])
    refill = client.predict(handle_file(downloads[1]), api_name="/image_png_info")
    assert refill[0] == "a red circle" and refill[3] == tiny["sd"] and refill[12] == 6
    assert "seed 6" in refill[-1]


def test_the_embedded_model_draws_at_its_own_size_by_default(client, tiny):
    gallery, _, status, downloads = generate(client, tiny, custom_model="", width=0, height=0)
    assert "64x64" in status and read_png_settings(downloads[0]).request.width == 64


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"width": 100}, "multiple of 8"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"images": 9}, "images"),
        ({"width": 2048, "height": 1024}, "max_image_pixels"),
        ({"mode": "img2img", "strength": 2}, "strength"),
        ({"loras": "style=loud"}, "name=scale"),
        ({"custom_model": "/etc"}, "not a model this studio offers"),
        ({"custom_model": "../../secret"}, "not a model this studio offers"),
    ],
)
def test_bad_settings_give_a_clear_message_and_the_tab_keeps_working(client, tiny, changes, message):
    with pytest.raises(Exception, match=message):
        generate(client, tiny, **changes)
    assert generate(client, tiny)[0]


def test_a_non_image_upload_is_refused(client, tiny, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("this is text, not a picture")
    with pytest.raises(Exception):
        generate(client, tiny, mode="img2img", init_image=handle_file(str(fake)))
    assert generate(client, tiny)[0]


def test_a_50_mb_upload_is_refused(client, tiny, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (50 * 2**20))
    with pytest.raises(Exception):  # the server answers 413: over the 5 MB upload limit of the test settings
        generate(client, tiny, mode="img2img", init_image=handle_file(str(big)))
    assert generate(client, tiny)[0]


def test_img2img_from_an_uploaded_picture(client, tiny):
    start = generate(client, tiny)[3][0]
    gallery, _, status, _ = generate(client, tiny, mode="img2img", init_image=handle_file(start), strength=0.5,
                                     steps=4)
    assert gallery and "1 picture" in status


def test_lora_load_and_a_corrupt_lora(client, tiny, tmp_path):
    loras, note = load_lora(client, tiny, tiny["lora"])
    assert loras == "style=1" and "style" in note
    assert generate(client, tiny, loras="style=0.5")[0]
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x01" * 100)
    with pytest.raises(Exception, match="damaged"):
        load_lora(client, tiny, corrupt, "")
    with pytest.raises(Exception, match="does not fit"):
        load_lora(client, tiny, tiny["sdxl_lora"], "xl")
    assert generate(client, tiny, loras="style=1")[0]
    assert client.predict(api_name="/image_unload_loras")[0] == ""
    with pytest.raises(Exception, match="not loaded"):
        generate(client, tiny, loras="style=1")


@pytest.mark.slow
def test_one_visitors_lora_unload_and_scales_never_change_anothers_picture(image_url, tiny):
    alice, bob = Client(image_url, verbose=False), Client(image_url, verbose=False)
    bob_plain = png_bytes(generate(bob, tiny))
    load_lora(bob, tiny, tiny["lora_b"])
    bob_styled = png_bytes(generate(bob, tiny, loras="style=0.5"))
    assert bob_styled != bob_plain
    load_lora(alice, tiny, tiny["lora"])  # her "style" is another file
    assert png_bytes(generate(alice, tiny, loras="style=1")) != bob_styled
    with pytest.raises(Exception, match="not loaded"):  # and his LoRA is not hers to use
        generate(alice, tiny, loras="other=1")
    assert png_bytes(generate(bob, tiny)) == bob_plain  # her LoRA is not on in his plain picture
    alice.predict(api_name="/image_unload_loras")
    assert png_bytes(generate(bob, tiny, loras="style=0.5")) == bob_styled
    assert png_bytes(generate(bob, tiny)) == bob_plain


def wait_for_step(job, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("step" in str(o[2]) for o in job.outputs()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no denoising step seen: {job.outputs()}")


@pytest.mark.slow
def test_stop_ends_only_this_visitors_generation_and_keeps_the_pictures(image_url, tiny):
    alice, bob = Client(image_url, verbose=False), Client(image_url, verbose=False)
    long = ARGS | {"custom_model": tiny["sd"], "width": 128, "height": 128, "steps": 150}
    first = generate(alice, tiny)[0]
    assert first
    job = alice.submit(**long, api_name="/image_generate")
    wait_for_step(job)
    bob.predict(api_name="/image_stop")  # Bob's Stop: Alice's picture goes on
    time.sleep(0.5)
    assert not job.done()
    bobs = bob.submit(**(ARGS | {"custom_model": tiny["sd"]}), api_name="/image_generate")  # waits its turn
    stopped_at = time.monotonic()
    alice.predict(api_name="/image_stop")
    final = job.result(timeout=15)
    assert time.monotonic() - stopped_at < 5
    assert "Stopped after" in final[2] and "from before" in final[2]
    assert final[0] is None or len(final[0]) == 1  # the gallery was not replaced by an empty one
    gallery, _, status, _ = bobs.result(timeout=30)  # Bob's queued picture was not stopped by Alice's Stop
    assert gallery and "seeds 3" in status
