"""The typed settings of a fine-tuning run; each validates itself and names the field it rejects.

A `FinetuneConfig` is what the tab, the command line and a saved run folder
share: it round-trips through JSON (`to_dict` / `from_dict`), so Resume and the
`accelerate launch` export rebuild exactly the run that was started.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from studio.errors import ConfigError

METHODS = ("lora", "qlora", "full")
BIASES = ("none", "all", "lora_only")
SCHEDULERS = ("cosine", "linear", "constant")
OVERLONG = ("truncate", "drop")
PRECISIONS = ("auto", "full", "bf16", "fp16")
QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("auto", "float32", "bfloat16", "float16")


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(name, value, expected)


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
        _check(int(self.rank) >= 1, "rank", self.rank, "use a whole number of 1 or more")
        _check(float(self.alpha) > 0, "alpha", self.alpha, "use a number above 0")
        _check(0 <= float(self.dropout) < 1, "dropout", self.dropout, "use a rate from 0 up to (not including) 1")
        _check(self.bias in BIASES, "bias", self.bias, f"choose one of {', '.join(BIASES)}")
        _check(self.quant_type in QUANT_TYPES, "quant_type", self.quant_type, "choose nf4 or fp4")
        _check(self.compute_dtype in COMPUTE_DTYPES, "compute_dtype", self.compute_dtype,
               f"choose one of {', '.join(COMPUTE_DTYPES)}")
        self.rank, self.alpha = int(self.rank), int(self.alpha)
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

    def __post_init__(self):
        _check(float(self.learning_rate) > 0, "learning_rate", self.learning_rate, "use a number above 0")
        _check(float(self.epochs) > 0 or int(self.max_steps) > 0, "epochs", self.epochs,
               "use a number above 0, or set max_steps")
        for name in ("batch_size", "grad_accumulation", "max_length", "eval_steps", "logging_steps", "save_steps"):
            value = getattr(self, name)
            _check(int(value) >= 1, name, value, "use a whole number of 1 or more")
            setattr(self, name, int(value))
        for name in ("max_steps", "warmup_steps", "seed"):
            value = getattr(self, name)
            _check(int(value) >= 0, name, value, "use a whole number of 0 or more")
            setattr(self, name, int(value))
        _check(self.scheduler in SCHEDULERS, "scheduler", self.scheduler, f"choose one of {', '.join(SCHEDULERS)}")
        _check(float(self.weight_decay) >= 0, "weight_decay", self.weight_decay, "use 0 or more")
        _check(self.overlong in OVERLONG, "overlong", self.overlong, "choose truncate or drop")
        _check(0 <= float(self.validation_fraction) < 0.9, "validation_fraction", self.validation_fraction,
               "use a fraction from 0 up to 0.9")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"choose one of {', '.join(PRECISIONS)}")
        self.learning_rate, self.epochs = float(self.learning_rate), float(self.epochs)


@dataclass
class Stage:
    """One curriculum stage: its own data and overrides; stages run from the lowest difficulty up."""

    name: str
    data: str  # a bundled example set's name or a file path
    difficulty: float = 0.0
    learning_rate: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    max_length: int | None = None
    batch_size: int | None = None

    def __post_init__(self):
        _check(bool(str(self.name).strip()), "stage name", self.name, "give every stage a name")
        _check(bool(str(self.data).strip()), f"stage {self.name} data", self.data, "name a data file or example set")
        self.difficulty = float(self.difficulty)

    @property
    def folder(self) -> str:
        return slug(self.name)

    def training(self, base: TrainingSettings) -> TrainingSettings:
        """The run's training settings with this stage's overrides applied."""
        overrides = {k: getattr(self, k) for k in ("learning_rate", "epochs", "max_steps", "max_length", "batch_size")
                     if getattr(self, k) is not None}
        if "epochs" in overrides and "max_steps" not in overrides:
            overrides["max_steps"] = 0  # a stage that says epochs means epochs
        return dataclasses.replace(base, **overrides)


@dataclass
class FinetuneConfig:
    model: str = "embedded/text-tiny"
    data: str = "sums-in-words"  # example set name or file path; ignored when stages are given
    method: MethodSettings = field(default_factory=MethodSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    stages: list[Stage] = field(default_factory=list)  # a curriculum; empty means one stage on `data`
    compare_prompts: list[str] = field(default_factory=list)  # before/after prompts; empty takes validation prompts
    trust_remote_code: bool = False

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
