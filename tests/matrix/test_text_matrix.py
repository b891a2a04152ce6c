"""Every text family (tiny replicas with real classes, tokenizers and chat templates) on every path of the Text tab.

Paths: a plain prompt and a chat (greedy, token-identical to bare `model.generate`), a chat with a system
prompt (folded into the first message where the template refuses one), several sampled seeds (token-identical
to `torch.manual_seed(s); generate(do_sample=True)`, streamed chunks adding up to the answer), stop sequences,
Stop within one step, 8-bit and 4-bit, and the same model by its real hub id from an offline cache (the record
names the snapshot's revision). The shipped embedded model goes through the same paths as shipped. Each cell is
recorded for docs/models.md.
"""

import importlib.util
import re
import threading

import pytest

from studio.errors import StudioError
from studio.loading import LoadRequest
from studio.text.generate import stream_text, SequenceDone, TextChunk
from studio.text.model import text_slot
from studio.text.request import TextRequest
from tests.replicas import hub_cache
from tests.replicas.report import record
from tests.replicas.text import FAMILIES, Family
from tests.text_models import text_replicas  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

EMBEDDED = Family("embedded/text-tiny", "embedded/text-tiny", None, system="native")
ALL = FAMILIES + [EMBEDDED]
PROMPT = "Once upon a time"
SEEDS = (0, 1, 7)
_slots: dict = {}


