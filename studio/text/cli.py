"""`python -m studio text --prompt ... [--json]`: one generation without the UI, saved like the tab's."""

from __future__ import annotations

import argparse
import sys

from studio.forms import Field

from .form import FIELDS, parse_form

SCOPE = {"any_path": True}  # a person at a terminal may name any folder on their machine


def flagged() -> list[Field]:
    return [f for f in FIELDS.values() if f.cli]


def _flag(parser: argparse.ArgumentParser, field: Field) -> None:
    """A flag whose type, default, choices and help come from the form's declaration."""
    kwargs = dict(dest=field.name, default=field.default, help=field.cli_help())
    if field.ui == "checkbox":  # --greedy / --no-greedy
        kwargs["action"] = argparse.BooleanOptionalAction
    elif field.name == "stop_text":  # repeatable: each flag is one stop sequence, taken as typed
        kwargs.update(action="append", default=[], help="A stop sequence (repeat the flag for more).")
    else:
        kwargs.update(type=field.cli_type, choices=field.choices or None)
    if field.name == "backend":
        kwargs["help"] += (" Any http(s) URL ending in /v1 works here; its key comes from STUDIO_OPENAI_API_KEY "
                           "(or OPENAI_API_KEY).")
    elif field.name == "backend_model":
        kwargs["help"] += " Default: --model."
    parser.add_argument(field.cli_flag, **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field in flagged():
        _flag(parser, field)
    parser.add_argument("--stream", action="store_true", help="print tokens to stderr as they come")


def run(args: argparse.Namespace, settings) -> dict:
    """Generate in this process (no workers: one person at a terminal); a failure is one clear line, no traceback.

    Remote code runs only when the operator sets STUDIO_TRUST_REMOTE_CODE; any folder may be named here.
    """
    from studio.errors import StudioError

    try:
        return _generate(args, settings)
    except (StudioError, KeyboardInterrupt):
        raise
    except Exception as err:  # a library's error: say what failed in one line instead of a traceback
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise StudioError(f"text generation with {args.model} failed: {type(err).__name__}"
                          f"{': ' + detail[:300] if detail else ''}") from None


def _generate(args: argparse.Namespace, settings) -> dict:
    from studio.devices import set_torch_threads
    from studio.text.engine import TextEngine, TextSaved
    from studio.text.generate import Limits, SequenceDone, TextChunk
    from studio.text.remote import normalize_url

    form = parse_form({f.name: getattr(args, f.name) for f in flagged()})
    if form.local:
        set_torch_threads(settings.torch_threads)  # this process is the command's own
        events = TextEngine(settings).generate(form.load(**SCOPE), form.request, limits=Limits(max_prompt_tokens=None))
        model = form.model
    else:
        events, model = _remote_events(form, settings), form.backend_model or form.model
    saved = None
    notes: list[str] = []
    for event in events:
        if isinstance(event, TextChunk) and args.stream:
            print(event.text, end="", file=sys.stderr, flush=True)
        elif isinstance(event, SequenceDone):
            notes += [n for n in event.notes if n not in notes]
            if args.stream:
                print(file=sys.stderr)
        elif isinstance(event, TextSaved):
            saved = event
    return {
        "model": model,
        **({} if form.local else {"backend": normalize_url(form.backend)}),
        "texts": [d.text for d in saved.sequences],
        "stats": [vars(d.stats) for d in saved.sequences],
        "seeds": [d.seed for d in saved.sequences],
        "notes": notes,
        "text_file": str(saved.text_path),
        "record": str(saved.record_path),
    }


def _remote_events(form, settings):
    """A model on any OpenAI-compatible server (a person at a terminal may name any URL); saved like a local one."""
    import os
    import time

    from studio.text.engine import save_answer
    from studio.text.generate import SequenceDone
    from studio.text.remote import api_key_from_env, RemoteModel, stream_remote, timeout_from_env

    remote = RemoteModel(form.backend, form.backend_model or form.model, timeout_from_env())
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    done = []
    for event in stream_remote(remote, form.request, api_key_from_env() or os.environ.get("OPENAI_API_KEY")):
        if isinstance(event, SequenceDone):
            done.append(event)
        yield event
    yield save_answer(settings.outputs_dir, form.request, remote.describe(), done, started)
