"""The event stream of a multi-process run's first rank, as JSON lines in the run folder.

A rank is a process of `accelerate launch`, not of the studio's job, so it cannot emit into the job's pipe:
it writes each event as one line (`EventWriter`), and the job tails the file (`EventReader`) and emits the
same events. Lines are whole or not read yet: a line without its newline is left for the next read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from studio.events import EvalEvent, LogEvent, ProgressEvent, StageEvent, StepEvent

from .requests import RunOpened

KINDS = {cls.__name__: cls for cls in (StepEvent, LogEvent, EvalEvent, StageEvent, ProgressEvent)}


def encode(event) -> str | None:
    """One JSON line for an event (None for a kind a rank does not send)."""
    kind = type(event).__name__
    if kind not in KINDS:
        return None
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, ProgressEvent):
        preview = fields.pop("preview")
        fields["run_opened"] = preview.name if isinstance(preview, RunOpened) else None
    if isinstance(event, EvalEvent):
        fields["extras"] = {}  # pictures stay in the rank; the fine-tune sends none
    return json.dumps({"event": kind, **fields})  # NaN stays NaN (json writes and reads it)


def decode(line: str):
    data = json.loads(line)
    cls = KINDS[data.pop("event")]
    if cls is ProgressEvent:
        opened = data.pop("run_opened", None)
        data["preview"] = RunOpened(opened) if opened else None
    return cls(**data)


class EventWriter:
    def __init__(self, path: Path):
        self._file = Path(path).open("a", buffering=1)  # line-buffered: the job sees each event at once

    def write(self, event) -> None:
        line = encode(event)
        if line is not None:
            self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()


class EventReader:
    """Reads the events added since the last read, from where the file ended when the reader was made (a resumed
    run's folder already holds the first launch's events)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = self.path.stat().st_size if self.path.is_file() else 0

    def read(self) -> list:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        events = []
        for line in data[:end].decode("utf-8", "replace").splitlines():
            try:
                events.append(decode(line))
            except (ValueError, KeyError, TypeError):
                continue  # not an event line: skip it rather than end the run's stream
        return events
