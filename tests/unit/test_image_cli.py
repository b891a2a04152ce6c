"""`python -m studio image`: a person at a terminal may name any folder, and LoRA files, in this process."""

import argparse

from studio.image import cli
from studio.settings import Settings
from tests.image_models import tiny_lora, tiny_sd


def test_cli_makes_a_picture_from_any_folder_with_a_lora(tmp_path):
    sd = tiny_sd(tmp_path / "somewhere" / "sd")
    lora = tiny_lora(sd, tmp_path / "lora")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--prompt", "a red circle", "--model", str(sd), "--steps", "2",
                              "--lora", f"{lora}=0.5", "--out", str(tmp_path / "copies")])
    summary = cli.run(args, Settings(outputs_dir=tmp_path / "outputs", torch_threads=1))
    assert summary["size"] == [32, 32]  # the tiny model's own size (16 latents x a 2-level VAE), not 64
    assert [p.rsplit("/", 1)[-1] for p in summary["files"]] == ["image-00-seed-0.png"]
    assert (tmp_path / "copies" / "image-00-seed-0.png").is_file()
