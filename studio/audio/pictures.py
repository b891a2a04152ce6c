"""Waveform and mel spectrogram pictures drawn straight from numpy arrays into PIL images.

A picture must cost a small fraction of making the clip (issue 14). Drawn with
matplotlib and librosa, a 2 s clip's two pictures took 0.6 s here, and 22 s for
the first clip in a process (librosa compiling with numba), against 0.2 s to
generate it. So neither is used: the waveform is one min/max envelope per pixel
column, the spectrogram a numpy STFT through a mel filterbank, coloured with a
small lookup table; both together take about 6.5 ms for a 2 s clip (new files
included), bounded by the picture's width, not the clip's length. They took 15-20
ms (0.12x of the generation) until the mel product ran in float32 and the titles
in PIL's bitmap font (see `mel_db` and `_font`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WIDTH = 640
CHANNEL_HEIGHT = 110
SPECTROGRAM_HEIGHT = 160
MELS = 64
HEADER = 18  # pixels of title and time axis above the picture
BACKGROUND = (255, 255, 255)
INK = (79, 70, 229)  # the tab's indigo
MUTED = (120, 120, 130)
# magma-like anchors, quiet to loud; interpolated into a 256-entry lookup table
ANCHORS = np.array([(0, 0, 4), (59, 15, 112), (140, 41, 129), (222, 73, 104), (254, 159, 109), (252, 253, 191)],
                   dtype=np.float64)
PALETTE = np.stack([np.interp(np.linspace(0, len(ANCHORS) - 1, 256), np.arange(len(ANCHORS)), ANCHORS[:, c])
                    for c in range(3)], axis=1).astype(np.uint8)


def _envelope(channel: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest sample under each of `width` columns (a column may cover zero or many samples)."""
    n = channel.shape[-1]
    edges = np.linspace(0, n, width + 1).astype(np.int64)
    edges[:-1] = np.minimum(edges[:-1], n - 1)
    lows = np.minimum.reduceat(channel, edges[:-1])
    highs = np.maximum.reduceat(channel, edges[:-1])
    return lows, highs


def waveform_array(audio: np.ndarray, width: int = WIDTH, height: int = CHANNEL_HEIGHT) -> np.ndarray:
    """(channels*height, width, 3) uint8: each channel's min/max envelope, stacked top (left) to bottom (right)."""
    rows = []
    y = np.arange(height)[:, None]
    for channel in np.asarray(audio, dtype=np.float32):
        lows, highs = _envelope(np.clip(channel, -1.0, 1.0), width)
        top = np.round((1 - highs) / 2 * (height - 1)).astype(np.int64)
        bottom = np.round((1 - lows) / 2 * (height - 1)).astype(np.int64)
        picture = np.empty((height, width, 3), dtype=np.uint8)
        picture[:] = BACKGROUND
        picture[height // 2] = (225, 225, 232)  # the zero line
        picture[(y >= top[None]) & (y <= bottom[None])] = INK
        rows.append(picture)
        rows.append(np.full((2, width, 3), 200, dtype=np.uint8))  # a thin rule between channels
    return np.concatenate(rows[:-1])


@functools.cache
def mel_filterbank(sr: int, n_fft: int, mels: int = MELS) -> np.ndarray:
    """(mels, n_fft//2+1) float32 triangular filters evenly spaced on the HTK mel scale from 0 Hz to Nyquist;
    made once per sample rate (read only)."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def to_hz(mel):
        return 700.0 * (10 ** (np.asarray(mel) / 2595.0) - 1.0)

    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    centres = to_hz(np.linspace(0, to_mel(sr / 2), mels + 2))
    lower, centre, upper = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    rising = (bins[None] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None]) / np.maximum(upper - centre, 1e-9)
    bank = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    bank.flags.writeable = False
    return bank


def mel_db(audio: np.ndarray, sr: int, columns: int = WIDTH, mels: int = MELS, floor_db: float = 80.0) -> np.ndarray:
    """(mels, frames) power in dB below the loudest bin (0 .. -floor_db), low frequencies first.

    The hop grows with the clip so that there are at most about two frames per picture column:
    a five-minute clip costs no more than a five-second one once it is on screen.
    """
    mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
    n_fft = 1024 if sr >= 22050 else 512
    hop = max(n_fft // 4, -(-mono.shape[-1] // (2 * columns)))
    padded = np.pad(mono, (n_fft // 2, n_fft // 2))
    if padded.shape[-1] < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.shape[-1]))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    power = (np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=-1)) ** 2).astype(np.float32)
    # (frames, bins) @ (bins, mels), both float32 and in memory order: a float64 bank times the transposed power
    # took 1-5 ms (a cast and a strided product), this takes 0.04 ms.
    mel = (power @ mel_filterbank(sr, n_fft, mels).T).T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db - db.max(), -floor_db)


def spectrogram_array(audio: np.ndarray, sr: int, width: int = WIDTH, height: int = SPECTROGRAM_HEIGHT) -> np.ndarray:
    """(height, width, 3) uint8 mel spectrogram, high frequencies at the top."""
    from PIL import Image

    db = mel_db(audio, sr, columns=width)
    index = np.round((db + 80.0) / 80.0 * 255).astype(np.uint8)[::-1]
    small = Image.fromarray(PALETTE[index])
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))


@functools.cache
def _font():
    """PIL's built-in bitmap font (6 px a character). Without a font, Pillow 10.1+ draws with a FreeType font
    instead: 1-3 ms a line of text here, against 0.03 ms."""
    from PIL import ImageFont

    return ImageFont.load_default_imagefont()


def _with_header(picture: np.ndarray, seconds: float, title: str):
    """The picture under one line of text: the title and the clip's length (PIL's built-in font, no lookup)."""
    from PIL import Image, ImageDraw

    height, width = picture.shape[:2]
    canvas = Image.new("RGB", (width, height + HEADER), BACKGROUND)
    canvas.paste(Image.fromarray(picture), (0, HEADER))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), title[:110], fill=(30, 30, 40), font=_font())
    label = f"0 - {seconds:.2f} s"
    draw.text((width - 6 * len(label) - 6, 3), label, fill=MUTED, font=_font())
    return canvas


def waveform_png(audio: np.ndarray, sr: int, path: Path, title: str = "") -> Path:
    """The waveform of every channel (stereo: left above right) as a PNG."""
    seconds = audio.shape[-1] / sr
    _with_header(waveform_array(audio), seconds, title or "waveform").save(path, compress_level=1)
    return Path(path)


def spectrogram_jpeg(audio: np.ndarray, sr: int, path: Path, title: str = "") -> Path:
    """The mel spectrogram (dB) of the mono mix as a JPEG: a smooth heat map, encoded 20x faster than a PNG."""
    seconds = audio.shape[-1] / sr
    _with_header(spectrogram_array(audio, sr), seconds, title or "mel spectrogram").save(path, quality=90)
    return Path(path)
