"""One form field declared once, for every modality: its default, range or choices, help, and kind of control.

A modality's `form.py` lists its `Field`s; its tab builds Gradio controls from
them (`studio.ui.common.control`), its CLI builds flags from them, and its
request dataclass checks its values with `Field.check`, so a default, a range
or a refusal's wording is written once. No Gradio and no torch here: forms are
tested without a browser or a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.errors import ConfigError

MAX_TEXT_CHARS = 2000  # the longest prompt (or other text field) a form takes


@dataclass(frozen=True)
class Field:
    """One form field, named as in the form and the public API (`name`) and in the request and its error messages
    (`key`: `attr` when that differs). `ui` is its kind of control: text, model (a choice of presets that also
    takes a typed name), number, slider, choice, radio, checkbox, file or image.

    A number's range is [low, high]; `open_low`/`open_high` leave out an edge. `zero` says what 0 means when 0 is
    allowed outside the range, `multiple` is a step whole numbers must keep (`multiple_why` says why), and `note`
    says what an edge value means: it is added to the help and to every refusal.
    """

    name: str
    default: Any
    help: str
    ui: str
    label: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    whole: bool = False
    step: float | None = None
    choices: tuple = ()
    note: str = ""
    zero: str = ""  # what 0 means when 0 is allowed outside the range (width: the model's own size)
    multiple: int = 1
    multiple_why: str = ""
    attr: str = ""  # the request's name for this field when it is not `name`
    flag: str = ""  # the CLI flag when it is not --<key> (kept short where scripts already use it)
    cli: bool = True  # a flag of the modality's `python -m studio <modality>`
    finite_hint: bool = True  # a NaN or infinity is told "use a finite number: <range>" rather than only the range

    @property
    def key(self) -> str:
        return self.attr or self.name

    @property
    def number(self) -> bool:
        return self.low is not None

    @property
    def cli_flag(self) -> str:
        return "--" + (self.flag or self.key.replace("_", "-"))

    @property
    def cli_type(self) -> type:
        return int if self.whole else float if self.number else str

    def range_text(self) -> str:
        if not self.number:
            return ""
        if self.zero:
            return f"a whole number between {int(self.low)} and {int(self.high)}, or 0 for {self.zero}"
        if self.whole:
            return f"a whole number from {int(self.low)} to {int(self.high)}"
        if self.open_low and self.open_high:
            return f"a number between {self.low:g} and {self.high:g}, e.g. {self.default:g}"
        if self.open_low:
            return f"a number above {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def _asides(self, with_range: bool) -> list[str]:
        return ([self.range_text()] if with_range and self.number else []) + ([self.note] if self.note else [])

    def help_text(self, with_range: bool = False) -> str:
        """The help sentence of a control, with the range (number boxes) and the note in brackets before its stop."""
        asides = self._asides(with_range)
        return f"{self.help[:-1]} ({'; '.join(asides)})." if asides else self.help

    def cli_help(self) -> str:
        """The help of a flag: the sentence, then the range and the note."""
        asides = self._asides(with_range=True)
        return self.help + (f" ({'; '.join(asides)})" if asides else "")

    def refuse(self, value: Any, expected: str) -> ConfigError:
        note = f" ({self.note})" if self.note else ""
        return ConfigError(self.key, value, f"{expected}{note}")

    def _refuse_range(self, value: Any) -> ConfigError:
        finite = "a finite number: " if self.finite_hint and not math.isfinite(value) else ""
        return self.refuse(value, f"use {finite}{self.range_text()}")

    def parse(self, value: Any) -> Any:
        """A form, API or CLI value as this field's type (Gradio sends 3.0 for 3 and None for an empty box)."""
        if self.ui == "checkbox":
            return bool(value)
        if self.ui == "file":
            return value or None
        if not self.number:
            return value if self.choices or value is not None else ""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(value, f"use {self.range_text()}")
        if not math.isfinite(value):
            raise self._refuse_range(value)
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
            if len(value) > MAX_TEXT_CHARS:
                raise self.refuse(f"{value[:40]}...", f"keep it under {MAX_TEXT_CHARS} characters")
        elif isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            raise self.refuse(value, f"use {self.range_text()}")
        elif not math.isfinite(value):
            raise self._refuse_range(value)
        elif self.zero and value == 0:
            return
        elif self.whole and value % self.multiple:
            lower = value // self.multiple * self.multiple
            why = f" ({self.multiple_why})" if self.multiple_why else ""
            raise self.refuse(value, f"use a multiple of {self.multiple}{why}, e.g. {lower} or {lower + self.multiple}")
        elif not (self.low < value if self.open_low else self.low <= value) \
                or not (value < self.high if self.open_high else value <= self.high):
            raise self.refuse(value, f"use {self.range_text()}")


def parse_values(fields: dict[str, Field], values: dict) -> dict[str, Any]:
    """Every field's value typed by `Field.parse`; a missing value is the field's default."""
    return {name: field.parse(values.get(name, field.default)) for name, field in fields.items()}


def chosen_model(typed: str | None, chosen: str) -> str:
    """A typed hub id or folder replaces the preset chosen in the list."""
    return str(typed or "").strip() or chosen
