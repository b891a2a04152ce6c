"""Build the embedded tiny MusicGen: tokenizer, codec, text encoder and decoder, trained here on CPU.

Rebuild (about 19 minutes on one thread here: codec 10, encoding the clips 3, decoder 6):
    python -m studio.embedded.audio_model --out assets/embedded/musicgen-tiny
or, through the studio's builder registry, `python -m studio embedded build audio`.

1. a T5 sentencepiece tokenizer (unigram, 75 pieces) trained on every caption wording;
2. the Encodec codec (`audio_codec.train_codec`), 16 kHz, 25 frames/s, 4 codebooks of 64;
3. the synthetic clips encoded once into codes;
4. the T5 encoder and the MusicGen decoder trained together on delayed codes, with
   the caption dropped 15% of the time so classifier-free guidance has an
   unconditional branch to push away from;
5. `save_pretrained` of the whole model and processor, a MANIFEST.json with sha256
   checksums, and the measured tempo/register accuracy on held-out wordings.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from . import audio_codec
from .audio_data import caption_corpus, judge_register, judge_tempo, make_example, random_spec

FOLDER = "musicgen-tiny"
CODEC_STEPS = 1500
DECODER_STEPS = 4000
CLIP_SECONDS = 2.0
# 800 clips were memorised: the decoder named the clip from its first frame and took the tempo from
# memory, so tempo words were ignored (swapping them changed the loss by 0.0005; tempo 45%, register 100%).
# 4000 clips and 2000 steps: tempo 80%; 8000 clips and 4000 steps: tempo 92%, register 100%.
DATASET_CLIPS = 8000
TEXT_DROPOUT = 0.15
REBUILD_COMMAND = "python -m studio.embedded.audio_model --out assets/embedded/musicgen-tiny"


def text_tokenizer():
    """A T5 tokenizer whose unigram pieces come from sentencepiece trained on the captions."""
    import sentencepiece as spm
    from tokenizers import normalizers
    from transformers import T5Tokenizer

    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(caption_corpus()), model_writer=proto, vocab_size=75, model_type="unigram",
        character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2, seed_sentencepiece_size=10000,
        num_threads=1,
    )
    pieces = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    vocab = [(pieces.id_to_piece(i), pieces.get_score(i)) for i in range(pieces.get_piece_size())]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=64)
    tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()  # "A Slow Melody" reads like "a slow melody"
    return tokenizer


def musicgen_config(codec_config, text_vocab: int):
    from transformers import MusicgenConfig, MusicgenDecoderConfig, T5Config

    text = T5Config(
        vocab_size=text_vocab, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    )
    codebook = codec_config.codebook_size
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook, max_position_embeddings=1024, num_hidden_layers=3, ffn_dim=512,
        num_attention_heads=4, hidden_size=128, dropout=0.1, num_codebooks=4, audio_channels=1,
        pad_token_id=codebook, bos_token_id=codebook,
    )
    config = MusicgenConfig(text_encoder=text, audio_encoder=codec_config, decoder=decoder)
    config.decoder_start_token_id = codebook
    config.pad_token_id = codebook
    return config


def processor_for(tokenizer, sampling_rate: int):
    from transformers import EncodecFeatureExtractor, MusicgenProcessor

    features = EncodecFeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0)
    return MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer)


def save_processor(processor, out_dir: Path) -> None:
    """Save the processor with a tokenizer that has no padding switched on.

    Training and evaluation tokenize with padding=True, which transformers 5 keeps in the tokenizer and
    save_pretrained writes into tokenizer.json; a processor loaded from that hands `pad_to_multiple_of` to
    Encodec's feature extractor, and every call with audio (a continuation) fails with a TypeError.
    """
    processor.tokenizer.backend_tokenizer.no_padding()
    processor.save_pretrained(out_dir)


def assemble(codec, tokenizer, seed: int = 0):
    """A MusicGen around a trained codec with a fresh text encoder and decoder."""
    from transformers import MusicgenForConditionalGeneration

    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(musicgen_config(codec.config, len(tokenizer)))
    model.audio_encoder.load_state_dict(codec.state_dict())
    frame_rate = codec.config.frame_rate
    gen = model.generation_config
    gen.do_sample, gen.guidance_scale, gen.top_k, gen.temperature = True, 3.0, 16, 1.0
    gen.max_new_tokens = int(2 * frame_rate) + model.decoder.num_codebooks - 1
    gen.pad_token_id = gen.decoder_start_token_id = gen.bos_token_id = codec.config.codebook_size
    return model


@torch.no_grad()
def encode_clips(codec, n: int, seconds: float, first_seed: int = 0, batch: int = 32):
    """Codes (n, codebooks, frames) and melody specs of n training clips."""
    codes, specs = [], []
    bandwidth = codec.config.target_bandwidths[-1]
    for start in range(0, n, batch):
        chunk = [make_example(first_seed + i, seconds, codec.config.sampling_rate) for i in range(start, min(n, start + batch))]
        audio = torch.from_numpy(np.stack([c[0] for c in chunk]))[:, None, :]
        codes.append(codec.encode(audio, bandwidth=bandwidth).audio_codes[0])
        specs += [c[2] for c in chunk]
    return torch.cat(codes), specs


def delayed_codes(decoder, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, K, T) codes in MusicGen's delay pattern: (decoder inputs (batch*K, T+K-1), labels (batch, T+K-1, K)).

    transformers' `forward(labels=...)` does not delay the codebooks itself, so the
    pattern `generate` uses is built here with the decoder's own `build_delay_pattern_mask`.
    Pad positions in the labels count for nothing in the loss.
    """
    batch, k, frames = codes.shape
    start = torch.full((batch, k, 1), decoder.config.bos_token_id, dtype=codes.dtype)
    with_start = torch.cat([start, codes], dim=-1).reshape(batch * k, frames + 1)
    _, pattern = decoder.build_delay_pattern_mask(with_start, pad_token_id=decoder.config.pad_token_id, max_length=frames + k)
    pattern = pattern.reshape(batch, k, frames + k)
    labels = pattern[:, :, 1:].masked_fill(pattern[:, :, 1:] == decoder.config.pad_token_id, -100)
    return pattern[:, :, :-1].reshape(batch * k, frames + k - 1), labels.transpose(1, 2)


