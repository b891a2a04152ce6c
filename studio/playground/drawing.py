"""Pictures as NumPy arrays (PIL only for labels): data, decision boundaries, heatmaps, tile sheets.

No torch here: the worker paints what a snapshot measured, and the page paints
a data set before anything trains. Everything is colour lookups and array
slicing (a frame costs about a millisecond), never matplotlib on the hot path.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

BLUE = np.array([52, 120, 198], dtype=np.float32)
ORANGE = np.array([240, 140, 40], dtype=np.float32)
WHITE = np.array([250, 250, 250], dtype=np.float32)
INK = (40, 40, 40)
TOKEN_COLOURS = np.array([[235, 235, 235], [90, 160, 90], [52, 120, 198], [240, 140, 40]], dtype=np.uint8)


def _palette(levels: int, strength: float = 1.0) -> np.ndarray:
    """Blue (0) through white (0.5) to orange (1), as `levels` uint8 colours."""
    p = (np.arange(levels) + 0.5)[:, None] / levels
    tint = np.where(p > 0.5, ORANGE, BLUE)
    return (WHITE + (tint - WHITE) * strength * np.abs(p - 0.5) * 2).astype(np.uint8)


DIVERGING = _palette(64)


class BoundaryPainter:
    """Draws decision-boundary frames for one data set, cheaply enough to do twice a second.

    The points layer is drawn once (training points filled, test points as rings); each
    frame is a colour lookup of the quantised probabilities, so painting costs a few
    array indexings, not float maths per pixel.
    """

    LEVELS = 64

    def __init__(self, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], extent,
                 size: int = 240):
        self.size = size
        self.overlay = np.zeros((size, size, 3), dtype=np.uint8)
        self.mask = np.zeros((size, size), dtype=bool)
        for (points, labels), filled in ((train, True), (test, False)):
            rows, cols = self.to_pixels(points, extent)
            for r, c, label in zip(rows, cols, labels):
                box = (slice(max(r - 2, 0), r + 3), slice(max(c - 2, 0), c + 3))
                self.overlay[box] = 40  # dark outline
                self.mask[box] = True
                inner = (slice(max(r - 1, 0), r + 2), slice(max(c - 1, 0), c + 2))
                self.overlay[inner] = ORANGE if label else BLUE
                if not filled:
                    self.overlay[r, c] = 255
        # Colour for each probability level: pale near 0.5, saturated towards 0 and 1.
        p = (np.arange(self.LEVELS) + 0.5)[:, None] / self.LEVELS
        tint = np.where(p > 0.5, ORANGE, BLUE)
        self.palette = (WHITE + (tint - WHITE) * (0.25 + 0.45 * np.abs(p - 0.5) * 2)).astype(np.uint8)
        self.points_at = np.flatnonzero(self.mask)  # pixels the points cover, and their colours
        self.points_rgb = self.overlay.reshape(-1, 3)[self.points_at]
        self.cells: dict[int, np.ndarray] = {}  # grid size -> the grid cell of each pixel (a flat index)

    def to_pixels(self, points: np.ndarray, extent) -> tuple[np.ndarray, np.ndarray]:
        x0, x1, y0, y1 = extent
        cols = np.clip(((points[:, 0] - x0) / (x1 - x0) * (self.size - 1)).astype(int), 0, self.size - 1)
        rows = np.clip(((y1 - points[:, 1]) / (y1 - y0) * (self.size - 1)).astype(int), 0, self.size - 1)
        return rows, cols

    def paint(self, probs: np.ndarray | None) -> np.ndarray:
        """An RGB frame: background shaded by P(class 1) (white when None), the data points on top."""
        if probs is None:
            image = np.full((self.size, self.size, 3), 250, dtype=np.uint8)
        else:
            grid = probs.shape[0]
            if grid not in self.cells:
                nearest = np.arange(self.size) * grid // self.size
                self.cells[grid] = nearest[:, None] * grid + nearest[None, :]
            levels = np.clip((probs * self.LEVELS).astype(np.int16), 0, self.LEVELS - 1).ravel()
            image = self.palette[levels[self.cells[grid]]]
        image.reshape(-1, 3)[self.points_at] = self.points_rgb
        return image


def point_extent(points: np.ndarray, margin: float = 0.15) -> tuple[float, float, float, float]:
    lo, hi = points.min(0) - margin, points.max(0) + margin
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def heat(values: np.ndarray, size: int | tuple[int, int], symmetric: bool = True) -> np.ndarray:
    """A 2-D array as an RGB tile (size, or (height, width)): blue below zero, orange above, white at zero;
    when not `symmetric`, blue at the lowest value and orange at the highest."""
    return heat_tiles(np.asarray(values)[None], size, symmetric)[0]


def heat_tiles(stack: np.ndarray, size: int | tuple[int, int], symmetric: bool = True) -> np.ndarray:
    """(k, h, w) arrays as k RGB tiles, each scaled to its own range as `heat` does, in one pass over the
    stack (a snapshot draws a dozen units per layer; tile by tile, the per-call overhead was most of it)."""
    height, width = (size, size) if isinstance(size, int) else size
    rows = np.arange(height) * stack.shape[1] // height
    cols = np.arange(width) * stack.shape[2] // width
    values = np.asarray(stack, dtype=np.float32)[:, rows][:, :, cols]  # pick the pixels' cells first
    flat = values.reshape(len(values), -1)
    if symmetric:
        scale = np.abs(flat).max(1)
        unit = 0.5 + 0.5 * values / np.where(scale > 0, scale, 1.0)[:, None, None]
    else:
        lo, hi = flat.min(1), flat.max(1)
        spread = hi - lo
        unit = np.where((spread > 0)[:, None, None],
                        (values - lo[:, None, None]) / np.where(spread > 0, spread, 1.0)[:, None, None], 0.5)
    levels = np.clip((unit * len(DIVERGING)).astype(np.int16), 0, len(DIVERGING) - 1)
    return DIVERGING[levels]


def bars(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Values in [0, 1] as a strip of vertical bars (channel-attention weights)."""
    image = np.full((height, width, 3), 250, dtype=np.uint8)
    n = max(len(values), 1)
    step = width / n
    for i, v in enumerate(np.clip(values, 0, 1)):
        top = int(round((1 - float(v)) * (height - 2)))
        image[top:, int(i * step) + 1:max(int((i + 1) * step) - 1, int(i * step) + 2)] = ORANGE.astype(np.uint8)
    return image


