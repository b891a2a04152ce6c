"""Run folders under `<owner's outputs>/finetune/`: what each file is, which runs exist, what to do with a result.

Every function takes the owner's outputs folder (a job's `run.settings.outputs_dir`, the page's
`studio.settings_for(request).outputs_dir`), so a visitor sees, resumes and merges only their own runs:
another visitor's run name is answered exactly like a made-up one.

```
<outputs>/finetune/<run>/
  config.json          the FinetuneConfig (Resume and the accelerate export rebuild the run from it)
  accelerate.yaml      the accelerate config of a multi-process run (Export writes it for any run)
  launch.json          what its ranks read besides config.json: settings without secrets, the model scope
  launch.sh            the exact command the studio runs it with
  events.jsonl         a multi-process run's events, written by its first rank for the job to pass on
  launch.log           the ranks' own output (errors of a multi-process run are found here)
  uploads.json         uploaded data files by the name the run uses, copied into data/ (Resume reads them there)
  logs.jsonl           every Trainer log line, steps counted across stages
  tensorboard/         the same numbers for `tensorboard --logdir outputs/finetune`
  checkpoints/<stage>/ Trainer checkpoints (Stop always leaves one)
  stages/<stage>/      the weights at the end of each curriculum stage, named after the stage
  final/               the adapter (or, for full fine-tuning, the model) with its tokenizer
  state.json           present while the run is stopped: where it stopped
  failed.json          present when the run failed (e.g. the loss diverged): why; it cannot be resumed
  record.json          written last: only a finished run has one
```
A folder without record.json is never shown as finished: a crash or a Stop
mid-way leaves it "stopped" or "incomplete", a divergence "failed", and `final/`
appears by rename only when complete. A run that fails before its first step
leaves no folder at all. This module imports no torch at import time (the UI lists runs).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.records import new_output_dir, write_record

KIND = "finetune"


def runs_dir(outputs_dir: Path) -> Path:
    return Path(outputs_dir) / KIND


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def create(cls, outputs_dir: Path) -> RunFolder:
        return cls(new_output_dir(outputs_dir, KIND))

    @classmethod
    def find(cls, outputs_dir: Path, name: str) -> RunFolder:
        """One of the owner's runs; any other name (another owner's run, a path) gets the same answer."""
        name = (name or "").strip()
        if not name:
            raise StudioError("Pick a run first (the Runs list shows yours).")
        path = runs_dir(outputs_dir) / name
        if "/" in name or "\\" in name or name.startswith(".") or not (path / "config.json").is_file():
            raise StudioError(f"There is no fine-tune run {name!r} among your runs. Pick one from the Runs list.")
        return cls(path)

    @property
    def name(self) -> str:
        return self.path.name

    def checkpoints(self, stage: str) -> Path:
        return self.path / "checkpoints" / stage

    def stage_dir(self, stage: str) -> Path:
        return self.path / "stages" / stage

    @property
    def final(self) -> Path:
        return self.path / "final"

    def read_json(self, name: str) -> dict | None:
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_json(self, name: str, data: dict) -> Path:
        return write_record(self.path, data, name)  # written to a .tmp first, then renamed

    @property
    def status(self) -> str:
        if (self.path / "record.json").is_file():
            return "finished"
        if (self.path / "failed.json").is_file():
            return "failed"
        if (self.path / "state.json").is_file():
            return "stopped"
        return "incomplete"

    def uploads(self) -> dict[str, str]:
        """The run's uploaded data files, by the name its config uses, as paths inside this folder."""
        saved = self.read_json("uploads.json") or {}
        return {name: str(self.path / relative) for name, relative in saved.items()
                if (self.path / relative).resolve().is_relative_to(self.path.resolve())}

    def latest_checkpoint(self, stage: str) -> Path | None:
        """The highest-numbered complete checkpoint of a stage (one the Trainer finished writing)."""
        found = []
        for path in self.checkpoints(stage).glob("checkpoint-*"):
            match = re.fullmatch(r"checkpoint-(\d+)", path.name)
            if match and (path / "trainer_state.json").is_file():
                found.append((int(match.group(1)), path))
        return max(found)[1] if found else None

    def logs(self) -> list[dict]:
        path = self.path / "logs.jsonl"
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # the line being written when a run was killed
                continue
        return rows


def list_runs(outputs_dir: Path) -> list[dict]:
    """Every run, newest first: name, status, model, method, data, steps and last eval loss."""
    base = runs_dir(outputs_dir)
    if not base.is_dir():
        return []
    rows = []
    for path in sorted(base.iterdir(), reverse=True):
        if not (path / "config.json").is_file():
            continue
        folder = RunFolder(path)
        config = folder.read_json("config.json") or {}
        logs = folder.logs()
        evals = [r["eval_loss"] for r in logs if "eval_loss" in r]
        stages = config.get("stages") or []
        rows.append({
            "run": folder.name,
            "status": folder.status,
            "model": config.get("model", "?"),
            "method": (config.get("method") or {}).get("method", "?"),
            "data": ", ".join(s["name"] for s in stages) if stages else config.get("data", "?"),
            "steps": max((r["step"] for r in logs), default=0),
            "eval loss": round(evals[-1], 4) if evals else None,
        })
    return rows


def curve_rows(logs: list[dict], run: str | None = None) -> list[dict]:
    """Long-form rows (step, value, series[, run]) for a plot of loss, eval loss and learning rate."""
    names = {"loss": "train loss", "eval_loss": "eval loss", "learning_rate": "learning rate"}
    rows = []
    for entry in logs:
        for key, series in names.items():
            if key in entry:
                row = {"step": entry["step"], "value": entry[key], "series": series}
                if run is not None:
                    row["run"] = run
                rows.append(row)
    return rows


def stage_starts(logs: list[dict]) -> list[tuple[int, str]]:
    """(step, stage) where each stage's first log line falls: the boundaries marked on the plot."""
    seen, starts = set(), []
    for entry in logs:
        stage = entry.get("stage")
        if stage is not None and stage not in seen:
            seen.add(stage)
            starts.append((entry["step"], stage))
    return starts


def publish(tmp: Path, target: Path) -> Path:
    """Move a completely written folder into place, replacing an older one: never half a folder at `target`."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def merge_and_save(folder: RunFolder, settings, scope=None) -> Path:
    """Fold the LoRA weights into the base model and save a plain model to `<run>/merged/`.

    The base loads through the loader and its checks (`lora.load_base`), named as the run named it and within
    the same `scope` (a ModelScope: the visitor's reach, or any path for the command line), never from the
    path an adapter file claims. It loads in full precision even for QLoRA: merging into 4-bit weights would
    round the update away.
    """
    if folder.status != "finished":
        raise StudioError(f"Run {folder.name} is {folder.status}: finish it (Resume) before merging.")
    config = folder.read_json("config.json")
    if (config.get("method") or {}).get("method") == "full":
        raise StudioError(f"Run {folder.name} trained every weight: its final/ folder is already a full model.")
    from peft import PeftModel

    from .config import MethodSettings
    from .lora import load_base
    from .requests import ModelScope

    adapter = folder.final
    base, tokenizer, _ = load_base(config["model"], MethodSettings(method="lora"), settings, scope or ModelScope())
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tmp = folder.path / "merged.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return publish(tmp, folder.path / "merged")
