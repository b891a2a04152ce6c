"""The loader: clear, fast refusals before loading; one model per modality; the previous one survives a failure."""

import importlib.util
import time

import pytest

from studio.errors import StudioError
from studio.loading import LoadRequest, check_fits, scrub
from studio.registry import find_preset, presets, resolve
from studio.text.model import text_slot
from tests.text_models import odd_text_model, tiny_text_model  # noqa: F401  (fixtures)

TOKEN = "hf_SECRET_do_not_leak"
HAS_BNB = importlib.util.find_spec("bitsandbytes") is not None


@pytest.fixture()
def slot():
    return text_slot("cpu", token=None)


def load_error(slot, name, **kwargs) -> str:
    with pytest.raises(StudioError) as err:
        slot.load(LoadRequest(name, **({"any_path": True} | kwargs)))
    assert TOKEN not in str(err.value)
    return str(err.value)


def test_text_presets_include_the_embedded_model_and_hub_ids():
    ids = [p.id for p in presets("text")]
    assert ids[0] == "embedded/text-tiny"
    assert {"HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-2-7b-hf"} <= set(ids)
    assert find_preset("meta-llama/Llama-2-7b-hf").gated
    memory = find_preset("embedded/text-tiny").memory()
    assert memory["full"] > memory["fp16"] > memory["8bit"] > memory["4bit"] > 0


def test_names_resolve_to_embedded_folder_or_hub(tiny_text_model):
    assert resolve("embedded/text-tiny", "text").kind == "embedded"
    assert resolve(str(tiny_text_model), "text", any_path=True).kind == "folder"
    assert resolve(str(tiny_text_model), "text", local_roots=(str(tiny_text_model.parent),)).kind == "folder"
    assert resolve("owner/model", "text").kind == "hub"


def test_unknown_hub_id_fails_fast_naming_the_model(slot):
    start = time.perf_counter()
    message = load_error(slot, "studio-tests/no-such-model-x1")
    assert time.perf_counter() - start < 5
    assert "studio-tests/no-such-model-x1" in message and "offline" in message


def test_unreachable_hub_fails_fast_when_not_offline(slot, monkeypatch):
    """Online mode: one short request decides (here the hub cannot be reached, or says there is no such model)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "is_offline_mode", lambda: False)
    start = time.perf_counter()
    message = load_error(slot, "studio-tests/no-such-model-x2")
    assert time.perf_counter() - start < 10
    assert "studio-tests/no-such-model-x2" in message
    assert "cannot be reached" in message or "no model" in message


def test_gated_model_without_token_says_what_to_do(slot):
    message = load_error(slot, "meta-llama/Llama-2-7b-hf")
    assert "gated" in message and "HF_TOKEN" in message and "licence" in message


def test_folder_that_is_not_a_model(slot, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    message = load_error(slot, str(tmp_path))
    assert "not a model" in message and "config.json" in message


def test_text_that_is_neither_folder_nor_hub_id(slot):
    assert "neither a local folder nor a hub id" in load_error(slot, "./missing/folder")
    assert "Choose a model" in load_error(slot, "  ")


def test_refusal_when_the_estimate_does_not_fit():
    with pytest.raises(StudioError, match="needs about .* but only"):
        check_fits("big/model", 10**15, "cpu", "full")


def test_token_is_scrubbed_from_library_messages():
    assert TOKEN not in scrub(f"401 for url with {TOKEN}", TOKEN)


def test_previous_model_stays_usable_after_failed_loads(slot, tiny_text_model, tmp_path):
    first = slot.load(LoadRequest(str(tiny_text_model), any_path=True))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama", "hidden_size": "oops"}')
    for bad in (str(broken), "studio-tests/no-such-model-x3", "meta-llama/Llama-2-7b-hf", str(tmp_path)):
        with pytest.raises(StudioError) as err:
            slot.load(LoadRequest(bad, any_path=True))
        assert bad.split("/")[-1] in str(err.value)
        assert slot.current is not None and slot.current.request == first.request
    ids = first.processor("Once", return_tensors="pt")["input_ids"]
    assert slot.current.model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3


def test_same_request_reuses_the_model_and_a_switch_unloads(slot, tiny_text_model, odd_text_model):
    first = slot.load(LoadRequest(str(tiny_text_model), any_path=True))
    assert slot.load(LoadRequest(str(tiny_text_model), any_path=True)) is first
    second = slot.load(LoadRequest(str(odd_text_model), any_path=True))
    assert slot.current is second and second is not first


def test_4bit_on_cpu_refuses_sizes_that_are_not_multiples_of_64(slot, odd_text_model):
    message = load_error(slot, str(odd_text_model), precision="4bit")
    assert "multiple of 64" in message and "hidden_size 32" in message


def test_fp16_on_cpu_is_refused_before_loading(slot, tiny_text_model):
    assert "fp16" in load_error(slot, str(tiny_text_model), precision="fp16")


@pytest.mark.skipif(not HAS_BNB, reason="bitsandbytes is not installed")
@pytest.mark.parametrize("precision, quant_type", [("8bit", "nf4"), ("4bit", "nf4"), ("4bit", "fp4")])
def test_quantized_loading_generates_on_cpu(slot, tiny_text_model, precision, quant_type):
    try:
        import bitsandbytes  # noqa: F401
    except Exception as err:  # a broken install is a skip here, not a failure of the studio
        pytest.skip(f"bitsandbytes does not import: {err}")
    loaded = slot.load(LoadRequest(str(tiny_text_model), precision=precision, quant_type=quant_type, any_path=True))
    layer = loaded.model.model.layers[0].self_attn.q_proj
    assert type(layer).__name__ in {"Linear8bitLt", "Linear4bit"}
    ids = loaded.processor("Once", return_tensors="pt")["input_ids"]
    out = loaded.model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4
    assert loaded.describe()["precision"] == precision
