"""Audio in and out: reading an uploaded clip safely, fitting it to a model, writing WAV.

Uploads are checked by content, not by name: a file called .mp3 that holds text
fails with a sentence that says so. Only the part of an upload the model uses is
decoded, so a long file costs no more than a short one. Arrays are
(channels, samples) throughout; only soundfile's own calls see (samples, channels).
Pictures of clips are in `pictures.py`.
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


def read_clip(path: str | Path, max_seconds: float = MAX_UPLOAD_SECONDS,
              keep_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode an uploaded clip into float32 (channels, samples) and its sample rate, or say why not.

    Uploads longer than `max_seconds` are refused from their header; of the rest only the first
    `keep_seconds` (all when None) are decoded.
    """
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
        with soundfile.SoundFile(str(path)) as f:
            frames = -1 if keep_seconds is None else int(np.ceil(keep_seconds * f.samplerate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            sr = f.samplerate
        audio = data.T
    except Exception:
        audio, sr = _read_with_librosa(path, keep_seconds)
    if audio.shape[-1] == 0:
        raise StudioError(f"{name} holds no audio (0 samples).")
    if audio.shape[-1] / sr > max_seconds:
        raise StudioError(f"{name} is {audio.shape[-1] / sr:.0f} s long; upload at most {max_seconds:.0f} s.")
    if not np.isfinite(audio).all():
        raise StudioError(f"{name} contains invalid samples (NaN or infinity).")
    return np.ascontiguousarray(audio, dtype=np.float32), int(sr)


def _read_with_librosa(path: Path, keep_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Second chance for formats libsndfile cannot read; anything that is not audio ends here."""
    import warnings

    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns before falling back to audioread
            audio, sr = librosa.load(str(path), sr=None, mono=False, duration=keep_seconds)
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
