"""Shared UI pieces: the one place engine errors become `gr.Error`, and small helpers."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import threading

import gradio as gr

from studio.embedded import EMBEDDED_DIR
from studio.errors import StudioError
from studio.forms import Field
from studio.registry import find_preset, format_bytes

log = logging.getLogger("studio.ui")


def to_gr_error(err: Exception) -> gr.Error:
    """A `gr.Error` for any exception; only `StudioError` text reaches the page.

    Gradio renders the message as HTML, so markup in user-derived text is escaped
    (quotes are harmless there and stay readable for API clients).
    """
    if isinstance(err, (StudioError, ValueError)):
        return gr.Error(html.escape(str(err), quote=False))
    log.exception("unexpected error in a handler", exc_info=err)
    return gr.Error(f"Something went wrong ({type(err).__name__}). The details are in the server log.")


def user_errors(fn):
    """Wrap a handler (plain or generator) so every failure reaches the user as a clear `gr.Error`."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as err:
                raise to_gr_error(err) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            raise to_gr_error(err) from None

    return wrapper


def session_key(request: gr.Request | None) -> str:
    """Identifies one browser tab (or one gradio_client), so a Stop stops only its owner's work."""
    return getattr(request, "session_hash", None) or "local"


def form_handler(names: list[str] | tuple[str, ...]):
    """Decorate `fn(values: dict, request)` so Gradio calls it with one named argument per form field.

    The public API then reads `client.predict(model="mlp", epochs=50, ...)`
    instead of `param_1, param_2, ...`, and the handler still sees one dict.
    """

    def decorate(fn):
        def handler(*args):
            *values, request = args
            return fn(dict(zip(names, values)), request)

        if inspect.isgeneratorfunction(fn):
            def handler(*args):  # noqa: F811 - Gradio streams only from generator functions
                *values, request = args
                yield from fn(dict(zip(names, values)), request)

        params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
        params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
        handler.__signature__ = inspect.Signature(params)
        handler.__annotations__ = {"request": gr.Request}  # how Gradio spots the argument it fills in
        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return handler

    return decorate


def control(field: Field, **overrides) -> gr.components.Component:
    """The Gradio control of a form field: label, one sentence of help, default, bounds and choices from its
    declaration; `overrides` (elem_id, choices of a model list, file types, lines ...) go to the component.

    Number boxes carry their range in the help, not as Gradio's minimum/maximum: Gradio's own bound check answers
    "Value 31 is greater than maximum value 30." without naming the field, while the request's check names it.
    Sliders cannot go out of bounds on the page; their bounds are the declared range, open edges a step inside.
    """
    f = field
    kwargs = dict(label=f.label, info=f.help_text(with_range=f.ui == "number")) | overrides
    if f.ui == "text":
        return gr.Textbox(value=f.default, **kwargs)
    if f.ui == "number":
        return gr.Number(value=f.default, step=f.step or 1, **kwargs)
    if f.ui == "slider":
        step = f.step or 1
        return gr.Slider(f.low + step * f.open_low, f.high - step * f.open_high, value=f.default, step=step, **kwargs)
    if f.ui in ("choice", "model"):  # a model's choices are the presets the tab passes in
        return gr.Dropdown(value=f.default, **{"choices": list(f.choices)} | kwargs)
    if f.ui == "radio":
        return gr.Radio(list(f.choices), value=f.default, **kwargs)
    if f.ui == "checkbox":
        return gr.Checkbox(value=f.default, **kwargs)
    kwargs["label"] = f"{f.label} ({kwargs.pop('info')[:-1]})"  # an upload has no help line of its own
    if f.ui == "image":
        return gr.Image(type="filepath", sources=["upload", "clipboard"], **kwargs)
    return gr.File(type="filepath", **kwargs)


class SessionStops:
    """One stop event per browser session: a user's Stop ends only that user's work (never a global flag)."""

    def __init__(self):
        self._stops: dict[str, threading.Event] = {}
        self._finished: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, key: str) -> threading.Event:
        """A fresh stop event for this session's new piece of work; the engine polls it."""
        with self._lock:
            self._stops[key] = threading.Event()
            self._finished[key] = threading.Event()
            return self._stops[key]

    def finish(self, key: str) -> None:
        with self._lock:
            self._stops.pop(key, None)
            done = self._finished.pop(key, None)
        if done:
            done.set()

    def stop(self, key: str, wait_s: float = 0.0) -> bool:
        """Ask this session's work to stop; wait up to `wait_s` for it to end. True when nothing is left running."""
        with self._lock:
            stop, done = self._stops.get(key), self._finished.get(key)
        if stop is None:
            return True
        stop.set()
        return done.wait(wait_s)


def preset_card(name: str, custom: str, modality: str, folder_kind: str) -> str:
    """Markdown card for a model choice: the preset's card, a gated note, an embedded model's own README (what
    was measured when it was built) and the memory at each precision; or a note for a typed id or folder."""
    if custom and custom.strip():
        return (f"**{html.escape(custom.strip())}**: a hub id or {folder_kind}. Its size is checked before "
                "loading; hub ids need internet (and HF_TOKEN if gated).")
    preset = find_preset(name, modality)
    if preset is None:
        return ""
    readme = EMBEDDED_DIR / (preset.folder or "") / "README.md" if preset.embedded else None
    built = "\n\n" + readme.read_text().split("\n", 2)[-1].strip() if readme and readme.is_file() else ""
    gated = " **Gated**: needs HF_TOKEN." if preset.gated else ""
    memory = " · ".join(f"{p} {format_bytes(b)}" for p, b in preset.memory().items())
    return f"**{preset.id}**: {preset.card}{gated}{built}\n\nMemory estimate: {memory}"