def bnb_problem() -> str | None:
    """Why bitsandbytes cannot quantize here, in one sentence, or None."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed, so 8-bit and 4-bit cannot run here"
    try:
        import bitsandbytes  # noqa: F401
    except Exception as err:
        return f"bitsandbytes does not import here ({type(err).__name__}), so 8-bit and 4-bit cannot run"
    return None


def name_of(family: Family, folders) -> str:
    return family.hub_id if family is EMBEDDED else str(folders[family.name])


def load(family: Family, folders, precision: str = "full"):
    """One slot per precision, as the worker keeps one; loads are cached across cells."""
    slot = _slots.setdefault(precision, text_slot("cpu"))
    return slot.load(LoadRequest(name_of(family, folders), precision=precision, any_path=True))


def run(loaded, request, stop=None):
    events = list(stream_text(loaded.model, loaded.processor, request, stop, loaded.source.name))
    chunks = "".join(e.text for e in events if isinstance(e, TextChunk))
    done = [e for e in events if isinstance(e, SequenceDone)]
    return chunks, done


def bare(loaded, inputs, max_new_tokens, seed=None, **sampling):
    """The library call a person would write: same settings, global seed for sampling."""
    import torch

    model = loaded.model
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else loaded.processor.pad_token_id
    with torch.inference_mode():
        if seed is not None:
            torch.manual_seed(seed)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, repetition_penalty=1.0, pad_token_id=pad,
                             do_sample=bool(sampling), **sampling)
    return out[0, inputs["input_ids"].shape[1]:]


def same_as_bare(loaded, request, done, seed=None, **sampling) -> None:
    tokenizer = loaded.processor
    if request.chat:
        inputs = tokenizer.apply_chat_template(request.messages(), add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
    else:
        inputs = tokenizer(request.prompt, return_tensors="pt")
    inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
    ids = bare(loaded, inputs, request.max_new_tokens, seed, **sampling)
    assert done.stats.tokens == len(ids)
    assert done.text == tokenizer.decode(ids, skip_special_tokens=True)


def cell(family: Family, path: str):
    """Record the outcome of one cell, whatever happens; a StudioError is a refusal, anything else a failure."""

    class Recorder:
        def __enter__(self):
            return self

        def __exit__(self, kind, err, tb):
            if err is None:
                record("text", family.name, path, "works")
            elif isinstance(err, StudioError):  # named by family, not by the test's temporary folder
                record("text", family.name, path, "refused: " + re.sub(r"/\S*/folders/([\w.-]+)", r"\1", str(err)))
            else:
                record("text", family.name, path, f"FAILS: {type(err).__name__}: {err}")
            return False

    return Recorder()


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_prompt_and_chat_match_bare_generate(family, text_replicas):
    folders, _ = text_replicas
    loaded = load(family, folders)
    with cell(family, "prompt (greedy = bare)"):
        request = TextRequest(PROMPT, max_new_tokens=16, greedy=True)
        chunks, (done,) = run(loaded, request)
        assert chunks == done.text
        same_as_bare(loaded, request, done)
    if not family.chat:
        with pytest.raises(StudioError, match="no chat template"), cell(family, "chat"):
            run(loaded, TextRequest("Tell me a story.", chat=True, max_new_tokens=8, greedy=True))
        return
    with cell(family, "chat (greedy = bare)"):
        history = ({"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."})
        request = TextRequest("Tell me a story.", chat=True, history=history, max_new_tokens=16, greedy=True)
        chunks, (done,) = run(loaded, request)
        assert chunks == done.text and not done.notes
        same_as_bare(loaded, request, done)


@pytest.mark.parametrize("family", [f for f in ALL if f.chat], ids=lambda f: f.name)
def test_chat_with_a_system_prompt_never_fails(family, text_replicas):
    folders, _ = text_replicas
    loaded = load(family, folders)
    with cell(family, "chat + system prompt"):
        request = TextRequest("Tell me a story.", chat=True, system_prompt="Answer in one line.", max_new_tokens=8,
                              greedy=True)
        _, (done,) = run(loaded, request)
        folded = [n for n in done.notes if "system prompt was put at the start" in n]
        assert bool(folded) == (family.system == "refused"), done.notes
        if family.system == "folded":  # the template itself puts it in the first user turn
            rendered = loaded.processor.apply_chat_template(request.messages(), tokenize=False)
            assert "Answer in one line.\n\nTell me a story." in rendered


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_sampled_seeds_stream_and_match_bare_sampling(family, text_replicas):
    folders, _ = text_replicas
    loaded = load(family, folders)
    with cell(family, f"sampled, {len(SEEDS)} seeds (= bare)"):
        texts = set()
        for seed in SEEDS:
            request = TextRequest(PROMPT, max_new_tokens=24, seed=seed, temperature=1.0, top_k=0, top_p=1.0)
            chunks, (done,) = run(loaded, request)
            assert chunks == done.text  # every streamed piece is part of the answer (no "Invalid prefix")
            same_as_bare(loaded, request, done, seed=seed, temperature=1.0, top_k=0, top_p=1.0)
            texts.add(done.text)
        request = TextRequest(PROMPT, max_new_tokens=12, seed=3, temperature=0.7, top_k=20, top_p=0.9)
        _, (done,) = run(loaded, request)
        same_as_bare(loaded, request, done, seed=3, temperature=0.7, top_k=20, top_p=0.9)
        assert len(texts) >= 2


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_stop_sequences_and_stop(family, text_replicas):
    folders, _ = text_replicas
    loaded = load(family, folders)
    with cell(family, "stop sequence"):
        free = run(loaded, TextRequest(PROMPT, max_new_tokens=30, greedy=True, ignore_eos=True))[1][0].text
        stop = next(free[i:i + 2] for i in range(len(free) // 3, len(free) - 2) if free[i:i + 2].strip() == free[i:i + 2]
                    and "\ufffd" not in free[i:i + 2])
        chunks, (done,) = run(loaded, TextRequest(PROMPT, max_new_tokens=30, greedy=True, ignore_eos=True,
                                                  stop_sequences=(stop,)))
        assert done.text == free[: free.find(stop)] and chunks == done.text
        assert done.stats.stop_reason == "stop sequence"
    with cell(family, "Stop (within one step)"):
        model, stop_event, calls = loaded.model, threading.Event(), []
        original = model.forward

        def counting_forward(*args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                stop_event.set()
            return original(*args, **kwargs)

        model.forward = counting_forward
        try:
            _, done = run(loaded, TextRequest(PROMPT, max_new_tokens=200, ignore_eos=True, num_sequences=2),
                          stop_event)
        finally:
            del model.forward
        assert len(calls) <= 6 and len(done) == 1 and done[0].stats.stop_reason == "stopped"


@pytest.mark.parametrize("precision", ["8bit", "4bit"])
@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_quantized(family, precision, text_replicas):
    folders, _ = text_replicas
    problem = bnb_problem()
    if problem:
        record("text", family.name, precision, f"cannot run here: {problem}")
        pytest.skip(problem)
    with cell(family, precision):
        loaded = load(family, folders, precision)
        layers = {type(m).__name__ for m in loaded.model.modules()}
        assert {"Linear8bitLt", "Linear4bit"} & layers
        chunks, (done,) = run(loaded, TextRequest(PROMPT, max_new_tokens=8, greedy=True, ignore_eos=True))
        assert done.stats.tokens == 8 and chunks == done.text
        assert loaded.describe()["precision"] == precision


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_hub_id_from_the_offline_cache(family, text_replicas):
    folders, cache = text_replicas
    with hub_cache.offline_cache(cache), cell(family, "hub id (offline cache)"):
        slot = text_slot("cpu")
        loaded = slot.load(LoadRequest(family.hub_id))
        assert loaded.source.kind == "hub"
        assert loaded.describe()["fingerprint"] == f"revision {hub_cache.commit_for(family.hub_id)}"
        request = TextRequest(PROMPT, max_new_tokens=10, greedy=True, chat=family.chat)
        _, (done,) = run(loaded, request)
        same_as_bare(loaded, request, done)