def train_decoder(model, tokenizer, codes, specs, steps: int, batch: int = 16, seed: int = 0, log=None) -> float:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.audio_encoder.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if not n.startswith("audio_encoder.")]
    optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + np.cos(np.pi * s / steps)))
    model.train()
    started = time.time()
    for step in range(steps):
        rows = rng.integers(len(specs), size=batch)
        captions = [specs[r].caption(rng) for r in rows]
        text = tokenizer(captions, padding=True, return_tensors="pt")
        keep = torch.from_numpy(rng.random(batch) >= TEXT_DROPOUT).long()[:, None]
        decoder_inputs, labels = delayed_codes(model.decoder, codes[torch.from_numpy(rows)])
        out = model(input_ids=text.input_ids, attention_mask=text.attention_mask * keep,
                    decoder_input_ids=decoder_inputs, labels=labels)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if log and (step % 50 == 0 or step == steps - 1):
            log({"stage": "decoder", "step": step, "loss": round(out.loss.item(), 4), "seconds": round(time.time() - started, 1)})
    model.eval()
    return time.time() - started


@torch.no_grad()
def evaluate(model, processor, n: int = 40, seconds: float = 2.0, seed: int = 12345, guidance: float = 3.0,
             **sampling) -> dict:
    """Generate from held-out wordings; how often does the clip's tempo and register match the words?"""
    rng = np.random.default_rng(seed)
    specs = [random_spec(rng) for _ in range(n)]
    captions = [s.caption(rng, held_out=True) for s in specs]
    inputs = processor(text=captions, padding=True, return_tensors="pt")
    frame_rate = model.config.audio_encoder.frame_rate
    torch.manual_seed(seed)
    audio = model.generate(**inputs, do_sample=True, guidance_scale=guidance,
                           max_new_tokens=int(seconds * frame_rate) + model.decoder.num_codebooks - 1, **sampling)
    sr = model.config.audio_encoder.sampling_rate
    tempo = [judge_tempo(audio[i, 0].numpy(), sr) == s.tempo for i, s in enumerate(specs)]
    register = [judge_register(audio[i, 0].numpy(), sr) == s.register for i, s in enumerate(specs)]
    return {"tempo_accuracy": float(np.mean(tempo)), "register_accuracy": float(np.mean(register)), "clips": n,
            "held_out_examples": captions[:3]}


