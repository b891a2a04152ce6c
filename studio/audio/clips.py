"""Audio in and out: reading an uploaded clip safely, fitting it to a model, writing WAV, drawing it.

Uploads are checked by content, not by name: a file called .mp3 that holds text
fails with a sentence that says so. Arrays are (channels, samples) throughout;
only soundfile's own calls see (samples, channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.errors import StudioError

from .request import MAX_UPLOAD_SECONDS

READABLE = (".wav", ".flac", ".ogg", ".mp3")


def _duration_seconds(path: Path) -> float | None:
    """Duration from the header alone, so a huge upload is refused before it is decoded."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:
        return None
    return info.frames / info.samplerate if info.samplerate else None


def read_clip(path: str | Path, max_seconds: float = MAX_UPLOAD_SECONDS) -> tuple[np.ndarray, int]:
    """Decode an uploaded clip into float32 (channels, samples) and its sample rate, or say why not."""
    import soundfile

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise StudioError(f"The clip {name} was not received; upload it again.")
    if path.suffix.lower() not in READABLE:
        raise StudioError(f"{name}: upload a WAV, FLAC, OGG or MP3 file.")
    if path.stat().st_size == 0:
        raise StudioError(f"{name} is empty (0 bytes).")
    duration = _duration_seconds(path)
    if duration is not None and duration > max_seconds:
        raise StudioError(f"{name} is {duration:.0f} s long; upload at most {max_seconds:.0f} s (trim it first).")
    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
        audio = data.T
    except Exception:
        audio, sr = _read_with_librosa(path)
    if audio.shape[-1] == 0:
        raise StudioError(f"{name} holds no audio (0 samples).")
    if audio.shape[-1] / sr > max_seconds:
        raise StudioError(f"{name} is {audio.shape[-1] / sr:.0f} s long; upload at most {max_seconds:.0f} s.")
    if not np.isfinite(audio).all():
        raise StudioError(f"{name} contains invalid samples (NaN or infinity).")
    return np.ascontiguousarray(audio, dtype=np.float32), int(sr)


def _read_with_librosa(path: Path) -> tuple[np.ndarray, int]:
    """Second chance for formats libsndfile cannot read; anything that is not audio ends here."""
    import warnings

    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns before falling back to audioread
            audio, sr = librosa.load(str(path), sr=None, mono=False)
    except Exception:
        raise StudioError(
            f"{path.name} could not be read as audio: its content is not a WAV, FLAC, OGG or MP3 stream "
            "(is it really an audio file?)."
        ) from None
    audio = np.atleast_2d(audio).astype(np.float32)
    return audio, int(sr)


def fit_clip(audio: np.ndarray, sr: int, target_sr: int, channels: int, seconds: float | None = None,
             multiple: int = 1) -> np.ndarray:
    """Resample (librosa), mix to mono or spread to stereo, keep the first `seconds` in whole `multiple`s."""
    import librosa

    if audio.shape[0] != channels:
        audio = audio.mean(axis=0, keepdims=True)  # mono mix
        if channels == 2:
            audio = np.repeat(audio, 2, axis=0)
    if sr != target_sr:
        audio = librosa.resample(audio, orig_sr=sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)
    if seconds is not None:
        audio = audio[:, : int(round(seconds * target_sr))]
    keep = (audio.shape[-1] // multiple) * multiple
    if keep == 0:
        raise StudioError(f"The clip is shorter than one frame of the model ({multiple / target_sr * 1000:.0f} ms).")
    return np.ascontiguousarray(audio[:, :keep], dtype=np.float32)


def write_wav(path: Path, audio: np.ndarray, sr: int) -> Path:
    """PCM 16 WAV of a (channels, samples) array; soundfile wants (samples, channels)."""
    import soundfile

    if audio.ndim != 2 or audio.shape[0] > 8:
        raise ValueError(f"expected (channels, samples), got {audio.shape}")
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0).T, sr, subtype="PCM_16")
    return Path(path)


def waveform_png(audio: np.ndarray, sr: int, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(audio.shape[0], 1, figsize=(8, 1.6 * audio.shape[0] + 0.4), squeeze=False, sharex=True)
    t = np.arange(audio.shape[-1]) / sr
    step = max(1, audio.shape[-1] // 20000)  # a few thousand points draw the same picture faster
    for ch, ax in enumerate(axes[:, 0]):
        ax.plot(t[::step], audio[ch, ::step], linewidth=0.5, color="#4f46e5")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("left" if audio.shape[0] == 2 and ch == 0 else "right" if audio.shape[0] == 2 else "amplitude")
    axes[-1, 0].set_xlabel("seconds")
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


def spectrogram_png(audio: np.ndarray, sr: int, path: Path, title: str = "") -> Path:
    """Mel spectrogram (dB) of the mono mix."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mono = audio.mean(axis=0)
    mel = librosa.feature.melspectrogram(y=mono, sr=sr, n_fft=1024, hop_length=256, n_mels=64, fmax=sr / 2)
    db = librosa.power_to_db(mel, ref=np.max)
    fig, ax = plt.subplots(figsize=(8, 2.6))
    shown = librosa.display.specshow(db, sr=sr, hop_length=256, x_axis="time", y_axis="mel", fmax=sr / 2, ax=ax)
    fig.colorbar(shown, ax=ax, format="%+2.0f dB")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)
