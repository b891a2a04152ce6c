"""Tiny Stable Diffusion and SDXL pipelines (and LoRAs) built from configs, saved into test folders.

Each builds in well under a second, from a seed, so tests load them through the
same `from_pretrained` path as the studio's real models.
"""

from __future__ import annotations

from pathlib import Path

from studio.embedded.image_model import write_tokenizer

SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                steps_offset=1)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=2, sample_size=32)


def _text_config(tokenizer, **extra):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=16, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **extra)


def tiny_sd(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = write_tokenizer(Path(folder) / "_tokenizer")
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2, attention_head_dim=2,
    )
    pipe = StableDiffusionPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(_text_config(tokenizer)), tokenizer=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(**SCHEDULE), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def _sdxl_unet(cross_attention_dim: int, time_ids: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), norm_num_groups=4,
        projection_class_embeddings_input_dim=time_ids * 8 + 32, cross_attention_dim=cross_attention_dim,
    )


def tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer = write_tokenizer(Path(folder) / "_tokenizer")
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(_text_config(tokenizer)),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(tokenizer, projection_dim=32)),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=_sdxl_unet(64, time_ids=6),
        scheduler=EulerDiscreteScheduler(**SCHEDULE),
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def tiny_sdxl_refiner(folder: Path, seed: int = 1) -> Path:
    """Like SDXL's refiner: only the second text encoder, and an aesthetic score among the time ids."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tokenizer = write_tokenizer(Path(folder) / "_tokenizer")
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=_vae(), text_encoder=None, tokenizer=None,
        text_encoder_2=CLIPTextModelWithProjection(_text_config(tokenizer, projection_dim=32)),
        tokenizer_2=tokenizer, unet=_sdxl_unet(32, time_ids=5), scheduler=EulerDiscreteScheduler(**SCHEDULE),
        requires_aesthetics_score=True,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def tiny_lora(model_folder: Path, out_folder: Path, seed: int = 0, rank: int = 2) -> Path:
    """A LoRA for the UNet of the pipeline in `model_folder`, with random (non-zero) B so it changes pictures."""
    import torch
    from diffusers import DiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(model_folder, subfolder="unet")
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    pipeline_class = DiffusionPipeline.load_config(model_folder)["_class_name"]
    import diffusers

    getattr(diffusers, pipeline_class).save_lora_weights(out_folder, unet_lora_layers=layers, safe_serialization=True)
    return Path(out_folder) / "pytorch_lora_weights.safetensors"
