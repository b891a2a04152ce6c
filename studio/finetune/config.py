"""The typed settings of a fine-tuning run; each validates itself and names the field it rejects.

A `FinetuneConfig` is what the tab, the command line and a saved run folder
share: it round-trips through JSON (`to_dict` / `from_dict`), so Resume and the
`accelerate launch` export rebuild exactly the run that was started.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from studio.errors import ConfigError, StudioError

METHODS = ("lora", "qlora", "full")
BIASES = ("none", "all", "lora_only")
SCHEDULERS = ("cosine", "linear", "constant")
OVERLONG = ("truncate", "drop")
PRECISIONS = ("auto", "full", "bf16", "fp16")
QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("auto", "float32", "bfloat16", "float16")


MAX_LEARNING_RATE = 10.0  # past every sane optimizer setting, but high enough to show a class what divergence is
MAX_EPOCHS = 1000.0
MAX_BATCH = 4096
MAX_LENGTH = 1_000_000
MAX_RANK = 4096
MAX_PROCESSES = 256  # a sanity bound; the real one is the machine's CPU or GPU count (studio.finetune.launch)


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(name, value, expected)


def _number(value, name: str, low: float, high: float, expected: str, low_open: bool = False) -> float:
    """A finite float within [low, high] (or (low, high]), else a `ConfigError` naming the field."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, value, expected) from None
    ok = math.isfinite(number) and (number > low if low_open else number >= low) and number <= high
    _check(ok, name, value, expected)
    return number


def _whole(value, name: str, low: int, high: int) -> int:
    """A whole number within [low, high] (inf, NaN and 2.5 are refused, not rounded)."""
    number = _number(value, name, low, high, f"use a whole number from {low} to {high}")
    _check(number == int(number), name, value, f"use a whole number from {low} to {high}")
    return int(number)


def slug(name: str) -> str:
    """A folder-safe version of a stage name: 'Easy sums!' -> 'easy-sums'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "stage"


@dataclass
class MethodSettings:
    """How the weights are trained: a LoRA adapter, a LoRA on a 4-bit base (QLoRA), or every weight."""

    method: str = "lora"
    rank: int = 8  # r: size of the low-rank update
    alpha: int = 16  # the update is scaled by alpha / rank
    dropout: float = 0.05
    # "all-linear" (every linear layer but the output head: learns most per step), "default" (peft's choice for
    # the architecture, often only attention projections), or names such as "q_proj, v_proj"
    target_modules: str = "all-linear"
    bias: str = "none"
    quant_type: str = "nf4"  # QLoRA only
    double_quant: bool = True  # QLoRA only: quantize the quantization constants as well
    compute_dtype: str = "auto"  # QLoRA only: the dtype the 4-bit weights are computed in

    def __post_init__(self):
        _check(self.method in METHODS, "method", self.method, f"choose one of {', '.join(METHODS)}")
        self.rank = _whole(self.rank, "rank", 1, MAX_RANK)
        self.alpha = _whole(self.alpha, "alpha", 1, 16 * MAX_RANK)
        self.dropout = _number(self.dropout, "dropout", 0, 0.99, "use a rate from 0 up to 0.99")
        _check(self.bias in BIASES, "bias", self.bias, f"choose one of {', '.join(BIASES)}")
        _check(self.quant_type in QUANT_TYPES, "quant_type", self.quant_type, "choose nf4 or fp4")
        _check(self.compute_dtype in COMPUTE_DTYPES, "compute_dtype", self.compute_dtype,
               f"choose one of {', '.join(COMPUTE_DTYPES)}")
        self.target_list()  # rejects a malformed list now, not after the model has loaded

    def target_list(self) -> str | list[str] | None:
        """What `LoraConfig(target_modules=...)` gets: None lets peft pick the architecture's defaults."""
        text = (self.target_modules or "default").strip()
        if text in ("", "default"):
            return None
        if text == "all-linear":
            return "all-linear"
        names = [n.strip() for n in text.split(",") if n.strip()]
        _check(all(re.fullmatch(r"[\w.]+", n) for n in names), "target_modules", text,
               "use default, all-linear, or module names separated by commas, e.g. q_proj, v_proj")
        return names


