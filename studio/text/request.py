"""What one text generation asks for, validated in one place before any model work starts.

Each number is checked by its declaration in `form.py` (`Field.parse`, then `Field.check`), so the
page, the CLI, the OpenAI-compatible API and the engine refuse a value with the same sentence naming
the field and its range. The rules of text fields, stop sequences and chat turns are here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.errors import ConfigError

from .form import FIELDS, MAX_NEW_TOKENS, MAX_SEQUENCES, NUMBERS, default  # noqa: F401 - re-exported
from .form import parse_stop_sequences  # noqa: F401 - re-exported: callers parse the form's stop text from here

ROLES = ("user", "assistant", "system")


@dataclass(frozen=True)
class TextRequest:
    """A prompt and its sampling settings. `temperature == 0` or `greedy` means greedy decoding.

    In chat mode the prompt is the next user message: `history` holds earlier
    turns ({"role", "content"} dicts) and `system_prompt` goes first, and the
    model's chat template renders them. Defaults are the form's, except the
    system prompt: the form offers one, an engine request has none unless it names one.
    """

    prompt: str
    max_new_tokens: int = default("max_new_tokens")
    temperature: float = default("temperature")
    top_p: float = default("top_p")
    top_k: int = default("top_k")  # 0 turns top-k off
    repetition_penalty: float = default("repetition_penalty")
    greedy: bool = default("greedy")
    num_sequences: int = default("num_sequences")  # made one after another, sequence i with seed + i, each streamed
    seed: int = default("seed")
    stop_sequences: tuple[str, ...] = ()
    ignore_eos: bool = default("ignore_eos")  # suppress end-of-text so the model writes until max_new_tokens
    chat: bool = default("chat")
    system_prompt: str = ""
    history: tuple[dict, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise FIELDS["prompt"].refuse(self.prompt, "write a prompt first")
        if not isinstance(self.system_prompt, str):
            raise FIELDS["system_prompt"].refuse(self.system_prompt, "use text")
        # Sliders and number boxes may send 128.0: whole numbers become ints, the rest is refused with the range.
        for name in NUMBERS:
            value = FIELDS[name].parse(getattr(self, name))
            FIELDS[name].check(value)
            object.__setattr__(self, name, value)
        stops = self.stop_sequences
        stops = (stops,) if isinstance(stops, str) else tuple(stops) if isinstance(stops, (list, tuple)) else None
        if stops is None or any(not isinstance(s, str) or not s for s in stops):
            raise FIELDS["stop_text"].refuse(self.stop_sequences, "each stop sequence must be non-empty text")
        object.__setattr__(self, "stop_sequences", stops)
        object.__setattr__(self, "history", tuple(self.history))
        for turn in self.history:
            if not isinstance(turn, dict) or turn.get("role") not in ROLES:
                raise ConfigError("history", turn, "each turn needs a role (user, assistant or system) and content")

    @property
    def sampling(self) -> bool:
        return not self.greedy and self.temperature > 0

    def messages(self) -> list[dict]:
        """The chat to render: system prompt, earlier turns, then this prompt as the user's message."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt.strip() else []
        turns = [{"role": t["role"], "content": str(t.get("content", ""))} for t in self.history]
        return system + turns + [{"role": "user", "content": self.prompt}]
