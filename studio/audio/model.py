"""Loading MusicGen models through the shared `ModelSlot`, and what a loaded one can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.errors import StudioError
from studio.loading import LoadRequest
from studio.registry import ModelSource

MUSICGEN_TYPES = ("musicgen", "musicgen_melody")


@dataclass(frozen=True)
class MusicModel:
    """A loaded MusicGen with the numbers generation needs, read from its own config."""

    model: Any
    processor: Any
    kind: str  # "musicgen" or "musicgen_melody"
    sampling_rate: int
    frame_rate: int  # codec frames per second
    hop_length: int  # samples per frame
    channels: int  # 1 or 2
    num_codebooks: int  # all of them; stereo models interleave left and right
    device: str

    @property
    def delay(self) -> int:
        """Extra steps the codebook delay pattern adds at the end (one per codebook after the first, per channel)."""
        return self.num_codebooks // self.channels - 1

    @property
    def continues_clips(self) -> bool:
        return self.kind == "musicgen"

    @property
    def follows_melody(self) -> bool:
        return self.kind == "musicgen_melody"

    @property
    def config(self):
        """The model's config (the shared loader reads its hub revision from here)."""
        return self.model.config


def describe_music_model(model, processor, device: str) -> MusicModel:
    codec = model.config.audio_encoder
    hop = int(getattr(codec, "hop_length", 0) or 1)
    return MusicModel(
        model=model, processor=processor, kind=model.config.model_type,
        sampling_rate=int(codec.sampling_rate), frame_rate=int(codec.frame_rate), hop_length=hop,
        channels=int(model.config.decoder.audio_channels), num_codebooks=int(model.decoder.num_codebooks),
        device=device,
    )


# Keys a fast tokenizer copies from a saved tokenizer.json's "padding" block into its init kwargs. A processor
# hands every init kwarg its feature extractor also declares to that extractor as a default, and
# EncodecFeatureExtractor accepts no `pad_to_multiple_of`: a tokenizer saved right after a call with
# `padding=True` (transformers 5 keeps that state) so breaks every processor call that carries audio.
SAVED_PADDING_KEYS = ("pad_to_multiple_of", "max_length", "padding_side", "pad_token_type_id")


def forget_saved_padding(tokenizer) -> bool:
    """Drop padding state a tokenizer was saved with; the engine asks for padding per call. True when there was some."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    had = backend is not None and backend.padding is not None
    if had:
        backend.no_padding()
        init = getattr(tokenizer, "init_kwargs", {})
        for key in SAVED_PADDING_KEYS:
            init.pop(key, None)
    return had


def load_musicgen(source: ModelSource, request: LoadRequest, device: str, dtype, token: str | None):
    """The audio modality's loader for `ModelSlot`: returns (MusicModel, processor)."""
    from transformers import (
        AutoConfig,
        AutoProcessor,
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
    )

    config = AutoConfig.from_pretrained(source.location, token=token)
    if config.model_type not in MUSICGEN_TYPES:
        raise StudioError(
            f"{source.name} is a {config.model_type} model, not MusicGen: the Audio tab makes music with MusicGen "
            "models (e.g. facebook/musicgen-small)."
        )
    if config.model_type == "musicgen_melody":
        import importlib.util

        if importlib.util.find_spec("torchaudio") is None:
            raise StudioError(f"{source.name} is a melody model; its chroma features need torchaudio: "
                              "pip install torchaudio (the same version as torch).")
    cls = MusicgenMelodyForConditionalGeneration if config.model_type == "musicgen_melody" else MusicgenForConditionalGeneration
    model = cls.from_pretrained(source.location, dtype=dtype, token=token).to(device).eval()
    processor = AutoProcessor.from_pretrained(source.location, token=token)
    forget_saved_padding(processor.tokenizer)
    return describe_music_model(model, processor, device), processor
