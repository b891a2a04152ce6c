"""`python -m studio text --prompt ... [--json]`: one generation without the UI, saved like the tab's."""

from __future__ import annotations

import argparse
import sys

from studio.devices import PRECISIONS

DEFAULT_MODEL = "embedded/text-tiny"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", required=True, help="the prompt (in --chat mode, the user's message)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="preset, hub id or local folder")
    parser.add_argument("--precision", choices=PRECISIONS, default="full")
    parser.add_argument("--quant-type", choices=["nf4", "fp4"], default="nf4", help="4-bit only")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--greedy", action="store_true")
    parser.add_argument("--num-sequences", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop", action="append", default=[], help="a stop sequence (repeatable)")
    parser.add_argument("--chat", action="store_true", help="apply the model's chat template")
    parser.add_argument("--system", default="", help="system prompt in --chat mode")
    parser.add_argument("--stream", action="store_true", help="print tokens to stderr as they come")
    parser.add_argument("--openai-base-url", default="",
                        help="use a model on an OpenAI-compatible server instead (e.g. http://host:8000/v1); "
                             "its key comes from STUDIO_OPENAI_API_KEY (or OPENAI_API_KEY)")
    parser.add_argument("--openai-model", default="", help="the model's name on that server (default: --model)")


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
    from studio.loading import LoadRequest
    from studio.text.engine import TextEngine, TextSaved
    from studio.text.generate import Limits, SequenceDone, TextChunk
    from studio.text.remote import normalize_url

    request = _request(args)
    if args.openai_base_url:
        events, model = _remote_events(args, request, settings), args.openai_model or args.model
    else:
        load = LoadRequest(args.model, precision=args.precision, quant_type=args.quant_type, any_path=True)
        set_torch_threads(settings.torch_threads)  # this process is the command's own
        events = TextEngine(settings).generate(load, request, limits=Limits(max_prompt_tokens=None))
        model = args.model
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
        **({"backend": normalize_url(args.openai_base_url)} if args.openai_base_url else {}),
        "texts": [d.text for d in saved.sequences],
        "stats": [vars(d.stats) for d in saved.sequences],
        "seeds": [d.seed for d in saved.sequences],
        "notes": notes,
        "text_file": str(saved.text_path),
        "record": str(saved.record_path),
    }


def _remote_events(args: argparse.Namespace, request, settings):
    """A model on any OpenAI-compatible server (a person at a terminal may name any URL); saved like a local one."""
    import os
    import time

    from studio.text.engine import save_answer
    from studio.text.generate import SequenceDone
    from studio.text.remote import api_key_from_env, RemoteModel, stream_remote, timeout_from_env

    remote = RemoteModel(args.openai_base_url, args.openai_model or args.model, timeout_from_env())
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    done = []
    for event in stream_remote(remote, request, api_key_from_env() or os.environ.get("OPENAI_API_KEY")):
        if isinstance(event, SequenceDone):
            done.append(event)
        yield event
    yield save_answer(settings.outputs_dir, request, remote.describe(), done, started)


def _request(args: argparse.Namespace):
    from studio.text.request import TextRequest

    return TextRequest(
        prompt=args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
        top_k=args.top_k, repetition_penalty=args.repetition_penalty, greedy=args.greedy,
        num_sequences=args.num_sequences, seed=args.seed, stop_sequences=tuple(args.stop), chat=args.chat,
        system_prompt=args.system,
    )
