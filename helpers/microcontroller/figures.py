"""Lesson 05's fit-to-device chart: each model's flash and tensor arena against a device's budget.

``footprint_bars`` draws it once (a figure for a lesson's cell). ``FootprintFigure`` keeps one figure and
redraws it in place for the fit-to-device explorer (helpers/microcontroller/explorer.py), where every widget
move must answer within 100 ms (``tools/bench.py --explorers`` measures it). What keeps a redraw
cheap, from profiling it (most of a draw's time is text: ~40 rows of model names):

- the bars are built once per set of models; a move changes only colours, widths, the budget
  lines, limits and titles;
- the model names change only with the set of models, so :meth:`FootprintFigure.png` draws them once
  and pastes their pixels into later PNGs (helpers/ui/raster.py);
- titles and axis labels sit at fixed positions (matplotlib otherwise measures every tick label
  of both axes to place them on each draw).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from ..ui import raster

STAR = "★"
STAR_COLOR = "#b8860b"  # dark goldenrod: the best model that fits (yours, never a reference)


def footprint_bars(rows, device, best=None):
    """Each model's flash and tensor arena against ``device``'s budget (log scale; the dashed line
    is the budget). ``rows``: ``devices.footprint_rows`` (most accurate first). Green fits both, red misses
    at least one, grey is a full-mode reference; the pale part of a bar is the device's runtime
    allowance. ``best`` (a row, or None) is starred. Returns a new pyplot figure."""
    return FootprintFigure(pyplot=True).update(rows, device, best)


def _footprint_color(r) -> str:
    return "#b0bec5" if r.reference else "tab:green" if r.fits else "tab:red"


def rows_key(rows) -> tuple:
    """What a figure's bars and names depend on (not the device): equal keys, same figure."""
    return tuple((r.name, r.flash, r.arena, r.reference, r.accuracy) for r in rows)


def _boxes(y, widths, height: float = 0.7):
    """Horizontal bars as polygons: from 1 byte (off the left of any log axis used here) to each width."""
    return [[(1, yi - height / 2), (w, yi - height / 2), (w, yi + height / 2), (1, yi + height / 2)] for yi, w in zip(y, widths, strict=True)]


def _label(r) -> str:
    return f"{r.name[:38]} · {r.accuracy:.1%}" + (" (ref.)" if r.reference else "")