def sheet(rows: list[tuple[str, list[np.ndarray]]], gap: int = 4, label_height: int = 14) -> np.ndarray:
    """Rows of equally tall tiles, each row under its label, on a white sheet."""
    rows = [(label, tiles) for label, tiles in rows if tiles]
    if not rows:
        return np.full((8, 8, 3), 250, dtype=np.uint8)
    width = max(max(sum(t.shape[1] for t in tiles) + gap * (len(tiles) + 1), 6 * len(label) + 2 * gap)
                for label, tiles in rows)  # PIL's default font is about 6 pixels a character
    height = sum(label_height + tiles[0].shape[0] + gap for _, tiles in rows) + gap
    canvas = np.full((height, max(width, 160), 3), 255, dtype=np.uint8)
    y, labels = gap, []
    for label, tiles in rows:
        labels.append((gap, y))
        y += label_height
        x = gap
        for tile in tiles:
            canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
            x += tile.shape[1] + gap
        y += tiles[0].shape[0] + gap
    for (x, y), (label, _) in zip(labels, rows):
        text = label_strip(label, label_height)[:, :canvas.shape[1] - x]
        canvas[y:y + text.shape[0], x:x + text.shape[1]] = text
    return canvas


@functools.lru_cache(maxsize=512)
def label_strip(text: str, height: int) -> np.ndarray:
    """A label as pixels, rendered once (the same labels come back with every snapshot)."""
    picture = Image.new("RGB", (6 * len(text) + 8, height), (255, 255, 255))
    ImageDraw.Draw(picture).text((0, 0), text, fill=INK)
    strip = np.asarray(picture)
    strip.setflags(write=False)
    return strip


def grey(image: np.ndarray, size: int) -> np.ndarray:
    """A 2-D array in [0, 1] as a size×size tile, dark ink on white."""
    index = np.arange(size) * image.shape[0] // size
    ink = (255 - np.clip(image, 0, 1) * 215).astype(np.uint8)[index][:, index]
    return np.repeat(ink[:, :, None], 3, axis=2)


def digit_tiles(images: np.ndarray, labels, size: int = 40) -> np.ndarray:
    """A sheet of digits (values in [0, 1]) with their labels above each row of ten."""
    tiles = [grey(img, size) for img in images]
    return sheet([("labels: " + " ".join(str(x) for x in labels[i:i + 10]), tiles[i:i + 10])
                  for i in range(0, len(tiles), 10)])


def sequence_strips(tokens: np.ndarray, lengths: np.ndarray, answers: list[str], cell: int = 12) -> np.ndarray:
    """Sequences as rows of coloured token cells (1 green, 2 blue, 3 orange), each labelled with its answer."""
    rows = []
    for row, n, answer in zip(tokens, lengths, answers):
        strip = np.full((cell, cell * len(row), 3), 255, dtype=np.uint8)
        for i, token in enumerate(row[:n]):
            strip[1:-1, i * cell + 1:(i + 1) * cell - 1] = TOKEN_COLOURS[int(token)]
        rows.append((f"{' '.join(str(int(t)) for t in row[:n])} -> {answer}", [strip]))
    return sheet(rows, label_height=12)
