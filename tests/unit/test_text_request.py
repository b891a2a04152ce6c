"""TextRequest validates every field in one place and names the field and value in its message."""

import pytest

from studio.errors import StudioError
from studio.text.request import TextRequest, parse_stop_sequences


@pytest.mark.parametrize(
    "field, value",
    [
        ("prompt", ""),
        ("prompt", "   \n"),
        ("max_new_tokens", 0),
        ("max_new_tokens", 100000),
        ("max_new_tokens", 2.5),
        ("temperature", -1),
        ("temperature", float("nan")),
        ("top_p", 0),
        ("top_p", 1.5),
        ("top_k", -1),
        ("repetition_penalty", 0),
        ("num_sequences", 0),
        ("num_sequences", 9),
        ("seed", -3),
        ("stop_sequences", ("",)),
        ("history", ({"role": "robot", "content": "x"},)),
    ],
)
def test_bad_values_are_refused_with_the_field_named(field, value):
    kwargs = {"prompt": "hello", field: value}
    with pytest.raises(StudioError) as err:
        TextRequest(**kwargs)
    assert field in str(err.value)


def test_whole_floats_from_sliders_become_ints():
    request = TextRequest("hi", max_new_tokens=64.0, num_sequences=2.0, top_k=10.0, seed=7.0)
    assert (request.max_new_tokens, request.num_sequences, request.top_k, request.seed) == (64, 2, 10, 7)
    assert all(isinstance(v, int) for v in (request.max_new_tokens, request.num_sequences, request.top_k))


def test_range_refusals_name_the_field_and_its_declared_range():
    with pytest.raises(StudioError, match=r"^max_new_tokens: 2.5 is not valid; use a whole number from 1 to 4096\.$"):
        TextRequest("hi", max_new_tokens=2.5)
    with pytest.raises(StudioError, match=r"^temperature: nan is not valid; use a finite number: a number from 0 to 2"):
        TextRequest("hi", temperature=float("nan"))


def test_one_stop_sequence_given_as_text_stays_one():
    assert TextRequest("hi", stop_sequences="END").stop_sequences == ("END",)
    assert TextRequest("hi", stop_sequences=["a", "b"]).stop_sequences == ("a", "b")


def test_greedy_when_temperature_is_zero_or_asked():
    assert not TextRequest("hi", temperature=0).sampling
    assert not TextRequest("hi", greedy=True).sampling
    assert TextRequest("hi", temperature=0.7).sampling


def test_chat_messages_put_system_and_history_first():
    request = TextRequest("and now?", chat=True, system_prompt="Be brief.",
                          history=({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}))
    assert [m["role"] for m in request.messages()] == ["system", "user", "assistant", "user"]
    assert request.messages()[-1]["content"] == "and now?"


def test_stop_sequences_one_per_line_with_escaped_newline():
    assert parse_stop_sequences("END\n\\n\\n\n") == ("END", "\n\n")
    assert parse_stop_sequences("") == ()
