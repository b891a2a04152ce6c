"""What the page shows before anything trains: the data set and a diagram of the network (no torch).

Both are pure functions of a config, cheap enough to redraw on every change of
a control (a data set of 1,000 points draws in a few milliseconds).
"""

from __future__ import annotations

import html

import numpy as np

from .anatomy import anatomy
from .config import PlaygroundConfig
from .drawing import BoundaryPainter, digit_tiles, point_extent, sequence_strips
from .toydata import make_arrays


def painter_for(points: tuple[np.ndarray, np.ndarray], labels: tuple[np.ndarray, np.ndarray]):
    """The boundary painter for a point data set, and the plane's extent (both sides of the pipe agree)."""
    extent = point_extent(np.concatenate(points))
    return BoundaryPainter((points[0], labels[0]), (points[1], labels[1]), extent), extent


def data_picture(config: PlaygroundConfig) -> np.ndarray:
    """The data set a config makes: points (train filled, test as rings), a sheet of digits, or sequences."""
    data = make_arrays(config)
    if data.kind == "points":
        painter, _ = painter_for((data.points[data.train], data.points[data.test]),
                                 (data.y[data.train], data.y[data.test]))
        return painter.paint(None)
    if data.kind == "image":
        shown = data.train[:30]
        return digit_tiles(data.x[shown, 0], [int(v) for v in data.y[shown]])
    shown = data.train[:10]
    return sequence_strips(data.x[shown], data.lengths[shown], [data.class_names[int(v)] for v in data.y[shown]])


def network_diagram(config: PlaygroundConfig) -> str:
    """An SVG of the network, input to output: one bar per layer, its height growing with the width."""
    layers = anatomy(config)
    column, height, top = 118, 150, 34
    width = column * len(layers) + 10
    biggest = max(np.sqrt(layer.units) for layer in layers)
    parts = []
    for i, layer in enumerate(layers):
        x = 10 + i * column
        bar = max(6.0, 110 * np.sqrt(layer.units) / biggest)
        y = top + (110 - bar) / 2
        colour = "#1d4ed8" if 0 < i < len(layers) - 1 else "#b45309"  # white numbers on them: AA contrast
        if i:
            parts.append(f'<line x1="{x - column + 96}" y1="{top + 55}" x2="{x}" y2="{top + 55}" '
                         'stroke="#999" stroke-width="1.5"/>')
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="96" height="{bar:.1f}" rx="6" fill="{colour}"/>')
        parts.append(f'<text x="{x + 48}" y="18" text-anchor="middle" font-weight="bold">'
                     f'{html.escape(layer.name)}</text>')
        parts.append(f'<text x="{x + 48}" y="{top + 55 + 4}" text-anchor="middle" fill="white">{layer.units}</text>')
        parts.append(f'<text x="{x + 48}" y="{height + 4}" text-anchor="middle">{layer.params:,} params</text>')
        parts.append(f'<title>{html.escape(layer.detail)}</title>')
    total = sum(layer.params for layer in layers)
    details = "".join(f"<li><b>{html.escape(layer.name)}</b>: {html.escape(layer.detail)} · {layer.params:,} "
                      "parameters</li>" for layer in layers)
    return (f'<div id="pg-network-svg" style="color:#1f2937;background:#ffffff"><svg viewBox="0 0 {width} {height + 12}" width="100%" '
            f'style="max-width:{width}px;font:12px sans-serif;fill:#1f2937" role="img" '
            f'aria-label="{config.model} network with {total:,} parameters">{"".join(parts)}</svg>'
            f'<p><b>{total:,} parameters</b> in {len(layers) - 2} hidden layer(s) or block(s)</p>'
            f'<details><summary>Layer by layer</summary><ul>{details}</ul></details></div>')
