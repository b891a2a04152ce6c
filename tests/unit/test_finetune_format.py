"""Rows to tokens on real tokenizer classes: one start token in chats, and chat data checked before loading."""

import pytest

from studio.errors import StudioError
from studio.finetune.data import load_data
from studio.finetune.format import IGNORE, check_chat, encode


@pytest.fixture(scope="module")
def tokenizers():
    from tests.replicas.finetune_bases import tokenizer

    return {name: tokenizer(name) for name in ("mistral-v0.1", "gemma-2", "gpt2", "qwen2.5")}


CHAT = {"messages": [{"role": "user", "content": "Name the capital of Peru."},
                     {"role": "assistant", "content": "The capital of Peru is Lima."}]}


@pytest.mark.parametrize("family", ["mistral-v0.1", "gemma-2"])
def test_a_chat_starts_with_one_start_token_as_at_generation(tokenizers, family):
    tok = tokenizers[family]
    ids, labels = encode(CHAT, "messages", tok)
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id  # was <bos><bos>
    generated = tok.apply_chat_template(CHAT["messages"][:1], add_generation_prompt=family == "gemma-2",
                                        tokenize=True, return_dict=True)["input_ids"]
    assert ids[: len(generated)] == list(generated)  # the prompt is tokenized as the Text tab tokenizes it
    assert "Lima" in tok.decode([t for t in labels if t != IGNORE])


def test_plain_rows_get_the_tokenizer_s_own_special_tokens_once(tokenizers):
    tok = tokenizers["mistral-v0.1"]
    ids, _ = encode({"prompt": "Double 4?", "response": "8"}, "pairs", tok)
    assert ids[: len(tok("Double 4?")["input_ids"])] == tok("Double 4?")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1


@pytest.mark.parametrize("family", ["mistral-v0.1", "gemma-2"])
def test_system_turns_on_a_template_without_them_are_refused_before_loading(tokenizers, family):
    with pytest.raises(StudioError, match=r"capitals-chat line 2 has a system turn, and .* does not accept one "
                                          r".*fold the system text into the first user turn"):
        check_chat(load_data("capitals-chat"), tokenizers[family], family)


def test_chat_data_on_a_model_without_a_template_is_refused_with_what_to_do(tokenizers):
    with pytest.raises(StudioError, match=r"gpt2 has no chat template, .*use prompt/response rows"):
        check_chat(load_data("capitals-chat"), tokenizers["gpt2"], "gpt2")
    check_chat(load_data("colours-french"), tokenizers["gpt2"], "gpt2")  # not chat: nothing to render


def test_a_template_with_a_system_role_accepts_the_chat(tokenizers):
    check_chat(load_data("capitals-chat"), tokenizers["qwen2.5"], "qwen2.5")
