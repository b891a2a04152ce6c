"""Starting a fine-tune: a run folder with its config, and the training on the event stream.

The tab and the command line both start runs here, so a run started in one
can be resumed from the other.
"""

from __future__ import annotations

from collections.abc import Callable

from studio.events import DoneEvent, ErrorEvent, LogEvent, Run, start_run
from studio.errors import StudioError

from .config import FinetuneConfig
from .runs import RunFolder


def start_finetune(config: FinetuneConfig, settings, folder: RunFolder | None = None, resume: bool = False,
                   uploads: dict[str, str] | None = None) -> tuple[Run, RunFolder]:
    """Check the data, make (or reuse) the run folder, and train on a worker thread."""
    from .curriculum import load_stage_data, run_finetune

    if resume:
        if folder is None:
            raise StudioError("Pick a run to resume.")
        if folder.status == "finished":
            raise StudioError(f"Run {folder.name} has finished already; start a new run to train more.")
    load_stage_data(config, uploads)  # bad data is reported before a folder that looks like a run exists
    if folder is None:
        folder = RunFolder.create(settings.outputs_dir)
        folder.write_json("config.json", config.to_dict())
        if uploads:
            folder.write_json("uploads.json", uploads)
    elif uploads is None:
        uploads = folder.read_json("uploads.json")
    run = start_run(lambda r: run_finetune(config, r, folder, settings, resume=resume, uploads=uploads),
                    name="finetune")
    return run, folder


def train_to_end(config: FinetuneConfig, settings, folder: RunFolder | None = None, resume: bool = False,
                 on_log: Callable[[str], None] | None = None):
    """Train in the foreground (command line); returns the `FinetuneResult`."""
    run, folder = start_finetune(config, settings, folder, resume)
    try:
        for event in run:
            if isinstance(event, LogEvent) and on_log:
                on_log(event.message)
            elif isinstance(event, ErrorEvent):
                raise StudioError(event.message)
            elif isinstance(event, DoneEvent):
                return event.result
    except KeyboardInterrupt:
        run.request_stop()  # Ctrl-C saves a checkpoint, like the tab's Stop
        run.join()
        raise
    raise StudioError("The training ended without a result.")
