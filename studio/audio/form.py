"""Every Audio field declared once: name, default, range or choices, one sentence of help, and its kind of control.

The tab builds its Gradio controls from `FIELDS` (label, help, slider bounds,
choices), `python -m studio audio` builds its flags from it, and `AudioRequest`
checks its values with `Field.check`, so a default or a range is written here
and nowhere else. No Gradio and no torch here: the form is tested without a
browser. The operator's own bound (`max_audio_seconds`) is a setting, checked by
`request.check_limits` at call time, not a declaration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.errors import ConfigError

if TYPE_CHECKING:
    from .request import AudioRequest

EMBEDDED_MODEL = "embedded/musicgen-tiny"
MAX_SECONDS = 300.0  # the engine's own ceiling; the operator's `max_audio_seconds` is usually lower
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
CLIP_USES = ("continue", "melody")  # what an uploaded clip is for; without a clip the request's use is "none"


@dataclass(frozen=True)
class Field:
    """One form field, named as in `AudioRequest` and the public API. `ui` is its kind of control: text, model (a
    choice of presets), number, slider, radio or file. A number's range is [low, high], or (low, high] with
    `open_low`; `note` says what an edge value means and is added to the help and to a refusal."""

    name: str
    default: Any
    help: str
    ui: str
    label: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    whole: bool = False
    step: float | None = None
    choices: tuple = ()
    note: str = ""
    flag: str = ""  # the CLI flag when it is not --<name> (kept short where scripts already use it)
    cli: bool = True  # a flag of `python -m studio audio`

    @property
    def number(self) -> bool:
        return self.low is not None

    @property
    def cli_flag(self) -> str:
        return "--" + (self.flag or self.name.replace("_", "-"))

    def range_text(self) -> str:
        if self.whole:
            return f"a whole number from {int(self.low)} to {int(self.high)}"
        if self.open_low:
            return f"a number above {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def refuse(self, value: Any, expected: str) -> ConfigError:
        note = f" ({self.note})" if self.note else ""
        return ConfigError(self.name, value, f"{expected}{note}")

    def parse(self, value: Any) -> Any:
        """A form, API or CLI value as this field's type (Gradio sends 3.0 for 3 and None for an empty box)."""
        if not self.number:
            if self.ui == "file":
                return value or None
            return "" if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(value, f"use {self.range_text()}")
        if not math.isfinite(value):
            raise self.refuse(value, f"use a finite number: {self.range_text()}")
        if self.whole:
            if float(value) != int(value):
                raise self.refuse(value, f"use {self.range_text()}")
            return int(value)
        return float(value)

    def check(self, value: Any) -> None:
        """Refuse a value outside this field's type, range or choices, naming the field."""
        if self.choices:
            if value not in self.choices:
                raise self.refuse(value, f"choose one of {', '.join(self.choices)}")
        elif not self.number:
            if not isinstance(value, str):
                raise self.refuse(value, "use text")
            if len(value) > MAX_PROMPT_CHARS:
                raise self.refuse(f"{value[:40]}...", f"keep it under {MAX_PROMPT_CHARS} characters")
        elif isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            raise self.refuse(value, f"use {self.range_text()}")
        elif not math.isfinite(value):
            raise self.refuse(value, f"use a finite number: {self.range_text()}")
        elif not (self.low < value if self.open_low else self.low <= value) or value > self.high:
            raise self.refuse(value, f"use {self.range_text()}")


def _seconds(name: str, default: float, help: str, label: str, high: float, **extra) -> Field:
    return Field(name, default, help, "number", label, low=0, high=high, open_low=True, step=0.5, **extra)


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("prompt", "play something lively and deep", "What the music should be; may be empty to continue a clip.",
          "text", "Describe the music"),
    Field("model", EMBEDDED_MODEL, "The MusicGen model that makes the clip.", "model", "Model"),
    Field("custom_model", "", "A hub id, or a folder the operator allows; it replaces the model above.", "text",
          "Or type a hub id", cli=False),
    _seconds("seconds", 2.0, "Length of each clip, a continuation's prompt included.", "Seconds", MAX_SECONDS),
    Field("guidance", 3.0, "How closely to follow the description.", "slider", "Guidance scale", low=1, high=10,
          step=0.5, note="1 turns guidance off"),
    Field("temperature", 1.0, "Higher is more varied, lower more predictable.", "slider", "Temperature", low=0,
          high=2, open_low=True, step=0.05),
    Field("top_k", 250, "Sample among the k likeliest codes.", "number", "Top-k", low=0, high=100_000, whole=True,
          note="0 turns top-k off"),
    Field("top_p", 0.0, "Sample among the likeliest codes that make up this share.", "number", "Top-p", low=0,
          high=1, step=0.05, note="0 turns top-p off"),
    Field("samples", 1, "Clips made together from the same settings.", "number", "Clips", low=1, high=4,
          whole=True),
    Field("seed", 0, "The same seed and settings make the same clip.", "number", "Seed", low=-1, high=MAX_SEED,
          whole=True, note="-1 picks one at random"),
    Field("clip", None, "A WAV, FLAC, OGG or MP3 you upload (at most 5 minutes; only its start is used).", "file",
          "Clip"),
    Field("clip_use", "continue", "Continue the clip, or follow its melody (melody needs a melody model).", "radio",
          "Use of the clip", choices=CLIP_USES),
    _seconds("prompt_seconds", 2.0, "How much of the clip, from its start, conditions the model.", "Prompt seconds",
             30.0),
    _seconds("window_seconds", 30.0, "The most one pass makes; longer clips are made window by window.",
             "Window seconds", 30.0, flag="window"),
    _seconds("overlap_seconds", 10.0, "Context carried from one window into the next.", "Overlap seconds", 30.0,
             flag="overlap"),
)}
FORM_FIELDS = tuple(FIELDS)  # the Generate button's inputs and its API parameters, in this order


def default(name: str) -> Any:
    return FIELDS[name].default


def parse_form(values: dict) -> AudioRequest:
    """An `AudioRequest` from the form's (or the CLI's) values; a bad field raises a `ConfigError` naming it.

    A missing value is the field's default; the typed model name replaces the chosen one; the clip's use is
    "none" when no clip was given (the radio keeps its choice for the next upload).
    """
    from .request import AudioRequest  # request.py imports this module

    typed = {name: field.parse(values.get(name, field.default)) for name, field in FIELDS.items()}
    model = str(typed.pop("custom_model") or "").strip() or typed["model"]
    clip = typed["clip"]
    return AudioRequest(**typed | dict(model=model, clip=clip, clip_use=typed["clip_use"] if clip else "none"))
