"""Tiny random-weight replicas of the image families visitors load, built from the real classes in seconds.

Each keeps the traits the studio can trip on (see ../shared/REPLICAS.md):

| family | hub id | traits kept |
| --- | --- | --- |
| SD 1.5 | stable-diffusion-v1-5/stable-diffusion-v1-5 | PNDM default (skip_prk_steps), 4-level VAE (scale 8), CLIP text encoder with 77 positions and quick_gelu, a safety checker and its feature extractor |
| SD 2.1 | stabilityai/stable-diffusion-2-1 | DDIM with `v_prediction`, OpenCLIP-like encoder (gelu, pad "!"), linear projections, upcast attention, no safety checker |
| SDXL base | stabilityai/stable-diffusion-xl-base-1.0 | CLIPTextModel + CLIPTextModelWithProjection, `text_time` added embedding, `force_zeros_for_empty_prompt`, tokenizer_2 pads with "!" |
| SDXL refiner | stabilityai/stable-diffusion-xl-refiner-1.0 | img2img pipeline with only text_encoder_2 (the base's weights), `requires_aesthetics_score` |

Native sizes differ from each other and from 64 px (32, 48, 48 px), so a test can tell "the model's own size"
from the old 64 px default. LoRAs come in the diffusers format (`save_lora_weights`), the kohya/civitai key
names (`lora_unet_...`, `lora_te_...` with `.alpha`), and for SDXL.

`build_image_replicas(root)` lays every replica out as a folder and in an offline hub cache under its real id.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import hub_cache

HUB_IDS = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sd21": "stabilityai/stable-diffusion-2-1",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "refiner": "stabilityai/stable-diffusion-xl-refiner-1.0",
}
NATIVE = {"sd15": 32, "sd21": 48, "sdxl": 48, "refiner": 48}
WORDS = ["a", "red", "blue", "green", "circle", "square", "on", "background", "photo", "of", "cat", "blurry"]
SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                steps_offset=1)


@dataclass
class ImageReplicas:
    folders: dict[str, Path]  # family -> save_pretrained folder
    cache: Path  # offline hub cache holding every family under HUB_IDS
    loras: dict[str, Path] = field(default_factory=dict)  # "sd15", "sd15_kohya", "sdxl" -> .safetensors file

    def hub_id(self, family: str) -> str:
        return HUB_IDS[family]


def tokenizer(folder: Path, pad: str = "<|endoftext|>"):
    from studio.embedded.image_model import write_tokenizer

    made = write_tokenizer(Path(folder), words=WORDS, max_tokens=77)
    if pad != "<|endoftext|>":
        made.pad_token = pad
    return made


def vae(scaling: float, force_upcast: bool = False):
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=64, layers_per_block=1,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         block_out_channels=(4, 8, 8, 8), norm_num_groups=2, scaling_factor=scaling,
                         force_upcast=force_upcast)


def text_encoder(tok, act: str = "quick_gelu", projection: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77, hidden_act=act,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id, **({"projection_dim": projection} if projection else {}))
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def unet(sample_size: int, cross: int, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=sample_size, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross, norm_num_groups=4, **({"attention_head_dim": 2} | extra))


def safety_checker():
    """SD 1.5's checker: CLIP vision tower + concept embeddings; thresholds of 1 flag nothing (cosine <= 1)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(text_config=dict(hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                         num_attention_heads=2),
                        vision_config=dict(hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=8),
                        projection_dim=16)
    checker = StableDiffusionSafetyChecker(config).eval()
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, extractor


