"""Training data: read JSONL, JSON, CSV or TXT (or a bundled example set) and check every row.

Everything is checked before any model loads, and each problem is reported as
one sentence that names the file, the row and the column, so a user can fix
the file without reading a traceback. Accepted shapes:
- `text`: one column of plain text, trained on in full;
- `pairs`: `prompt` and `response` columns; only the response is learned;
- `instruction`: `instruction`, optional `input`, and `output` (Alpaca style), like pairs;
- `messages`: a list of `{"role", "content"}` turns rendered with the model's chat template;
  only the assistant turns are learned.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.settings import PROJECT_ROOT

EXAMPLES_DIR = PROJECT_ROOT / "assets" / "finetune"
EXAMPLE_SETS = {
    "sums-in-words": ("sums-in-words.jsonl", "prompt/response: 'How much is 12 and 7?' -> '12 and 7 make 19.', "
                      "a new question format for sums the embedded model knows as 'Q: 12+7= A: 19'"),
    "sums-in-words-easy": ("sums-in-words-easy.jsonl", "the same format with one-digit numbers only: a first "
                           "curriculum stage"),
    "capitals-chat": ("capitals-chat.jsonl", "chat messages: 'What is the capital of Peru?' answered in one "
                      "sentence, rendered with the chat template"),
    "colours-french": ("colours-french.csv", "instruction/input/output CSV: name a colour in French"),
    "animal-facts": ("animal-facts.txt", "plain text, one fact a line, about the animals of the embedded corpus"),
}
EXTENSIONS = (".jsonl", ".json", ".csv", ".txt")
SHAPES = {  # shape -> (required columns, optional columns)
    "messages": (("messages",), ()),
    "instruction": (("instruction", "output"), ("input",)),
    "pairs": (("prompt", "response"), ()),
    "text": (("text",), ()),
}
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Row:
    values: dict
    where: str  # "line 3", "row 3", "item 3": how the user finds it in the file


@dataclass(frozen=True)
class DataSet:
    name: str  # file name as the user knows it, used in every message
    shape: str
    rows: list[Row]


def not_offered(name: str, field: str, uploads) -> StudioError:
    """The same sentence whether or not a server file of that name exists: a visitor learns nothing of the disk."""
    sets = ", ".join(EXAMPLE_SETS)
    mine = ", ".join(sorted(uploads)) or "none in this request"
    return StudioError(f"{field}: {name!r} is neither an example set ({sets}) nor a file you uploaded ({mine}). "
                       "Upload the file and name it here; files on the server cannot be named.")


def data_source(name: str, uploads: dict[str, str] | None = None, any_path: bool = False,
                field: str = "data") -> tuple[Path, str]:
    """(file to read, name for messages) for what a run's `data` (or a stage's) says.

    A visitor's text names a bundled example set or one of the files they uploaded (`uploads` maps the
    name they know to the uploaded copy); only the command line (`any_path`) may name a file on the disk.
    """
    name = str(name).strip()
    uploads = uploads or {}
    if name in EXAMPLE_SETS:
        return EXAMPLES_DIR / EXAMPLE_SETS[name][0], name
    if name in uploads:
        return Path(uploads[name]), name
    if not any_path:
        raise not_offered(name, field, uploads)
    path = Path(name).expanduser()
    if not path.is_file():
        raise StudioError(f"No data file {name}: give a .jsonl, .json, .csv or .txt file, or one of the example "
                          f"sets ({', '.join(EXAMPLE_SETS)}).")
    return path, path.name


def load_data(name: str, uploads: dict[str, str] | None = None, any_path: bool = False,
              field: str = "data") -> DataSet:
    """Read and check one data source (see `data_source`); messages call it by the name the user knows."""
    path, display = data_source(name, uploads, any_path, field)
    rows = read_rows(path, display)
    shape = detect_shape(rows, display)
    check_rows(rows, shape, display)
    return DataSet(display, shape, rows)


def held_out(rows: int, fraction: float) -> int:
    """How many of `rows` the validation split holds (at least one when asked for any)."""
    return min(max(1, round(rows * fraction)), rows - 1) if fraction > 0 and rows > 1 else 0


# ---- reading, one function per file kind ------------------------------------------------------


def read_rows(path: Path, name: str) -> list[Row]:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise StudioError(f"{name}: files ending in {suffix or '(nothing)'} are not read; use .jsonl, .json, .csv "
                          "or .txt.")
    raw = path.read_bytes()
    kind = suffix[1:].upper()
    if b"\x00" in raw[:4096]:
        raise StudioError(f"{name} is not a {kind} file: it holds binary data. Check that you picked the right file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StudioError(f"{name} is not a {kind} text file: byte {err.start} is not UTF-8. Save it as UTF-8 "
                          "text.") from None
    if not text.strip():
        raise StudioError(f"{name} is empty.")
    rows = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".txt": _read_txt}[suffix](text, name)
    if not rows:
        raise StudioError(f"{name} has no rows.")
    return rows


def _read_jsonl(text: str, name: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            hint = " It looks like one JSON document: name the file .json." if line.lstrip()[:1] == "[" else ""
            raise StudioError(f"{name} line {number} is not JSON ({err.msg}, column {err.colno}): each line of a "
                              f".jsonl file must be one JSON object.{hint}") from None
        if not isinstance(value, dict):
            hint = (" It looks like one JSON document: name the file .json."
                    if not rows and isinstance(value, list) and value and isinstance(value[0], dict) else "")
            raise StudioError(f"{name} line {number} is {_kind(value)}, not a JSON object with named columns.{hint}")
        rows.append(Row(value, f"line {number}"))
    return rows


def _read_json(text: str, name: str) -> list[Row]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        hint = ""
        if err.msg == "Extra data" and first.startswith("{"):
            hint = " It looks like JSON Lines (one object a line): name the file .jsonl."
        raise StudioError(f"{name} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}).{hint}") \
            from None
    if isinstance(value, dict):  # {"data": [...]} or {"train": [...]}: one list inside an object
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise StudioError(f"{name} holds a JSON object; it should hold a list of rows, e.g. "
                              '[{"prompt": "...", "response": "..."}].')
        value = lists[0]
    if not isinstance(value, list):
        raise StudioError(f"{name} holds {_kind(value)}; it should hold a list of rows.")
    rows = []
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise StudioError(f"{name} item {number} is {_kind(item)}, not an object with named columns.")
        rows.append(Row(item, f"item {number}"))
    return rows


def _read_csv(text: str, name: str) -> list[Row]:
    if text.lstrip()[:1] in "[{":
        raise StudioError(f"{name} is not a CSV file: it starts like JSON. Name it .json or .jsonl.")
    reader = csv.reader(io.StringIO(text))
    try:
        table = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as err:
        raise StudioError(f"{name} is not a valid CSV file ({err}, near line {reader.line_num}).") from None
    header = [h.strip() for h in table[0]]
    if len(header) < 1 or any(not h for h in header):
        raise StudioError(f"{name}: the first line must name every column (e.g. prompt,response); "
                          f"it reads {','.join(table[0])!r}.")
    rows = []
    for number, cells in enumerate(table[1:], 1):
        if len(cells) != len(header):
            raise StudioError(f"{name} row {number} has {len(cells)} values, but the header names {len(header)} "
                              f"columns ({', '.join(header)}). Quote values that contain commas.")
        rows.append(Row(dict(zip(header, cells)), f"row {number}"))
    return rows


def _read_txt(text: str, name: str) -> list[Row]:
    """Paragraphs separated by blank lines are examples; without blank lines, every line is one."""
    lines = text.replace("\r\n", "\n").split("\n")
    if any(not line.strip() for line in lines[:-1]):
        blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
        return [Row({"text": b}, f"paragraph {n}") for n, b in enumerate((b for b in blocks if b), 1)]
    return [Row({"text": line.strip()}, f"line {n}") for n, line in enumerate(lines, 1) if line.strip()]


def _kind(value) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"text ({value[:30]!r})" if isinstance(value, str) else type(value).__name__


# ---- shape and row checks ---------------------------------------------------------------------


def detect_shape(rows: list[Row], name: str) -> str:
    columns = set(rows[0].values)
    for shape, (required, _) in SHAPES.items():
        if set(required) <= columns:
            return shape
    found = ", ".join(sorted(columns)) or "none"
    raise StudioError(f"{name} {rows[0].where}: no usable columns (found: {found}). Use a text column, prompt and "
                      "response, instruction/input/output, or messages.")


def check_rows(rows: list[Row], shape: str, name: str) -> None:
    required, optional = SHAPES[shape]
    for row in rows:
        for column in required + optional:
            value = row.values.get(column)
            if column not in row.values:
                if column in optional:
                    continue
                raise StudioError(f"{name} {row.where}: the column {column!r} is missing (the first row has it, "
                                  "so every row needs it).")
            if column == "messages":
                _check_messages(value, row, name)
                continue
            if value is None and column in optional:
                continue
            if not isinstance(value, str):
                raise StudioError(f"{name} {row.where}, column {column!r}: expected text, got {_kind(value)}.")
            if not value.strip() and column not in optional:
                raise StudioError(f"{name} {row.where}, column {column!r} is empty.")


def _check_messages(value, row: Row, name: str) -> None:
    where = f"{name} {row.where}, column 'messages'"
    if not isinstance(value, list) or not value:
        raise StudioError(f"{where}: expected a list of {{role, content}} turns, got {_kind(value)}.")
    for number, turn in enumerate(value, 1):
        if not isinstance(turn, dict) or turn.get("role") not in ROLES:
            raise StudioError(f"{where}, turn {number}: each turn needs a role of {', '.join(ROLES)}.")
        if not isinstance(turn.get("content"), str) or not turn["content"].strip():
            raise StudioError(f"{where}, turn {number}: the content must be non-empty text, got "
                              f"{_kind(turn.get('content'))}.")
    if not any(turn["role"] == "assistant" for turn in value):
        raise StudioError(f"{where}: there is no assistant turn, so there is nothing to learn.")


def split_rows(rows: list[Row], fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Shuffle with `seed` and hold out `fraction` for validation (at least one row when asked for any)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = held_out(len(rows), fraction)
    return [rows[i] for i in order[held:]], [rows[i] for i in order[:held]]