def write_manifest(out_dir: Path, metrics: dict) -> Path:
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out_dir.iterdir())
             if p.is_file() and p.name != "MANIFEST.json"}
    manifest = {"model": FOLDER, "rebuild": REBUILD_COMMAND, "torch_threads": 1, "sha256": files, "metrics": metrics}
    path = out_dir / "MANIFEST.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path


def write_card(out_dir: Path, metrics: dict) -> Path:
    """README.md: what the model is and what it was measured to do (the Audio tab shows it under the preset)."""
    codec = metrics["codec_round_trip"]
    text = f"""# musicgen-tiny

Measured when it was built: on {metrics['clips']} clips from held-out wordings (e.g. "{metrics['held_out_examples'][0]}"),
the tempo words were followed in {metrics['tempo_accuracy']:.0%} and the register words in {metrics['register_accuracy']:.0%}
(onset rate and dominant frequency of the generated audio). The codec alone keeps tempo in {codec['tempo_kept']:.0%} and
register in {codec['register_kept']:.0%} of round trips. {metrics['parameters']:,} parameters; codec trained
{metrics['codec_train_seconds'] or 0:.0f} s, decoder {metrics['decoder_train_seconds']:.0f} s on one CPU thread.
It cannot play chords, drums, voices or any style: only the melodies it was trained on, and only for a few seconds
before it wanders. Rebuild: `{REBUILD_COMMAND}`.
"""
    path = out_dir / "README.md"
    path.write_text(text)
    return path


def build(out_dir: Path, steps: int | None = None, codec_steps: int | None = None, codec_dir: Path | None = None,
          log_path: Path | None = None) -> dict:
    """Train everything and save into `out_dir`; `codec_dir` reuses a codec trained earlier by `audio_codec`."""
    from transformers import EncodecModel

    torch.set_num_threads(1)  # deterministic, and polite on a shared CPU
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path or out_dir / "train_log.jsonl", "w")

    def log(entry):
        log_file.write(json.dumps(entry) + "\n")
        log_file.flush()

    tokenizer = text_tokenizer()
    started = time.time()
    codec_log = out_dir / "codec_log.jsonl"
    if codec_dir:
        codec = EncodecModel.from_pretrained(codec_dir, dtype=torch.float32).eval()
        shutil.copyfile(Path(codec_dir) / "train.jsonl", codec_log)  # written by train_codec
        codec_seconds = json.loads(codec_log.read_text().splitlines()[-1])["seconds"]
    else:
        codec_log.unlink(missing_ok=True)
        codec, codec_seconds = audio_codec.train_codec(codec_steps or CODEC_STEPS, log_path=codec_log)
    codec_check = audio_codec.check_codec(codec)
    log({"stage": "codec", **codec_check, "seconds": codec_seconds})
    encode_started = time.time()
    codes, specs = encode_clips(codec, DATASET_CLIPS, CLIP_SECONDS)
    log({"stage": "encode", "clips": DATASET_CLIPS, "seconds": round(time.time() - encode_started, 1)})
    model = assemble(codec, tokenizer)
    decoder_seconds = train_decoder(model, tokenizer, codes, specs, steps or DECODER_STEPS, log=log)
    processor = processor_for(tokenizer, codec.config.sampling_rate)
    metrics = {
        "codec_train_seconds": codec_seconds, "codec_round_trip": codec_check,
        "decoder_train_seconds": round(decoder_seconds, 1), "decoder_steps": steps or DECODER_STEPS,
        "parameters": sum(p.numel() for p in model.parameters()),
        **evaluate(model, processor),
    }
    log({"stage": "done", **metrics, "total_seconds": round(time.time() - started, 1)})
    model.save_pretrained(out_dir)
    save_processor(processor, out_dir)
    write_card(out_dir, metrics)
    log_file.close()
    write_manifest(out_dir, metrics)
    return metrics


def build_cli(out_dir: Path, steps: int | None = None) -> dict:
    """Entry for `python -m studio embedded build audio`: the full rebuild, codec included."""
    return build(out_dir, steps=steps)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build the embedded tiny MusicGen")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=None, help=f"decoder steps (default {DECODER_STEPS})")
    parser.add_argument("--codec-steps", type=int, default=None, help=f"codec steps (default {CODEC_STEPS})")
    parser.add_argument("--codec-dir", type=Path, default=None, help="reuse a codec saved by studio.embedded.audio_codec")
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.steps, args.codec_steps, args.codec_dir), indent=2))
