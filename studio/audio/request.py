"""What one audio generation asks for, checked in one place before any model is touched.

`AudioRequest` checks what is true for every studio (finite numbers, sane ranges);
`check_limits` adds what this studio's operator allows (`max_audio_seconds`), read
from the settings at call time so an admin's change applies to the next click.
`AudioJob` is what crosses into the worker process: the request plus the folders
the visitor's model name may point at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from studio.errors import ConfigError

EMBEDDED_MODEL = "embedded/musicgen-tiny"
MAX_SECONDS = 300.0  # the engine's own ceiling; the operator's `max_audio_seconds` is usually lower
MAX_PROMPT_SECONDS = 30.0  # the part of an upload that conditions the model
MAX_UPLOAD_SECONDS = 300.0  # longer uploads are refused from their header, before anything is decoded
MAX_SAMPLES = 4
MAX_SEED = 2**32 - 1
MAX_GUIDANCE = 30.0
CLIP_USES = ("none", "continue", "melody")


@dataclass(frozen=True)
class AudioRequest:
    prompt: str = ""  # what the music should be; may be empty for a continuation
    model: str = EMBEDDED_MODEL  # preset, hub id or local folder
    seconds: float = 2.0  # length of each clip, a continuation's prompt included
    guidance: float = 3.0  # classifier-free guidance; 1 turns it off (MusicGen has no meaning for less)
    temperature: float = 1.0
    top_k: int = 250  # 0 turns top-k off
    top_p: float = 0.0  # 0 turns nucleus sampling off
    samples: int = 1  # clips made together, 1..4
    seed: int = 0  # -1 picks one at random (and records it)
    clip: str | None = field(default=None, repr=False)  # path of an uploaded clip
    clip_use: str = "none"  # none | continue (the clip opens the output) | melody (chroma for melody models)
    prompt_seconds: float = 2.0  # how much of the clip (from its start) is used
    window_seconds: float = 30.0  # the most one generate call makes; longer clips are extended window by window
    overlap_seconds: float = 10.0  # context carried into the next window when extending
    precision: str = "full"

    def __post_init__(self):
        def number(name, low, high, *, low_open=False, hint=""):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(name, value, "use a finite number")
            too_low = value <= low if low_open else value < low
            if too_low or value > high:
                bound = f"above {low:g}" if low_open else f"at least {low:g}"
                raise ConfigError(name, value, f"use a value {bound} and at most {high:g}{hint}")

        if not isinstance(self.prompt, str):
            raise ConfigError("prompt", self.prompt, "use text")
        if len(self.prompt) > 2000:
            raise ConfigError("prompt", self.prompt[:40] + "...", "keep the prompt under 2000 characters")
        number("seconds", 0, MAX_SECONDS, low_open=True)
        # transformers treats MusicGen guidance below 1 as a language model's unbatched guidance and fails inside
        # generate (a TypeError); 1 already means "no guidance", so lower values are refused here with a reason.
        number("guidance", 1, MAX_GUIDANCE, hint=" (1 turns guidance off)")
        number("temperature", 0, 10, low_open=True)
        number("top_p", 0, 1)
        number("prompt_seconds", 0, MAX_PROMPT_SECONDS, low_open=True)
        number("window_seconds", 0, 30, low_open=True)
        number("overlap_seconds", 0, 30, low_open=True)
        for name, low, high in (("top_k", 0, 100_000), ("samples", 1, MAX_SAMPLES), ("seed", -1, MAX_SEED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(name, value, f"use a whole number from {low} to {high}")
        if self.clip_use not in CLIP_USES:
            raise ConfigError("clip_use", self.clip_use, f"choose one of {', '.join(CLIP_USES)}")
        if self.clip_use != "none" and not self.clip:
            raise ConfigError("clip", None, f"upload a clip to {self.clip_use} it, or set 'use of the clip' to none")
        if self.clip_use == "continue" and self.prompt_seconds >= self.seconds:
            raise ConfigError("prompt_seconds", self.prompt_seconds,
                              f"use less than the clip length ({self.seconds:g} s): the output starts with the prompt")
        if self.overlap_seconds >= self.window_seconds:
            raise ConfigError("overlap_seconds", self.overlap_seconds, "use less than the window length")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("model", self.model, "pick a preset or type a hub id or a local folder")


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
