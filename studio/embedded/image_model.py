"""Builds and trains the embedded image model: a tiny Stable Diffusion pipeline that draws coloured shapes.

Every part is made here from a config, then trained on `image_data`'s pictures:
a 4-level VAE first (reconstruction), then the UNet and the CLIP text encoder
together (noise prediction, with 10% empty prompts for guidance), keeping an
exponential moving average of their weights. The result is saved with
`save_pretrained`, so the studio loads it through the same `from_pretrained`
path as a hub id. Same seed, same steps and one thread give the same weights.

Rebuild: python -m studio.embedded.image_model --out assets/embedded/image-shapes
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import image_data

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "image-shapes"
REBUILD_COMMAND = "python -m studio.embedded.image_model --out assets/embedded/image-shapes"
MAX_TOKENS = 16  # captions are 9 tokens; longer prompts are cut here
WORDS = ["a", "an", "the", "on", "background", "shape", *image_data.COLOURS, *image_data.SHAPES]


@dataclass
class TrainingRecipe:
    seed: int = 0
    vae_steps: int = 600  # batch of 32 pictures each
    vae_lr: float = 2e-3
    unet_steps: int = 2800  # batch of 32 latents each; the text encoder trains alongside
    unet_lr: float = 1e-3
    batch_size: int = 32
    latent_pictures: int = 12000  # pictures encoded once and reused by the UNet stage
    empty_prompt_rate: float = 0.1  # learned unconditional prompt, needed for guidance
    ema_decay: float = 0.995
    threads: int = 1


# ---------------------------------------------------------------- tokenizer


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def write_tokenizer(folder: Path, words: list[str] = WORDS, max_tokens: int = MAX_TOKENS):
    """Write a valid CLIP BPE tokenizer: every byte is a token, and each of `words` merges into one token.

    The merges are learned by `tokenizers`' BPE trainer on `words` alone, so they are
    ordered as CLIP's tokenizer applies them and no word is cut by another's merges.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    byte_chars = list(_bytes_to_unicode().values())
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    bpe.train_from_iterator(words, trainers.BpeTrainer(
        vocab_size=100_000, min_frequency=1, show_progress=False, initial_alphabet=byte_chars, end_of_word_suffix="</w>"))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]]
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + [a + b for a, b in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    ids = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    (folder / "vocab.json").write_text(json.dumps(ids, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return CLIPTokenizer.from_pretrained(folder, model_max_length=max_tokens, pad_token="<|endoftext|>")


# ---------------------------------------------------------------- models from configs


def make_components(tokenizer, seed: int) -> dict:
    """VAE, text encoder, UNet and schedulers, freshly initialised from `seed`."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=image_data.SIZE,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 32), layers_per_block=1,
        norm_num_groups=1,  # more groups over 8 channels normalise flat colours away
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, projection_dim=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    unet = UNet2DConditionModel(
        sample_size=image_data.SIZE // 8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64,
        attention_head_dim=8, norm_num_groups=8,
    )
    schedule = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    return dict(
        vae=vae, text_encoder=text_encoder, unet=unet,
        train_scheduler=DDPMScheduler(**schedule),
        scheduler=EulerDiscreteScheduler(**schedule, timestep_spacing="trailing"),
    )


# ---------------------------------------------------------------- training


def _to_tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _cosine_lr(step: int, total: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_vae(vae, recipe: TrainingRecipe, log: Callable[[str], None]) -> None:
    import torch

    rng = np.random.default_rng(recipe.seed + 1)
    combos = image_data.training_combinations()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0)
    vae.train()
    for step in range(recipe.vae_steps):
        batch = np.stack([image_data.render(combos[i], rng) for i in rng.integers(0, len(combos), recipe.batch_size)])
        x = _to_tensor(batch)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        loss = (recon - x).abs().mean() + ((recon - x) ** 2).mean() + 1e-4 * posterior.kl().mean()
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(step, recipe.vae_steps, recipe.vae_lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == recipe.vae_steps - 1:
            log(f"vae step {step} loss {loss.item():.4f}")
    vae.eval()


def encode_pictures(vae, tokenizer, recipe: TrainingRecipe):
    """Encode a fixed set of training pictures once; returns scaled latents, token ids and the scaling factor."""
    import torch

    images, captions = image_data.make_dataset(recipe.latent_pictures, seed=recipe.seed + 2)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), 256):
            chunks.append(vae.encode(_to_tensor(images[start:start + 256])).latent_dist.mean)
    latents = torch.cat(chunks)
    scaling = float(1.0 / latents.std())
    ids = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt").input_ids
    return latents * scaling, ids, scaling


def train_unet(parts: dict, latents, ids, empty_ids, recipe: TrainingRecipe, log: Callable[[str], None]) -> dict:
    """Train UNet and text encoder jointly; returns EMA copies of both."""
    import torch

    unet, text_encoder, noise_schedule = parts["unet"], parts["text_encoder"], parts["train_scheduler"]
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=recipe.unet_lr, weight_decay=1e-4)
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    ema_params = list(ema_unet.parameters()) + list(ema_text.parameters())
    generator = torch.Generator().manual_seed(recipe.seed + 3)
    unet.train()
    text_encoder.train()
    for step in range(recipe.unet_steps):
        index = torch.randint(0, len(latents), (recipe.batch_size,), generator=generator)
        x0, tokens = latents[index], ids[index].clone()
        drop = torch.rand(recipe.batch_size, generator=generator) < recipe.empty_prompt_rate
        tokens[drop] = empty_ids
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, noise_schedule.config.num_train_timesteps, (recipe.batch_size,), generator=generator)
        noisy = noise_schedule.add_noise(x0, noise, t)
        context = text_encoder(tokens).last_hidden_state
        loss = torch.nn.functional.mse_loss(unet(noisy, t, encoder_hidden_states=context).sample, noise)
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(step, recipe.unet_steps, recipe.unet_lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        decay = min(recipe.ema_decay, (1 + step) / (10 + step))  # short warm-up so early EMA is not all noise
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        if step % 200 == 0 or step == recipe.unet_steps - 1:
            log(f"unet step {step} loss {loss.item():.4f}")
    return dict(unet=ema_unet, text_encoder=ema_text)


# ---------------------------------------------------------------- checking and shipping


def measure_prompt_following(pipe, seeds: range = range(8), steps: int = 20, guidance: float = 5.0) -> dict:
    """Generate every held-out combination for each seed and read the pictures back by pixel statistics."""
    import torch

    hits = {"colour": 0, "background": 0, "shape": 0}
    total = 0
    for sample in image_data.held_out_combinations():
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        images = pipe(prompt=[sample.caption] * len(generators), num_inference_steps=steps, guidance_scale=guidance,
                      generator=generators, output_type="np").images
        for image in images:
            reading = image_data.describe_image((image * 255).round().astype(np.uint8))
            hits["colour"] += reading.colour == sample.colour
            hits["background"] += reading.background == sample.background
            hits["shape"] += reading.shape == sample.shape
            total += 1
    return {name: count / total for name, count in hits.items()} | {"images": total}


def _card(recipe: TrainingRecipe, accuracy: dict, seconds: float, parameters: int) -> str:
    colours = ", ".join(image_data.COLOURS)
    held = "; ".join(image_data.caption(*h) for h in image_data.HELD_OUT)
    return f"""# Embedded image model: coloured shapes (tiny Stable Diffusion)

A Stable Diffusion pipeline of {parameters / 1e6:.1f}M parameters, built from configs and trained by
this project in {seconds / 60:.0f} minutes on a shared 2-core CPU, on pictures it generates itself.

- **Draws:** one {" / ".join(image_data.SHAPES)} in one of {len(image_data.COLOURS)} colours ({colours})
  on a plain background of another of those colours, from prompts like "a red circle on a blue background".
- **Size:** {image_data.SIZE}x{image_data.SIZE} pixels. Drawn larger it makes only texture, so the studio makes
  larger requests at {image_data.SIZE} px and upscales them.
- **Cannot:** draw anything else: no objects, scenes, text, or several shapes; other words are ignored.
- **Held out of training:** {held}.
- **Measured on those held-out prompts** ({accuracy.get('images', 0)} pictures, Euler 20 steps, guidance 5,
  checked by pixel statistics): foreground colour {accuracy.get('colour', 0):.0%},
  background {accuracy.get('background', 0):.0%}, shape {accuracy.get('shape', 0):.0%} (chance 33%).
- **Rebuild:** `{REBUILD_COMMAND}` (seed {recipe.seed}; one CPU thread gives the same weights).
"""


def write_manifest(folder: Path, extra: dict) -> Path:
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        files[str(path.relative_to(folder))] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    manifest = {"name": "image-shapes", "rebuild": REBUILD_COMMAND, **extra, "files": files}
    path = folder / "MANIFEST.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def verify_manifest(folder: Path = ASSET_DIR) -> list[str]:
    """Files whose checksum differs from the manifest (empty when the shipped model is intact)."""
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    return [name for name, entry in manifest["files"].items()
            if not (folder / name).is_file()
            or hashlib.sha256((folder / name).read_bytes()).hexdigest() != entry["sha256"]]


def build_embedded_image_model(out: Path = ASSET_DIR, recipe: TrainingRecipe | None = None,
                               log: Callable[[str], None] = print, check_seeds: int = 8) -> dict:
    """Train the embedded image model from scratch and write it, its card and its manifest to `out`."""
    import torch
    from diffusers import StableDiffusionPipeline

    recipe = recipe or TrainingRecipe()
    torch.set_num_threads(recipe.threads)
    started = time.perf_counter()
    work = Path(out).with_name(Path(out).name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    tokenizer = write_tokenizer(work / "tokenizer-source")
    parts = make_components(tokenizer, recipe.seed)
    log(f"parameters: vae {sum(p.numel() for p in parts['vae'].parameters()):,}, "
        f"unet {sum(p.numel() for p in parts['unet'].parameters()):,}, "
        f"text {sum(p.numel() for p in parts['text_encoder'].parameters()):,}")
    train_vae(parts["vae"], recipe, log)
    vae_seconds = time.perf_counter() - started
    latents, ids, scaling = encode_pictures(parts["vae"], tokenizer, recipe)
    parts["vae"].register_to_config(scaling_factor=scaling)
    empty_ids = tokenizer("", padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids[0]
    trained = train_unet(parts, latents, ids, empty_ids, recipe, log)
    train_seconds = time.perf_counter() - started
    pipe = StableDiffusionPipeline(
        vae=parts["vae"], text_encoder=trained["text_encoder"], tokenizer=tokenizer, unet=trained["unet"],
        scheduler=parts["scheduler"], safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    accuracy = measure_prompt_following(pipe, seeds=range(check_seeds)) if check_seeds else {}
    log(f"held-out accuracy: {accuracy}")
    pipe.save_pretrained(work / "model", safe_serialization=True)
    parameters = sum(p.numel() for name in ("vae", "text_encoder", "unet") for p in getattr(pipe, name).parameters())
    (work / "model" / "README.md").write_text(_card(recipe, accuracy, train_seconds, parameters))
    shutil.rmtree(out, ignore_errors=True)
    (work / "model").rename(out)
    shutil.rmtree(work, ignore_errors=True)
    summary = {"recipe": asdict(recipe), "train_seconds": round(train_seconds, 1),
               "vae_seconds": round(vae_seconds, 1), "parameters": parameters,
               "held_out_accuracy": accuracy, "scaling_factor": scaling}
    write_manifest(Path(out), summary)
    log(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return summary


def refresh_card(folder: Path = ASSET_DIR, check_seeds: int = 8) -> dict:
    """Measure a built model again (e.g. after the pixel reader changed) and rewrite its card and manifest."""
    import torch
    from diffusers import StableDiffusionPipeline

    manifest = json.loads((Path(folder) / "MANIFEST.json").read_text())
    recipe = TrainingRecipe(**manifest["recipe"])
    torch.set_num_threads(recipe.threads)
    pipe = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    accuracy = measure_prompt_following(pipe, seeds=range(check_seeds))
    (Path(folder) / "README.md").write_text(_card(recipe, accuracy, manifest["train_seconds"], manifest["parameters"]))
    summary = {k: v for k, v in manifest.items() if k not in ("files", "name", "rebuild")}
    summary["held_out_accuracy"] = accuracy
    write_manifest(Path(folder), summary)
    return summary


def build(out: Path = ASSET_DIR, steps: int | None = None) -> dict:
    """Hook for `python -m studio embedded build image`: `steps` overrides the UNet's training steps."""
    recipe = TrainingRecipe(unet_steps=steps) if steps else TrainingRecipe()
    return build_embedded_image_model(Path(out), recipe, log=lambda line: print(line, flush=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train and write the embedded image model.")
    parser.add_argument("--out", type=Path, default=ASSET_DIR)
    parser.add_argument("--vae-steps", type=int, default=TrainingRecipe.vae_steps)
    parser.add_argument("--unet-steps", type=int, default=TrainingRecipe.unet_steps)
    parser.add_argument("--check-seeds", type=int, default=8, help="seeds per held-out prompt in the final check")
    parser.add_argument("--refresh-card", action="store_true",
                        help="do not train: measure the model in --out again and rewrite its card and manifest")
    args = parser.parse_args(argv)
    if args.refresh_card:
        print(json.dumps(refresh_card(args.out, args.check_seeds)["held_out_accuracy"]))
        return
    recipe = TrainingRecipe(vae_steps=args.vae_steps, unet_steps=args.unet_steps)
    build_embedded_image_model(args.out, recipe, log=lambda line: print(line, flush=True), check_seeds=args.check_seeds)


if __name__ == "__main__":
    main()
