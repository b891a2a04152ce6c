"""Data files: every bad file gets one message naming the file, the row and the column; good ones load."""

import json

import pytest

from studio.errors import StudioError
from studio.finetune.data import EXAMPLE_SETS, load_data, split_rows


@pytest.mark.parametrize("name", list(EXAMPLE_SETS))
def test_every_bundled_example_set_loads(name):
    data = load_data(name)
    assert data.rows and data.shape in {"text", "pairs", "instruction", "messages"}


@pytest.mark.parametrize(
    "filename, content, expected",
    [
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\nnot json\n', "bad.jsonl line 2 is not JSON"),
        ("bad.jsonl", '[{"prompt": "a", "response": "b"}]\n', "name the file .json"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n[1, 2]\n', "bad.jsonl line 2 is a list"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n',
         "bad.jsonl line 2: the column 'response' is missing"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": 7}\n',
         "bad.jsonl line 2, column 'response': expected text, got a number (7)"),
        ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "  "}\n',
         "bad.jsonl line 2, column 'response' is empty"),
        ("bad.jsonl", '{"question": "a", "answer": "b"}\n', "no usable columns (found: answer, question)"),
        ("bad.jsonl", '{"messages": [{"role": "user", "content": "hi"}]}\n', "there is no assistant turn"),
        ("bad.jsonl", '{"messages": [{"role": "robot", "content": "hi"}]}\n', "line 1, column 'messages', turn 1"),
        ("bad.json", '{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "d"}\n', "name the file .jsonl"),
        ("bad.json", '[{"text": "ok"}, "just a string"]', "bad.json item 2 is text"),
        ("bad.json", '[{"text": "ok"}, {"text": null}]', "bad.json item 2, column 'text': expected text, got empty"),
        ("bad.json", '{"a": 1}', "should hold a list of rows"),
        ("bad.csv", "prompt,response\nhello,world\nonly one value\n", "bad.csv row 2 has 1 values"),
        ("bad.csv", '[{"prompt": "a"}]', "bad.csv is not a CSV file: it starts like JSON"),
        ("bad.csv", "instruction,output\ndo it,\n", "bad.csv row 1, column 'output' is empty"),
        ("bad.txt", "   \n\n", "bad.txt is empty"),
        ("bad.parquet", "x", "files ending in .parquet are not read"),
    ],
)
def test_bad_files_name_file_row_and_column(tmp_path, filename, content, expected):
    path = tmp_path / filename
    path.write_text(content)
    with pytest.raises(StudioError) as err:
        load_data(str(path), any_path=True)
    assert expected in str(err.value)


@pytest.mark.parametrize("filename", ["picture.csv", "picture.jsonl", "picture.txt", "picture.json"])
def test_a_binary_file_is_not_what_its_extension_says(tmp_path, filename):
    path = tmp_path / filename
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(StudioError, match=rf"{filename} is not a \w+ file: it holds binary data"):
        load_data(str(path), any_path=True)


def test_not_utf8_text_is_reported_with_the_byte(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(StudioError, match=r"latin.csv is not a CSV text file: byte 8 is not UTF-8"):
        load_data(str(path), any_path=True)


def test_shapes_are_detected(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"instruction": "i", "input": "", "output": "o"}) + "\n")
    (tmp_path / "b.txt").write_text("one\ntwo\n")
    (tmp_path / "c.txt").write_text("first para\nstill first\n\nsecond\n")
    assert load_data(str(tmp_path / "a.jsonl"), any_path=True).shape == "instruction"
    assert [r.values["text"] for r in load_data(str(tmp_path / "b.txt"), any_path=True).rows] == ["one", "two"]
    assert [r.where for r in load_data(str(tmp_path / "c.txt"), any_path=True).rows] == ["paragraph 1", "paragraph 2"]


def test_missing_file_lists_the_example_sets():
    with pytest.raises(StudioError, match="sums-in-words"):
        load_data("/no/such/file.jsonl", any_path=True)


def test_split_is_seeded_and_holds_out_a_fraction():
    rows = load_data("sums-in-words").rows
    a_train, a_val = split_rows(rows, 0.1, seed=1)
    b_train, b_val = split_rows(rows, 0.1, seed=1)
    assert a_val == b_val and len(a_val) == 40 and len(a_train) == 360
    assert split_rows(rows, 0.1, seed=2)[1] != a_val
