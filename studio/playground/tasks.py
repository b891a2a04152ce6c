"""The Playground's work as job tasks, run in a worker process of its own (one fresh process per run).

`train(config, run)` trains, paints what the network does between epochs (so
events carry finished pictures), saves the best weights and the record into the
owner's folder (`run.settings.outputs_dir`) and returns a small picklable
outcome. Threads are the worker's business; randomness is the run's own seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import PlaygroundConfig, defaults_for

SNAPSHOT_SECONDS = 0.9  # pictures of the network at least once a second, and not much more often


@dataclass
class PlaygroundOutcome:
    """What the page needs from a finished run (no model: that stays in the worker and on disk)."""

    summary: dict
    history: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    story: str = ""
    stopped: bool = False

    @property
    def steps(self) -> int:
        return int(self.summary.get("steps", 0))


def train(payload: PlaygroundConfig, run) -> PlaygroundOutcome:
    from .datasets import make_dataset
    from .pictures import snapshot_for
    from .saving import save_run
    from .story import tell
    from .training import train_playground

    from studio.records import library_versions

    library_versions()  # read once now (it is cached): after a Stop, saving must fit in the grace period
    config = payload
    data = make_dataset(config)
    result = train_playground(config, run, data, snapshot_for(config, data), SNAPSHOT_SECONDS)
    history = [vars(m) for m in result.history]
    story = tell(history, result.best_epoch, result.stopped, result.early_stopped)
    folder = save_run(config, result, run.settings.outputs_dir, story)
    return PlaygroundOutcome(result.summary(), history, [str(folder / "model.pt"), str(folder / "record.json")],
                             story, result.stopped)


def warm(payload, run) -> int:
    """A first tiny run with pictures, nothing saved: each fresh Playground worker does it before its job
    (`WorkerPool.prepare`), so the visitor's run starts in a process that has trained and drawn already."""
    from .datasets import make_dataset
    from .pictures import snapshot_for
    from .training import train_playground

    from studio.records import library_versions

    library_versions()
    config = defaults_for("mlp", samples=60, epochs=2, patience=0)
    data = make_dataset(config)
    return train_playground(config, run, data, snapshot_for(config, data), 0.0).steps
