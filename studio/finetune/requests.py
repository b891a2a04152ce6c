"""What the page (or the command line) hands a fine-tune task: plain, picklable requests.

A request crosses into a worker process, so it holds only data: the checked
`FinetuneConfig`, the uploaded files it may read (by the name the visitor gave
them), and the model scope, i.e. which server folders its model name may
point at. The run folders themselves come from the task's own settings
(`run.settings.outputs_dir`, the owner's folder), never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import FinetuneConfig


@dataclass(frozen=True)
class ModelScope:
    """`LoadRequest`'s reach: the visitor's own folders and the operator's allow-list; any path for the CLI."""

    local_roots: tuple[str, ...] = ()
    any_path: bool = False
    presets_only: bool = False

    @classmethod
    def of(cls, scope: dict) -> ModelScope:
        """From `Studio.model_scope(request)`."""
        return cls(local_roots=tuple(scope.get("local_roots", ())), any_path=bool(scope.get("any_path", False)),
                   presets_only=bool(scope.get("presets_only", False)))

    def load_kwargs(self) -> dict:
        return dict(local_roots=self.local_roots, any_path=self.any_path, presets_only=self.presets_only)


@dataclass(frozen=True)
class TrainRequest:
    """Start a new run (or, with `check_only`, say what would happen without loading weights)."""

    config: FinetuneConfig
    uploads: dict[str, str] = field(default_factory=dict)  # the name a stage uses -> the uploaded file
    scope: ModelScope = ModelScope()
    check_only: bool = False


@dataclass(frozen=True)
class RunRequest:
    """Resume or merge one of the owner's runs, named by its folder name."""

    run: str
    scope: ModelScope = ModelScope()


@dataclass(frozen=True)
class RunOpened:
    """Carried by a `ProgressEvent` when a new run's folder exists: the page shows and lists the run from then."""

    name: str
