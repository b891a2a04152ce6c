"""Tiny random-weight replicas of the MusicGen families on the hub, laid out as folders and as a hub cache.

- `facebook/musicgen-small`: T5 encoder, Encodec like `encodec_32khz` (32 kHz, ratios 8-5-4-4 so hop 640 and
  50 frames/s, 2.2 kbps = 4 codebooks of 2048), a mono decoder, `MusicgenProcessor` whose Encodec feature
  extractor pads on the left, T5's tokenizer class with its 100 extra ids.
- `facebook/musicgen-stereo-small`: the same codec (it encodes each channel on its own), a decoder with
  `audio_channels=2` and 8 codebooks interleaved left/right, a feature extractor of feature_size 2.

The mono replica's tokenizer is saved right after a call with `padding=True`, as the embedded model once was:
transformers 5 then writes the padding into tokenizer.json, the trait that broke continuation
(`pad_to_multiple_of` reaching Encodec's feature extractor). Sizes are tiny; every trait the studio reads is
kept. Builds are deterministic (the same bytes every time) and take about a second each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import hub_cache

SAMPLE_RATE = 32_000
HOP = 640  # 8 * 5 * 4 * 4
FRAME_RATE = 50
CODEBOOK = 2048
WORDS = ("a slow fast low high deep bright calm quick melody tune song beat drum piano guitar lofi rock jazz "
         "with and of the on in 80s pop track").split()


@dataclass(frozen=True)
class Family:
    repo_id: str
    stereo: bool
    padding_saved: bool  # the tokenizer was saved with padding switched on

    @property
    def name(self) -> str:
        return self.repo_id.split("/")[-1]


FAMILIES = (
    Family("facebook/musicgen-small", stereo=False, padding_saved=True),
    Family("facebook/musicgen-stereo-small", stereo=True, padding_saved=False),
)


def t5_tokenizer():
    """T5's tokenizer class over a small unigram vocabulary: pad 0, eos 1, unk 2, then words, letters, extra ids."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(f"▁{w}", -3.0 - i / 100) for i, w in enumerate(WORDS)]
    pieces += [(c, -8.0 - i / 100) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789")]
    return T5Tokenizer(vocab=pieces, extra_ids=100, model_max_length=512)


def build_musicgen(family: Family, folder: Path, seed: int = 0) -> Path:
    """Save a random tiny MusicGen of `family` with its processor into `folder`."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
    )

    tokenizer = t5_tokenizer()
    codec = EncodecConfig(sampling_rate=SAMPLE_RATE, audio_channels=1, upsampling_ratios=[8, 5, 4, 4],
                          target_bandwidths=[2.2], codebook_size=CODEBOOK, hidden_size=16, num_filters=4,
                          num_lstm_layers=1, normalize=False, use_causal_conv=False, pad_mode="reflect")
    text = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1)
    decoder = MusicgenDecoderConfig(vocab_size=CODEBOOK, max_position_embeddings=2048, num_hidden_layers=2,
                                    ffn_dim=64, num_attention_heads=2, hidden_size=32,
                                    num_codebooks=8 if family.stereo else 4, audio_channels=2 if family.stereo else 1,
                                    pad_token_id=CODEBOOK, bos_token_id=CODEBOOK)
    config = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    config.decoder_start_token_id = config.pad_token_id = CODEBOOK
    with torch.random.fork_rng():  # random weights from `seed` without moving the caller's generator
        torch.manual_seed(seed)
        model = MusicgenForConditionalGeneration(config).eval()
        with torch.no_grad():  # random codebooks, so that different codes decode to different sounds
            for layer in model.audio_encoder.quantizer.layers:
                layer.codebook.embed.normal_()
                layer.codebook.embed_avg.copy_(layer.codebook.embed)
    generation = model.generation_config  # as on the hub
    generation.decoder_start_token_id = generation.pad_token_id = generation.bos_token_id = CODEBOOK
    generation.do_sample, generation.guidance_scale, generation.top_k, generation.max_length = True, 3.0, 250, 1500
    features = EncodecFeatureExtractor(feature_size=2 if family.stereo else 1, sampling_rate=SAMPLE_RATE,
                                       padding_side="left", padding_value=0.0, return_attention_mask=True)
    processor = MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer)
    if family.padding_saved:  # what a training script does before save_pretrained; the state is saved with it
        processor.tokenizer(["a slow melody", "a fast high melody with drums"], padding=True)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_all(root: Path) -> dict[str, Path]:
    """Every family as a folder under `root/folders` and in a hub cache under `root/hub`; {repo_id: folder}."""
    folders = {}
    for family in FAMILIES:
        folder = build_musicgen(family, Path(root) / "folders" / family.name)
        hub_cache.place(folder, family.repo_id, Path(root) / "hub")
        folders[family.repo_id] = folder
    return folders
