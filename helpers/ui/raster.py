"""Text drawn once and pasted as pixels: what keeps the explorers' redraws under 100 ms.

Laying out and rendering text is most of a matplotlib redraw (a legend of ~12 entries ~35 ms,
~40 model names ~60 ms, on a 2-core laptop). Text that does not change between redraws is drawn
once, its pixels are cut from the Agg buffer (:func:`cut`), and later PNGs paste them back at the
same rows and columns (:func:`png`) while the figure itself is drawn without that text. Cutting
and pasting use the same buffer indices, so the PNG is identical to a full draw.
"""

from __future__ import annotations

import dataclasses
import io
import math

import matplotlib.image as mimage
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

PNG_COMPRESS_LEVEL = 1  # zlib level: ~3x faster than PIL's default 6 for a few % more bytes


@dataclasses.dataclass(frozen=True)
class Patch:
    """Pixels (rows x cols x RGBA, uint8) cut from a canvas at ``rows`` and ``cols`` of its buffer."""

    pixels: np.ndarray
    rows: slice
    cols: slice


def canvas_of(fig) -> FigureCanvasAgg:
    """``fig``'s Agg canvas (given one if it has another kind)."""
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def cut(canvas: FigureCanvasAgg, x0: float, y0: float, x1: float, y1: float, pad: int = 1) -> Patch:
    """The drawn pixels of the display box (x0, y0)-(x1, y1) (points from the figure's bottom left,
    as ``get_window_extent`` gives them), ``pad`` pixels wider on each side, clipped to the figure."""
    buffer = np.asarray(canvas.buffer_rgba())
    height = canvas.figure.bbox.height  # Agg flips y with the figure's (fractional) height
    rows = slice(max(0, math.floor(height - y1) - pad), min(buffer.shape[0], math.ceil(height - y0) + pad))
    cols = slice(max(0, math.floor(x0) - pad), min(buffer.shape[1], math.ceil(x1) + pad))
    return Patch(buffer[rows, cols].copy(), rows, cols)


def png(canvas: FigureCanvasAgg, patches=()) -> bytes:
    """The canvas's last draw as PNG bytes, with ``patches`` pasted where they were cut."""
    pixels = np.array(canvas.buffer_rgba())
    for patch in patches:
        pixels[patch.rows, patch.cols] = patch.pixels
    buffer = io.BytesIO()
    mimage.imsave(buffer, pixels, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()