def build_sd15(folder: Path) -> Path:
    import torch
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    torch.manual_seed(15)
    tok = tokenizer(folder / "_tok")
    checker, extractor = safety_checker()
    pipe = StableDiffusionPipeline(
        vae=vae(0.18215), text_encoder=text_encoder(tok), tokenizer=tok, unet=unet(NATIVE["sd15"] // 8, 32),
        scheduler=PNDMScheduler(**SCHEDULE, skip_prk_steps=True, set_alpha_to_one=False),
        safety_checker=checker, feature_extractor=extractor, requires_safety_checker=True)
    pipe.save_pretrained(folder)
    return folder


def build_sd21(folder: Path) -> Path:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPImageProcessor

    torch.manual_seed(21)
    tok = tokenizer(folder / "_tok", pad="!")
    pipe = StableDiffusionPipeline(
        vae=vae(0.18215), text_encoder=text_encoder(tok, act="gelu"), tokenizer=tok,
        unet=unet(NATIVE["sd21"] // 8, 32, attention_head_dim=(2, 4), use_linear_projection=True,
                  upcast_attention=True),
        scheduler=DDIMScheduler(**SCHEDULE, prediction_type="v_prediction", clip_sample=False,
                                set_alpha_to_one=False),
        safety_checker=None, feature_extractor=CLIPImageProcessor(), requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def _sdxl_unet(cross: int, time_ids: int):
    return unet(NATIVE["sdxl"] // 8, cross, attention_head_dim=(2, 4), use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
                projection_class_embeddings_input_dim=time_ids * 8 + 32)


def build_sdxl(base_folder: Path, refiner_folder: Path) -> tuple[Path, Path]:
    """The base and its refiner; the refiner ships the base's second text encoder and VAE, as the real one does."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    torch.manual_seed(10)
    tok = tokenizer(base_folder / "_tok")
    tok_2 = tokenizer(base_folder / "_tok2", pad="!")
    encoder_2 = text_encoder(tok_2, act="gelu", projection=32)
    shared_vae = vae(0.13025, force_upcast=True)
    scheduler = EulerDiscreteScheduler(**SCHEDULE, timestep_spacing="leading", interpolation_type="linear")
    base = StableDiffusionXLPipeline(
        vae=shared_vae, text_encoder=text_encoder(tok), text_encoder_2=encoder_2, tokenizer=tok, tokenizer_2=tok_2,
        unet=_sdxl_unet(64, time_ids=6), scheduler=scheduler, force_zeros_for_empty_prompt=True)
    base.save_pretrained(base_folder)
    torch.manual_seed(11)
    refiner = StableDiffusionXLImg2ImgPipeline(
        vae=shared_vae, text_encoder=None, tokenizer=None, text_encoder_2=encoder_2, tokenizer_2=tok_2,
        unet=_sdxl_unet(32, time_ids=5), scheduler=scheduler, requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False)
    refiner.save_pretrained(refiner_folder)
    return base_folder, refiner_folder


# ---------------------------------------------------------------- LoRAs


def _unet_lora_layers(model_folder: Path, seed: int, rank: int = 2) -> dict:
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    model = UNet2DConditionModel.from_pretrained(model_folder, subfolder="unet")
    model.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                 target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    return get_peft_model_state_dict(model)


def diffusers_lora(model_folder: Path, out_folder: Path, seed: int = 0) -> Path:
    """`save_lora_weights` output: what diffusers' own training scripts write."""
    import diffusers
    from diffusers.utils import convert_state_dict_to_diffusers

    layers = convert_state_dict_to_diffusers(_unet_lora_layers(model_folder, seed))
    pipeline_class = diffusers.DiffusionPipeline.load_config(model_folder)["_class_name"]
    getattr(diffusers, pipeline_class).save_lora_weights(out_folder, unet_lora_layers=layers, safe_serialization=True)
    return Path(out_folder) / "pytorch_lora_weights.safetensors"


def kohya_lora(model_folder: Path, out_file: Path, seed: int = 1, rank: int = 2) -> Path:
    """A kohya-ss / civitai file: `lora_unet_..._to_q.lora_down.weight`, `.lora_up.weight`, `.alpha`, and text encoder
    layers as `lora_te_text_model_encoder_layers_0_self_attn_q_proj...`, the names sd-scripts writes for SD 1.x."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    generator = torch.Generator().manual_seed(seed)
    targets = {}
    unet_model = UNet2DConditionModel.from_pretrained(model_folder, subfolder="unet")
    for name, module in unet_model.named_modules():
        if name.endswith(("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q", "attn2.to_k", "attn2.to_v")):
            targets["lora_unet_" + name.replace(".", "_")] = module
    encoder = CLIPTextModel.from_pretrained(model_folder, subfolder="text_encoder")
    for name, module in encoder.named_modules():
        if name.endswith(("q_proj", "k_proj", "v_proj", "out_proj")):
            name = name if name.startswith("text_model.") else "text_model." + name
            targets["lora_te_" + name.replace(".", "_")] = module
    weights = {}
    for key, module in sorted(targets.items()):
        weights[f"{key}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * 0.3
        weights[f"{key}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.3
        weights[f"{key}.alpha"] = torch.tensor(float(rank))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out_file), metadata={"ss_network_module": "networks.lora", "ss_network_dim": str(rank)})
    return out_file


# ---------------------------------------------------------------- everything, once


def build_image_replicas(root: Path) -> ImageReplicas:
    """Every family as a folder and in an offline cache under its hub id, plus LoRAs; a few seconds."""
    root = Path(root)
    folders = {"sd15": build_sd15(root / "sd15"), "sd21": build_sd21(root / "sd21")}
    folders["sdxl"], folders["refiner"] = build_sdxl(root / "sdxl", root / "refiner")
    for folder in folders.values():
        for scratch in folder.glob("_tok*"):
            shutil.rmtree(scratch)
    cache = root / "hub-cache"
    for family, folder in folders.items():
        hub_cache.place(folder, HUB_IDS[family], cache)
    loras = {
        "sd15": diffusers_lora(folders["sd15"], root / "lora-sd15"),
        "sd15_kohya": kohya_lora(folders["sd15"], root / "lora-sd15-kohya" / "style_civitai.safetensors"),
        "sdxl": diffusers_lora(folders["sdxl"], root / "lora-sdxl", seed=2),
    }
    return ImageReplicas(folders, cache, loras)


_SESSION: dict[str, ImageReplicas] = {}


def session_replicas(tmp_path_factory) -> ImageReplicas:
    """Built once per test session however many test modules ask (pass pytest's `tmp_path_factory`)."""
    if "built" not in _SESSION:
        import torch

        torch.set_num_threads(1)
        _SESSION["built"] = build_image_replicas(tmp_path_factory.mktemp("image-replicas"))
    return _SESSION["built"]
