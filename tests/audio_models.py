"""Tiny MusicGen models built from configs for fast tests: mono, stereo and melody, saved as real folders."""

from __future__ import annotations

import functools
from pathlib import Path

SAMPLE_RATE = 16_000  # ratios (8, 5, 4, 4): hop 640, 25 frames/s


@functools.lru_cache(maxsize=1)  # training the sentencepiece model once per test session is enough
def _tokenizer():
    from studio.embedded.audio_model import text_tokenizer

    return text_tokenizer()


def _configs(stereo: bool, vocab: int):
    from transformers import EncodecConfig, MusicgenDecoderConfig, T5Config

    codec = EncodecConfig(sampling_rate=SAMPLE_RATE, audio_channels=1, upsampling_ratios=[8, 5, 4, 4],
                          target_bandwidths=[0.6], codebook_size=64, hidden_size=16, num_filters=4,
                          num_lstm_layers=1, normalize=False)
    text = T5Config(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1)
    decoder = dict(vocab_size=64, max_position_embeddings=512, num_hidden_layers=2, ffn_dim=64,
                   num_attention_heads=2, hidden_size=32, num_codebooks=8 if stereo else 4,
                   audio_channels=2 if stereo else 1, pad_token_id=64, bos_token_id=64)
    return codec, text, decoder


def build_tiny_musicgen(folder: Path, stereo: bool = False, melody: bool = False, seed: int = 0) -> Path:
    """Save a random tiny MusicGen (or MusicGen-melody) with its processor into `folder`."""
    import torch
    from transformers import (
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyFeatureExtractor,
        MusicgenMelodyForConditionalGeneration,
        MusicgenMelodyProcessor,
        MusicgenProcessor,
    )

    if melody:  # its feature extractor computes chroma with torchaudio
        import pytest

        pytest.importorskip("torchaudio")
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    codec, text, decoder = _configs(stereo, len(tokenizer))
    if melody:
        config = MusicgenMelodyConfig(text_encoder=text, audio_encoder=codec,
                                      decoder=MusicgenMelodyDecoderConfig(**decoder), num_chroma=12)
        model = MusicgenMelodyForConditionalGeneration(config)
        features = MusicgenMelodyFeatureExtractor(sampling_rate=SAMPLE_RATE, n_fft=2048, hop_length=640)
        processor = MusicgenMelodyProcessor(feature_extractor=features, tokenizer=tokenizer)
    else:
        model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text, audio_encoder=codec,
                                                                decoder=MusicgenDecoderConfig(**decoder)))
        features = EncodecFeatureExtractor(feature_size=2 if stereo else 1, sampling_rate=SAMPLE_RATE)
        processor = MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer)
    for name in ("decoder_start_token_id", "pad_token_id", "bos_token_id"):
        setattr(model.generation_config, name, 64)
    model.generation_config.do_sample = True
    model.generation_config.guidance_scale = 3.0
    model.generation_config.max_new_tokens = 53
    with torch.no_grad():  # random codebooks so codes differ from each other
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