class FootprintFigure:
    """The fit-to-device chart as one figure redrawn in place.

    ``update(rows, device, best)`` sets it for a device (rebuilding the bars only when the models
    differ) and returns the figure; ``png()`` draws it as PNG bytes at the figure's own dpi.
    ``pyplot=False`` makes a figure outside pyplot (nothing shows it by itself; an explorer shows
    its PNG). ``starred`` is the name of the starred row (or None).
    """

    def __init__(self, pyplot: bool = False):
        self.pyplot = pyplot
        self.fig, self._shape, self.starred = None, None, None
        self._names = None  # the model names as pixels (raster.Patch), once png() has drawn them

    def update(self, rows, device, best=None):
        shape = rows_key(rows)
        if self.fig is None or shape != self._shape:
            self._build(rows)
            self._shape = shape
        colors = [_footprint_color(r) for r in rows]
        flash = [r.flash + r.runtime_flash for r in rows]  # model + the device's runtime allowance (pale part)
        ram = [r.arena + r.runtime_ram for r in rows]
        for i, (bars, line, ax, values, own, budget, label) in enumerate((
            (self._bars[0], self._lines[0], self._axes[0], flash, [r.flash for r in rows], device.flash, "flash: model + runtime"),
            (self._bars[1], self._lines[1], self._axes[1], ram, [r.arena for r in rows], device.ram, "RAM: arena + runtime"),
        )):  # fmt: skip
            bars.set_facecolor(colors)
            self._totals[i].set_facecolor(colors)
            self._totals[i].set_verts(_boxes(self._y, values))
            line.set_xdata([budget, budget])
            ax.set_xlim(min([*own, budget]) / 2, max([*values, budget]) * 1.6)  # the model's own part shows too
            ax.set_title(f"{label} (budget {budget / 1024:,.0f} KiB)", fontsize=9, y=1.0)  # y: placed, not measured
        self._star(rows, best, flash)
        self._title.set_text(device.name)
        return self.fig

    def _star(self, rows, best, flash):
        """Star the best row (yours): a pale band across both charts and a star after its flash bar."""
        index = next((i for i, r in enumerate(rows) if best is not None and r.name == best.name and not r.reference), None)
        self.starred = None if index is None else rows[index].name
        for band in self._bands:
            band.set_visible(index is not None)
        if index is None:
            self._star_text.set_visible(False)
            return
        y = self._y[index]
        for band in self._bands:
            band.set_y(y - 0.48)
        self._star_text.set_position((flash[index] * 1.08, y))
        self._star_text.set_visible(True)

    def png(self) -> bytes:
        """The chart as PNG bytes at ``fig.dpi``. The first call after a build draws the model names
        as text and keeps their pixels (helpers/ui/raster.py); later calls draw the figure without
        them and paste the pixels back: the same PNG, without laying the text out again."""
        canvas = raster.canvas_of(self.fig)
        canvas.draw()
        if self._names is None:
            ax = self._axes[0]
            self._names = raster.cut(canvas, 0, ax.bbox.y0, ax.bbox.x0 - 2, ax.bbox.y1, pad=0)  # left of the spine
            ax.tick_params(axis="y", labelleft=False)
        return raster.png(canvas, [self._names])

    def _build(self, rows):
        height = 0.26 * max(4, len(rows)) + 1.0
        if self.fig is None:
            self.fig = plt.figure(figsize=(10.0, height)) if self.pyplot else Figure(figsize=(10.0, height), dpi=plt.rcParams["figure.dpi"])
            if not self.pyplot:
                FigureCanvasAgg(self.fig)
        self.fig.clf()
        self._names = None
        self.fig.set_figheight(height)
        self._axes = self.fig.subplots(1, 2, sharey=True)
        self._y = y = np.arange(len(rows))[::-1]
        self._bars, self._lines, self._totals, self._bands = [], [], [], []
        for ax, values in ((self._axes[0], [r.flash for r in rows]), (self._axes[1], [r.arena for r in rows])):
            # one collection per layer of bars, not a patch per bar: ~40 rows x 4 patches cost ~25 ms a draw
            self._totals.append(ax.add_collection(PolyCollection(_boxes(y, values), alpha=0.3, linewidths=0)))
            self._bars.append(ax.add_collection(PolyCollection(_boxes(y, values), alpha=0.8, linewidths=0)))
            self._lines.append(ax.axvline(1, color="black", ls="--", lw=1))
            self._bands.append(ax.axhspan(0, 0.96, color="#fff3c4", zorder=0, visible=False))
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: f"{v / 1024:,.4g}K"))
            ax.xaxis.set_major_locator(mticker.LogLocator(base=4))
            ax.xaxis.set_minor_locator(mticker.NullLocator())  # ticks and text are most of a redraw's time
            ax.tick_params(labelsize=7)
            ax.xaxis.set_label_coords(0.5, -0.1)  # no axis labels: nothing to measure tick labels for
            ax.yaxis.set_label_coords(-0.1, 0.5)
            ax.tick_params(axis="y", length=0)  # a row is named by its label; tick marks cost ~0.5 ms each
        self._axes[0].set_ylim(-0.6, len(rows) - 0.4)
        self._axes[0].set_yticks(y)
        self._axes[0].set_yticklabels([_label(r) for r in rows], fontsize=7)
        for tick, r in zip(self._axes[0].get_yticklabels(), rows, strict=True):
            tick.set_color("#78909c" if r.reference else "black")
        self._star_text = self._axes[0].text(1, 0, STAR, color=STAR_COLOR, fontsize=11, ha="left", va="center",
                                             visible=False, zorder=5)  # fmt: skip
        self._title = self.fig.suptitle("", fontsize=10)
        # fixed margins, not tight_layout: it costs ~70 ms a redraw
        self.fig.subplots_adjust(left=0.34, right=0.98, wspace=0.08, top=1 - 0.55 / height, bottom=0.4 / height)
