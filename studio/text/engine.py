"""The Text tab's engine: one loaded model, streaming generation, and an output folder per answer.

The UI and the command line both use `TextEngine`; neither calls
`from_pretrained` nor picks a device. Each answer (also one ended by Stop)
is written as text plus a JSON record under `outputs/text/`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from studio.loading import LoadedModel, LoadRequest
from studio.records import make_record, new_output_dir, write_record
from studio.settings import Settings

from .generate import SequenceDone, TextChunk, stream_text
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
    settings: Settings
    slot: object = field(init=False, repr=False)

    def __post_init__(self):
        from studio.devices import set_torch_threads

        set_torch_threads(self.settings.torch_threads)
        self.slot = text_slot(self.settings.device, self.settings.hf_token)

    def load(self, request: LoadRequest) -> LoadedModel:
        return self.slot.load(request)

    def generate(
        self, load: LoadRequest, request: TextRequest, stop: threading.Event | None = None
    ) -> Iterator[TextChunk | SequenceDone | TextSaved]:
        """Load (or reuse) the model, stream the answer, then save it; a Stop keeps what was made."""
        loaded = self.load(load)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        done: list[SequenceDone] = []
        for event in stream_text(loaded.model, loaded.processor, request, stop, loaded.source.name):
            if isinstance(event, SequenceDone):
                done.append(event)
            yield event
        yield self.save(loaded, request, done, started)

    def save(self, loaded: LoadedModel, request: TextRequest, done: list[SequenceDone], started: str) -> TextSaved:
        folder = new_output_dir(self.settings.outputs_dir, "text")
        text_path = folder / "answer.txt"
        if len(done) == 1:
            text_path.write_text(done[0].text)
        else:
            text_path.write_text("\n\n".join(f"--- sequence {d.index + 1} (seed {d.seed}) ---\n{d.text}" for d in done))
        record = make_record(
            "text",
            request,
            model=loaded.describe(),
            started=started,
            sequences=[{"index": d.index, "seed": d.seed, "stats": d.stats, "file": text_path.name} for d in done],
        )
        return TextSaved(done, text_path, write_record(folder, record))
