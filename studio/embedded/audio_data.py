"""Synthetic melodies with captions: what the embedded MusicGen is trained on and judged by.

A clip is a pentatonic melody in one register (low: 110-220 Hz, high: 880-1760 Hz),
at one tempo (slow: about 2 notes a second, fast: about 8), in one timbre (sine,
triangle or square, built from band-limited harmonics so nothing aliases). Captions
say the tempo and register in many wordings; some sentence templates are kept out
of training (`HELD_OUT_TEMPLATES`) so an evaluation can ask in words the model
never saw in that order. Everything is a pure function of a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGISTERS = {"low": (110.0, 220.0), "high": (880.0, 1760.0)}
TEMPOS = {"slow": (1.7, 2.4), "fast": (7.0, 9.0)}  # notes per second
TIMBRES = ("sine", "triangle", "square")
PENTATONIC = (0, 2, 4, 7, 9)  # semitones above the register's root

# Every word appears in training; only how they are put together differs in the held-out set.
TEMPO_WORDS = {
    "slow": ("slow", "calm", "gentle", "leisurely", "unhurried"),
    "fast": ("fast", "quick", "rapid", "lively", "brisk"),
}
REGISTER_WORDS = {
    "low": ("low", "deep", "bass", "low-pitched", "dark"),
    "high": ("high", "bright", "treble", "high-pitched", "shrill"),
}
TIMBRE_WORDS = {"sine": "pure sine", "triangle": "soft triangle", "square": "buzzy square"}

TRAIN_TEMPLATES = (
    "a {tempo} {register} melody",
    "a {register} {tempo} melody",
    "{tempo} {register} notes",
    "a {tempo} tune in a {register} register",
    "{register} notes played at a {tempo} pace",
    "a {tempo} {register} melody on a {timbre} wave",
    "music: {tempo}, {register}",
)
HELD_OUT_TEMPLATES = (
    "a {register} tune that is {tempo}",
    "play something {tempo} and {register}",
    "{tempo} melody, {register} notes",
)


@dataclass(frozen=True)
class MelodySpec:
    register: str  # "low" | "high"
    tempo: str  # "slow" | "fast"
    timbre: str  # one of TIMBRES

    def caption(self, rng: np.random.Generator, held_out: bool = False) -> str:
        templates = HELD_OUT_TEMPLATES if held_out else TRAIN_TEMPLATES
        template = templates[rng.integers(len(templates))]
        return template.format(
            tempo=rng.choice(TEMPO_WORDS[self.tempo]),
            register=rng.choice(REGISTER_WORDS[self.register]),
            timbre=TIMBRE_WORDS[self.timbre],
        )


def random_spec(rng: np.random.Generator) -> MelodySpec:
    return MelodySpec(
        register=str(rng.choice(list(REGISTERS))),
        tempo=str(rng.choice(list(TEMPOS))),
        timbre=str(rng.choice(TIMBRES)),
    )


def _tone(freq: float, n: int, sr: int, timbre: str, phase: float) -> np.ndarray:
    """One note's waveform, built from harmonics below Nyquist so a square wave does not alias."""
    t = np.arange(n) / sr
    if timbre == "sine":
        harmonics = [(1, 1.0)]
    elif timbre == "triangle":  # odd harmonics, 1/k^2, alternating sign
        harmonics = [(k, (-1) ** ((k - 1) // 2) / k**2) for k in range(1, 16, 2)]
    else:  # square: odd harmonics, 1/k
        harmonics = [(k, 1.0 / k) for k in range(1, 16, 2)]
    wave = np.zeros(n)
    for k, amp in harmonics:
        if k * freq < 0.45 * sr:
            wave += amp * np.sin(2 * np.pi * k * freq * t + phase)
    return wave / np.max(np.abs(wave) + 1e-9)


def render(spec: MelodySpec, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A float32 mono clip of `seconds` at `sr`: notes with a quick attack and a decay that ends before the next."""
    n_total = int(round(seconds * sr))
    out = np.zeros(n_total, dtype=np.float64)
    rate = rng.uniform(*TEMPOS[spec.tempo])
    slot = int(sr / rate)
    root = REGISTERS[spec.register][0]
    steps = [s + 12 * octave for octave in (0,) for s in PENTATONIC] + [12]  # one octave plus the top root
    start = int(rng.integers(0, slot // 4 + 1))  # notes do not always start at zero
    gain = rng.uniform(0.3, 0.6)
    while start < n_total:
        freq = root * 2 ** (steps[rng.integers(len(steps))] / 12)
        length = min(int(slot * 0.8), n_total - start)
        attack = max(1, min(length, int(0.005 * sr)))
        env = np.exp(-np.arange(length) / (0.35 * slot))
        env[:attack] *= np.linspace(0.0, 1.0, attack)
        release = max(1, min(length, int(0.01 * sr)))
        env[-release:] *= np.linspace(1.0, 0.0, release)
        out[start : start + length] += gain * env * _tone(freq, length, sr, spec.timbre, rng.uniform(0, 2 * np.pi))
        start += slot
    return out.astype(np.float32)


def make_example(seed: int, seconds: float, sr: int, held_out: bool = False) -> tuple[np.ndarray, str, MelodySpec]:
    rng = np.random.default_rng(seed)
    spec = random_spec(rng)
    return render(spec, seconds, sr, rng), spec.caption(rng, held_out), spec


def caption_corpus() -> list[str]:
    """Every caption the tokenizer must cover (training and held-out templates use the same words)."""
    lines = []
    for tempo_key, tempo_words in TEMPO_WORDS.items():
        for register_key, register_words in REGISTER_WORDS.items():
            for template in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES:
                for tw in tempo_words:
                    for rw in register_words:
                        for timbre in TIMBRE_WORDS.values():
                            lines.append(template.format(tempo=tw, register=rw, timbre=timbre))
    return sorted(set(lines))


# ---- judging a clip: what the evaluation and the tests measure ----------------------------------


def onset_rate(clip: np.ndarray, sr: int) -> float:
    """Notes per second, from peaks of the positive change of a short-time energy envelope."""
    hop = max(1, sr // 200)  # 5 ms
    frames = len(clip) // hop
    if frames < 4:
        return 0.0
    energy = np.sqrt(np.mean(clip[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    energy = np.convolve(energy, np.ones(3) / 3, mode="same")
    log_e = np.log(energy + 1e-4)
    rise = np.maximum(np.diff(log_e, prepend=log_e[0]), 0.0)
    rise = np.convolve(rise, np.ones(4), mode="same")  # a rise spread over a few frames counts once
    threshold = max(0.8, 0.3 * rise.max())
    min_gap = int(0.06 * 200)  # two onsets at least 60 ms apart
    onsets, last = 0, -min_gap
    for i in range(1, frames - 1):
        if rise[i] >= threshold and rise[i] >= rise[i - 1] and rise[i] >= rise[i + 1] and i - last >= min_gap:
            onsets += 1
            last = i
    return onsets / (len(clip) / sr)


def dominant_frequency(clip: np.ndarray, sr: int) -> float:
    """The strongest frequency of the whole clip (Hann-windowed magnitude spectrum, 30 Hz and up)."""
    if len(clip) < 16:
        return 0.0
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    freqs = np.fft.rfftfreq(len(clip), 1.0 / sr)
    spectrum[freqs < 30.0] = 0.0
    return float(freqs[int(np.argmax(spectrum))])


def judge_tempo(clip: np.ndarray, sr: int) -> str:
    return "fast" if onset_rate(clip, sr) >= 4.5 else "slow"


def judge_register(clip: np.ndarray, sr: int) -> str:
    return "high" if dominant_frequency(clip, sr) >= 440.0 else "low"
