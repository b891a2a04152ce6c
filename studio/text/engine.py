"""The Text tab's engine: one loaded model, streaming generation, and an output folder per answer.

The worker task (`tasks.py`) and the command line both use `TextEngine`;
neither calls `from_pretrained` nor picks a device. Each answer (also one ended
by Stop) is written as text plus a JSON record under `<outputs>/text/`, where
`<outputs>` is the owner's own folder for a visitor's job.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from studio.loading import LoadedModel, LoadRequest
from studio.records import make_record, new_output_dir, write_record
from studio.settings import Settings

from .generate import Limits, SequenceDone, stream_text, TextChunk
from .model import text_slot
from .request import TextRequest


@dataclass(frozen=True)
class TextSaved:
    """The last event of a generation: every sequence and where they were written."""

    sequences: list[SequenceDone]
    text_path: Path
    record_path: Path


@dataclass
class TextEngine:
    """Holds the text model slot. Built once per worker process (or per command line run)."""

    settings: Settings
    slot: object = field(init=False, repr=False)

    def __post_init__(self):
        self.slot = text_slot(self.settings.device, self.settings.hf_token,
                              trust_remote_code=self.settings.trust_remote_code)

    def _as_loaded(self, request: LoadRequest) -> LoadRequest:
        # The slot applies the operator's remote-code setting; the request carries the same value so that an
        # equal request finds the loaded model again.
        return dataclasses.replace(request, trust_remote_code=self.slot.trust_remote_code)

    def is_loaded(self, request: LoadRequest) -> bool:
        return self.slot.current is not None and self.slot.current.request == self._as_loaded(request)

    def load(self, request: LoadRequest) -> LoadedModel:
        return self.slot.load(self._as_loaded(request))

    def generate(self, load: LoadRequest, request: TextRequest, stop=None, outputs_dir: Path | None = None,
                 limits: Limits = Limits()) -> Iterator[TextChunk | SequenceDone | TextSaved]:
        """Load (or reuse) the model, stream the answer, then save it; a Stop keeps what was made."""
        loaded = self.load(load)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        done: list[SequenceDone] = []
        for event in stream_text(loaded.model, loaded.processor, request, stop, loaded.source.name, limits):
            if isinstance(event, SequenceDone):
                done.append(event)
            yield event
        yield self.save(loaded, request, done, started, outputs_dir or self.settings.outputs_dir)

    def save(self, loaded: LoadedModel, request: TextRequest, done: list[SequenceDone], started: str,
             outputs_dir: Path) -> TextSaved:
        return save_answer(outputs_dir, request, loaded.describe(), done, started)


def save_answer(outputs_dir: Path, request: TextRequest, model: dict, done: list[SequenceDone],
                started: str, batch: int = 1) -> TextSaved:
    """The answer as text plus its JSON record, in a new folder under `<outputs>/text/` (local or remote model).

    `batch` is how many requests shared the `generate` call (`batching.py`): padding in a batch can change
    a near-tie, so the record says it."""
    folder = new_output_dir(outputs_dir, "text")
    text_path = folder / "answer.txt"
    if len(done) == 1:
        text_path.write_text(done[0].text)
    else:
        text_path.write_text("\n\n".join(f"--- sequence {d.index + 1} (seed {d.seed}) ---\n{d.text}" for d in done))
    record = make_record(
        "text",
        request,
        model=model,
        started=started,
        batch=batch,
        sequences=[{"index": d.index, "seed": d.seed, "stats": d.stats, "notes": list(d.notes),
                    "file": text_path.name} for d in done],
    )
    return TextSaved(done, text_path, write_record(folder, record))
