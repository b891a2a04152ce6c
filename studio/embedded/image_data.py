"""The generated data set the embedded image model learns from: one coloured shape on a plain background.

Every picture is drawn from a seeded `numpy` generator, so the same seed gives
the same pictures on every machine. A few colour/shape/background combinations
never appear in training (`HELD_OUT`); the prompt-following check draws only
those. The same module also *reads* pictures back (`describe_image`), by pixel
statistics alone, so that check needs no eyes and no second model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 64  # the embedded model's native resolution, in pixels

# Six colours far apart in RGB, so the nearest palette entry names a pixel without doubt.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "yellow": (235, 215, 50),
    "green": (50, 170, 70),
    "blue": (40, 80, 220),
    "purple": (150, 60, 190),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")

# Ideal fill ratio of each shape inside its own bounding box; `describe_image` splits halfway between them.
FILL_RATIO = {"square": 1.0, "circle": np.pi / 4, "triangle": 0.5}

# (colour, shape, background) never shown in training: every colour, shape and background
# still appears elsewhere, only these pairings are new.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("red", "circle", "blue"),
    ("yellow", "square", "purple"),
    ("green", "triangle", "white"),
    ("blue", "square", "yellow"),
    ("purple", "triangle", "green"),
    ("white", "circle", "red"),
)


@dataclass(frozen=True)
class ShapeSample:
    colour: str
    shape: str
    background: str

    @property
    def caption(self) -> str:
        return caption(self.colour, self.shape, self.background)


def caption(colour: str, shape: str, background: str) -> str:
    return f"a {colour} {shape} on a {background} background"


def all_combinations() -> list[ShapeSample]:
    return [ShapeSample(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def training_combinations() -> list[ShapeSample]:
    held = {ShapeSample(*h) for h in HELD_OUT}
    return [sample for sample in all_combinations() if sample not in held]


def held_out_combinations() -> list[ShapeSample]:
    return [ShapeSample(*h) for h in HELD_OUT]


def shape_mask(shape: str, side: int, size: int = SIZE, left: int = 0, top: int = 0) -> np.ndarray:
    """A boolean `size` x `size` mask with `shape` filling a `side`-pixel box whose corner is (left, top)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u, v = (xs - left) / side, (ys - top) / side  # 0..1 inside the box
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    if shape == "square":
        return inside
    if shape == "circle":
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.25
    if shape == "triangle":  # apex at the top centre, base along the bottom edge
        return inside & (np.abs(u - 0.5) < v / 2)
    raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")


def render(sample: ShapeSample, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One `size` x `size` RGB uint8 picture of `sample`, with a random size and place."""
    side = int(rng.integers(size * 26 // 64, size * 46 // 64 + 1))  # large shapes keep their corners in the VAE
    left = int(rng.integers(2, size - side - 1))
    top = int(rng.integers(2, size - side - 1))
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = COLOURS[sample.background]
    image[shape_mask(sample.shape, side, size, left, top)] = COLOURS[sample.colour]
    return image


def make_dataset(count: int, seed: int, held_out: bool = False) -> tuple[np.ndarray, list[str]]:
    """`count` pictures (N, H, W, 3 uint8) and their captions, cycling through the combinations in a seeded order."""
    rng = np.random.default_rng(seed)
    combos = held_out_combinations() if held_out else training_combinations()
    order = [combos[i % len(combos)] for i in range(count)]
    rng.shuffle(order)
    images = np.stack([render(sample, rng) for sample in order])
    return images, [sample.caption for sample in order]


# ---------------------------------------------------------------- reading a picture back


def nearest_colour(rgb: np.ndarray) -> str:
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((palette - np.asarray(rgb, np.float32)) ** 2).sum(axis=1)))]


@dataclass(frozen=True)
class ImageReading:
    colour: str
    shape: str
    background: str
    fill_ratio: float  # foreground pixels over the foreground's bounding box


def describe_image(image: np.ndarray) -> ImageReading:
    """Name the background (border pixels), the foreground colour and the shape (fill ratio of the mask).

    The background is the median colour of the outer two-pixel frame. The foreground
    mask holds the pixels more than halfway from the background to the most distant
    colour, inside the frame (a VAE leaves faint lines along the picture's edges), and
    only its largest connected piece (specks are not the shape). The shape follows
    from how much of its bounding box that piece fills: square 1.0, circle 0.79,
    triangle 0.5; the cuts lie halfway between.
    """
    from scipy import ndimage

    pixels = np.asarray(image, dtype=np.float32)[..., :3]
    frame = np.concatenate([pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3),
                            pixels[:, :2].reshape(-1, 3), pixels[:, -2:].reshape(-1, 3)])
    background_rgb = np.median(frame, axis=0)
    distance = np.sqrt(((pixels - background_rgb) ** 2).sum(axis=-1))
    distance[:2], distance[-2:], distance[:, :2], distance[:, -2:] = 0, 0, 0, 0
    far = np.percentile(distance, 99)
    if far < 60:  # nothing stands out from the background
        return ImageReading("none", "none", nearest_colour(background_rgb), 0.0)
    labels, count = ndimage.label(distance > far / 2)
    sizes = ndimage.sum(np.ones_like(distance), labels, index=range(1, count + 1))
    mask = labels == (int(np.argmax(sizes)) + 1)
    rows, cols = np.nonzero(mask)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    fill = float(mask.sum() / box)
    cut_high = (FILL_RATIO["square"] + FILL_RATIO["circle"]) / 2
    cut_low = (FILL_RATIO["circle"] + FILL_RATIO["triangle"]) / 2
    shape = "square" if fill >= cut_high else "circle" if fill >= cut_low else "triangle"
    colour = nearest_colour(np.median(pixels[mask], axis=0))
    return ImageReading(colour, shape, nearest_colour(background_rgb), fill)
