"""What one audio generation asks for, checked in one place before any model is touched.

`AudioRequest` checks what is true for every studio (each field as `form.py` declares
it, then the rules across fields);
`check_limits` adds what this studio's operator allows (`max_audio_seconds`), read
from the settings at call time so an admin's change applies to the next click.
`AudioJob` is what crosses into the worker process: the request plus the folders
the visitor's model name may point at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.errors import ConfigError

from .form import CLIP_USES as FORM_CLIP_USES
from .form import EMBEDDED_MODEL, FIELDS, MAX_SECONDS, MAX_SEED, default  # noqa: F401 - re-exported

MAX_UPLOAD_SECONDS = 300.0  # longer uploads are refused from their header, before anything is decoded
CLIP_USES = ("none", *FORM_CLIP_USES)  # "none": no clip
CHECKED = ("prompt", "model", "seconds", "guidance", "temperature", "top_k", "top_p", "samples", "seed",
           "prompt_seconds", "window_seconds", "overlap_seconds")  # each checked by its declaration in form.py


@dataclass(frozen=True)
class AudioRequest:
    """Defaults, ranges and the messages naming a bad field come from `form.FIELDS`; the checks across fields
    (a clip for its use, a prompt shorter than the clip, an overlap shorter than the window) are here."""

    prompt: str = default("prompt")  # what the music should be; may be empty for a continuation
    model: str = default("model")  # preset, hub id or local folder
    seconds: float = default("seconds")  # length of each clip, a continuation's prompt included
    guidance: float = default("guidance")  # classifier-free guidance; 1 turns it off
    temperature: float = default("temperature")
    top_k: int = default("top_k")  # 0 turns top-k off
    top_p: float = default("top_p")  # 0 turns nucleus sampling off
    samples: int = default("samples")  # clips made together
    seed: int = default("seed")  # -1 picks one at random (and records it)
    clip: str | None = field(default=None, repr=False)  # path of an uploaded clip
    clip_use: str = "none"  # none | continue (the clip opens the output) | melody (chroma for melody models)
    prompt_seconds: float = default("prompt_seconds")  # how much of the clip (from its start) is used
    window_seconds: float = default("window_seconds")  # the most one generate call makes
    overlap_seconds: float = default("overlap_seconds")  # context carried into the next window when extending
    precision: str = "full"

    def __post_init__(self):
        # transformers treats MusicGen guidance below 1 as a language model's unbatched guidance and fails inside
        # generate (a TypeError); 1 already means "no guidance", so the declared range starts at 1.
        for name in CHECKED:
            FIELDS[name].check(getattr(self, name))
        if not self.model.strip():
            raise ConfigError("model", self.model, "pick a preset or type a hub id or a local folder")
        if self.clip_use not in CLIP_USES:
            raise ConfigError("clip_use", self.clip_use, f"choose one of {', '.join(CLIP_USES)}")
        if self.clip_use != "none" and not self.clip:
            raise ConfigError("clip", None, f"upload a clip to {self.clip_use} it, or set 'use of the clip' to none")
        if self.clip_use == "continue" and self.prompt_seconds >= self.seconds:
            raise ConfigError("prompt_seconds", self.prompt_seconds,
                              f"use less than the clip length ({self.seconds:g} s): the output starts with the prompt")
        if self.overlap_seconds >= self.window_seconds:
            raise ConfigError("overlap_seconds", self.overlap_seconds, "use less than the window length")


def check_limits(request: AudioRequest, settings) -> None:
    """Refuse what this studio's operator does not allow; the message names the setting and its value."""
    limit = float(settings.max_audio_seconds)
    if request.seconds > limit:
        raise ConfigError("seconds", request.seconds,
                          f"this studio makes clips of at most {limit:g} s (max_audio_seconds); ask for {limit:g} s "
                          "or less")


@dataclass(frozen=True)
class AudioJob:
    """The payload of an audio job: the checked request and what its model name may resolve to.

    `scope` holds `LoadRequest`'s `local_roots`/`any_path`/`presets_only`: the page fills it from
    `studio.model_scope(request)`, the command line sets `any_path`.
    """

    request: AudioRequest
    scope: dict = field(default_factory=dict)
