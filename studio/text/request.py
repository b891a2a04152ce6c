"""What one text generation asks for, validated in one place before any model work starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.errors import ConfigError

MAX_NEW_TOKENS = 4096
MAX_SEQUENCES = 8


@dataclass(frozen=True)
class TextRequest:
    """A prompt and its sampling settings. `temperature == 0` or `greedy` means greedy decoding.

    In chat mode the prompt is the next user message: `history` holds earlier
    turns ({"role", "content"} dicts) and `system_prompt` goes first, and the
    model's chat template renders them.
    """

    prompt: str
    max_new_tokens: int = 128
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50  # 0 turns top-k off
    repetition_penalty: float = 1.0
    greedy: bool = False
    num_sequences: int = 1  # made one after another, sequence i with seed + i, each streamed
    seed: int = 0
    stop_sequences: tuple[str, ...] = ()
    ignore_eos: bool = False  # suppress end-of-text so the model writes until max_new_tokens (long runs, benchmarks)
    chat: bool = False
    system_prompt: str = ""
    history: tuple[dict, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ConfigError("prompt", self.prompt, "write a prompt first")
        # Sliders and number boxes may send 128.0: keep whole numbers as ints, refuse the rest.
        for name, low, high in (("max_new_tokens", 1, MAX_NEW_TOKENS), ("num_sequences", 1, MAX_SEQUENCES),
                                ("top_k", 0, None), ("seed", 0, 2**32 - 1)):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), low, high))
        object.__setattr__(self, "stop_sequences", tuple(self.stop_sequences))
        object.__setattr__(self, "history", tuple(self.history))
        if not _number(self.temperature) or self.temperature < 0:
            raise ConfigError("temperature", self.temperature, "use 0 (greedy) or more")
        if not _number(self.top_p) or not 0 < self.top_p <= 1:
            raise ConfigError("top_p", self.top_p, "use a value above 0 and at most 1")
        if not _number(self.repetition_penalty) or self.repetition_penalty <= 0:
            raise ConfigError("repetition_penalty", self.repetition_penalty, "use a value above 0 (1 means none)")
        if any(not isinstance(s, str) or not s for s in self.stop_sequences):
            raise ConfigError("stop_sequences", self.stop_sequences, "each stop sequence must be non-empty text")
        for turn in self.history:
            if not isinstance(turn, dict) or turn.get("role") not in {"user", "assistant", "system"}:
                raise ConfigError("history", turn, "each turn needs a role (user, assistant or system) and content")

    @property
    def sampling(self) -> bool:
        return not self.greedy and self.temperature > 0

    def messages(self) -> list[dict]:
        """The chat to render: system prompt, earlier turns, then this prompt as the user's message."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt.strip() else []
        turns = [{"role": t["role"], "content": str(t.get("content", ""))} for t in self.history]
        return system + turns + [{"role": "user", "content": self.prompt}]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # rejects NaN


def _check_int(name: str, value, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(name, value, "use a whole number")
    if value < low or (high is not None and value > high):
        raise ConfigError(name, value, f"use a whole number from {low} to {high}" if high else f"use {low} or more")
    return value


def parse_stop_sequences(text: str) -> tuple[str, ...]:
    """One stop sequence per line; `\\n` written literally means a newline."""
    return tuple(line.replace("\\n", "\n") for line in (text or "").splitlines() if line)