@dataclass
class TrainingSettings:
    """The Trainer's knobs. `max_steps` > 0 overrides `epochs`."""

    learning_rate: float = 3e-3  # right for the embedded model; hub models usually want 1e-4 to 3e-4
    epochs: float = 3.0
    max_steps: int = 0
    batch_size: int = 8
    grad_accumulation: int = 1
    warmup_steps: int = 0
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_length: int = 128
    overlong: str = "truncate"  # rows longer than max_length: truncate them or drop them
    gradient_checkpointing: bool = False
    eval_steps: int = 20  # evaluate every N steps (when there is a validation split)
    logging_steps: int = 5
    save_steps: int = 100  # a checkpoint every N steps; Stop saves one too
    seed: int = 42
    validation_fraction: float = 0.1
    precision: str = "auto"  # auto picks bf16/fp16 where the device supports it, full otherwise
    restore_best: bool = True  # end each stage with the weights of its lowest eval loss (when it has evaluations)
    processes: int = 1  # >1: data-parallel over that many processes with `accelerate launch` (one per GPU)

    def __post_init__(self):
        self.learning_rate = _number(self.learning_rate, "learning_rate", 0, MAX_LEARNING_RATE,
                                     f"use a number above 0, at most {MAX_LEARNING_RATE:g} (usual: 1e-4 to 3e-3)",
                                     low_open=True)
        self.epochs = _number(self.epochs, "epochs", 0, MAX_EPOCHS, f"use a number from 0 to {MAX_EPOCHS:g}")
        self.max_steps = _whole(self.max_steps, "max_steps", 0, 10**9)
        _check(self.epochs > 0 or self.max_steps > 0, "epochs", self.epochs, "use a number above 0, or set max_steps")
        highs = {"batch_size": MAX_BATCH, "grad_accumulation": MAX_BATCH, "max_length": MAX_LENGTH,
                 "eval_steps": 10**9, "logging_steps": 10**9, "save_steps": 10**9}
        for name, high in highs.items():
            setattr(self, name, _whole(getattr(self, name), name, 1, high))
        self.warmup_steps = _whole(self.warmup_steps, "warmup_steps", 0, 10**9)
        self.seed = _whole(self.seed, "seed", 0, 2**32 - 1)
        _check(self.scheduler in SCHEDULERS, "scheduler", self.scheduler, f"choose one of {', '.join(SCHEDULERS)}")
        self.weight_decay = _number(self.weight_decay, "weight_decay", 0, 10, "use a number from 0 to 10")
        _check(self.overlong in OVERLONG, "overlong", self.overlong, "choose truncate or drop")
        self.validation_fraction = _number(self.validation_fraction, "validation_fraction", 0, 0.89,
                                           "use a fraction from 0 up to 0.89")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"choose one of {', '.join(PRECISIONS)}")
        self.gradient_checkpointing, self.restore_best = bool(self.gradient_checkpointing), bool(self.restore_best)
        self.processes = _whole(self.processes, "processes", 1, MAX_PROCESSES)


@dataclass
class Stage:
    """One curriculum stage: its own data and overrides; stages run from the lowest difficulty up."""

    name: str
    data: str  # a bundled example set's name or the name of an uploaded file (the command line: any file path)
    difficulty: float = 0.0
    learning_rate: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    max_length: int | None = None
    batch_size: int | None = None

    def __post_init__(self):
        _check(bool(str(self.name).strip()), "stage name", self.name, "give every stage a name")
        _check(bool(str(self.data).strip()), f"stage {self.name} data", self.data, "name a data file or example set")
        self.difficulty = _number(self.difficulty, f"stage {self.name} difficulty", -1e9, 1e9, "use a finite number")
        self.training(TrainingSettings())  # a bad override is refused now, named after its stage

    def training(self, base: TrainingSettings) -> TrainingSettings:
        """The run's training settings with this stage's overrides applied."""
        overrides = {k: getattr(self, k) for k in ("learning_rate", "epochs", "max_steps", "max_length", "batch_size")
                     if getattr(self, k) is not None}
        if "epochs" in overrides and "max_steps" not in overrides:
            overrides["max_steps"] = 0  # a stage that says epochs means epochs
        try:
            return dataclasses.replace(base, **overrides)
        except ConfigError as err:
            raise StudioError(f"stage {self.name}: {err}") from None

    @property
    def folder(self) -> str:
        return slug(self.name)


@dataclass
class FinetuneConfig:
    model: str = "embedded/text-tiny"
    data: str = "sums-in-words"  # example set name or file path; ignored when stages are given
    method: MethodSettings = field(default_factory=MethodSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    stages: list[Stage] = field(default_factory=list)  # a curriculum; empty means one stage on `data`
    compare_prompts: list[str] = field(default_factory=list)  # before/after prompts; empty takes validation prompts
    trust_remote_code: bool = False  # kept so old config.json files read; ignored: remote code is the operator's call

    def __post_init__(self):
        names = [s.folder for s in self.stages]
        _check(len(names) == len(set(names)), "stages", [s.name for s in self.stages],
               "give every stage a different name")
        _check(bool(self.stages) or bool(str(self.data).strip()), "data", self.data,
               "upload a file or pick an example set")

    def ordered_stages(self) -> list[Stage]:
        """Stages from easiest to hardest (ties keep their order); a plain run is one stage named 'train'."""
        if not self.stages:
            return [Stage(name="train", data=self.data)]
        return sorted(self.stages, key=lambda s: s.difficulty)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FinetuneConfig:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        _check(not unknown, "config", sorted(unknown), f"use only the keys {', '.join(sorted(known))}")
        data["method"] = MethodSettings(**data.get("method", {}))
        data["training"] = TrainingSettings(**data.get("training", {}))
        data["stages"] = [Stage(**s) for s in data.get("stages", [])]
        return cls(**data)
