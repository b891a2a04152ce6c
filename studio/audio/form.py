"""Every Audio field declared once: name, default, range or choices, one sentence of help, and its kind of control.

The tab builds its Gradio controls from `FIELDS` (label, help, slider bounds,
choices), `python -m studio audio` builds its flags from it, and `AudioRequest`
checks its values with `Field.check` (`studio.forms`), so a default or a range
is written here and nowhere else. No Gradio and no torch here: the form is
tested without a browser. The operator's own bound (`max_audio_seconds`) is a setting, checked by
`request.check_limits` at call time, not a declaration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.forms import Field, chosen_model, parse_values

if TYPE_CHECKING:
    from .request import AudioRequest

EMBEDDED_MODEL = "embedded/musicgen-tiny"
MAX_SECONDS = 300.0  # the engine's own ceiling; the operator's `max_audio_seconds` is usually lower
MAX_SEED = 2**32 - 1
CLIP_USES = ("continue", "melody")  # what an uploaded clip is for; without a clip the request's use is "none"


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

    typed = parse_values(FIELDS, values)
    model = chosen_model(typed.pop("custom_model"), typed["model"])
    clip, use = typed["clip"], typed["clip_use"]
    use = ("" if use is None else use) if clip else "none"  # an empty radio is refused as ''
    return AudioRequest(**typed | dict(model=model, clip=clip, clip_use=use))
