"""The explorers' size-vs-accuracy board: one figure redrawn in place, fast enough for every move.

``board_plots.board`` draws a new board (a lesson's cell). An explorer redraws its board on every
control change and must answer within 100 ms (``tools/bench.py --explorers`` measures it), so
``BoardFigure`` keeps one figure, outside pyplot, and changes only what a move changes. From
profiling a redraw of ~190 points (what costs, and what is done about it):

- building a figure, axes and ticks (~20 ms), and a scatter per group (~2 ms each): built once;
  a move sets each group's points (``set_offsets``) and the limits;
- the legend (~35 ms of text a draw): it changes only with the set of groups shown, so it is
  drawn once per set and its pixels are pasted into later PNGs (helpers/ui/raster.py);
- titles and axis labels sit at fixed positions (matplotlib otherwise measures every tick
  label to place them); no minor ticks on the log axis.

The figure's size and margins are fixed: its legend sits outside the data, on the right, and a
pixel of its PNG maps back to data through ``ax.transData`` (helpers/ui/pointable_board.py).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import results
from . import board_plots, raster

FIGSIZE = (9.6, 3.8)  # inches; at the workbook's 72 dpi a 691 x 273 px PNG, stretched to the panel
LEGEND = {"fontsize": 8.5, "loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "frameon": False}


class BoardFigure:
    """One board figure: ``update(...)`` sets it (returns the figure), ``png()`` draws it.

    ``legend_labels``: the labels the legend shows now (drawn live or pasted from its raster).
    """

    def __init__(self):
        self.fig = Figure(figsize=FIGSIZE, dpi=mpl.rcParams["figure.dpi"])
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        self.fig.subplots_adjust(left=0.085, right=0.65, bottom=0.13, top=0.92)
        self.ax.xaxis.set_label_coords(0.5, -0.1)  # placed, not measured
        self.ax.yaxis.set_label_coords(-0.095, 0.5)  # clear of 4-character tick labels ("82.5")
        self._size_key = None
        self._groups: dict[tuple, object] = {}  # group key -> its scatter (kept, emptied when not shown)
        self.front = self.ax.plot([], [], drawstyle="steps-post", ls="--", c="gray", lw=1, label="Pareto frontier",
                                  zorder=2)[0]  # fmt: skip
        self.note = self.ax.text(0.5, 0.5, "", transform=self.ax.transAxes, visible=False)
        self._marks: list = []
        self._legend, self._legend_key = None, None
        self._legends: dict[tuple, raster.Patch] = {}  # legend entries -> their pixels
        self.legend_labels: list[str] = []

    def update(self, entries, highlight=(), size_key: str = "tflite_gz", title: str = "", reference=()):
        """Set the board for ``entries`` and ``reference`` (as ``board_plots.board`` draws them)."""
        ax = self.ax
        if size_key != self._size_key:
            board_plots.board_axes(ax, size_key)
            self._size_key = size_key
        groups = board_plots.board_groups(entries, reference, size_key)
        handles, labels, shown = [], [], set()
        for g in groups:
            scatter = self._groups.get(g["key"])
            if scatter is None:
                scatter = self._groups[g["key"]] = ax.scatter([], [], **g["style"])
            scatter.set_offsets(np.column_stack([g["x"], g["y"]]))
            scatter.set_visible(True)
            shown.add(g["key"])
            if not g["label"].startswith("_"):
                handles.append(scatter)
                labels.append(g["label"])
        for key, scatter in self._groups.items():
            if key not in shown:
                scatter.set_visible(False)
        usable = board_plots.usable_entries(entries, size_key)
        front = results.pareto_front(usable, size_key=size_key)
        scale = board_plots.BOARD_AXES.get(size_key, (1.0, ""))[0]
        self.front.set_data([e["metrics"][size_key] * scale for e in front],
                            [e["metrics"]["tflite_accuracy"] * 100 for e in front])  # fmt: skip
        self.front.set_visible(len(front) > 1)
        if len(front) > 1:
            handles.append(self.front)
            labels.append("Pareto frontier")
        self.note.set_visible(not usable)
        if not usable:
            note = board_plots.board_note(bool(groups))
            self.note.set_text(note.pop("s"))
            self.note.set_fontsize(note.pop("fontsize", mpl.rcParams["font.size"]))
            self.note.update(note)
        limits = board_plots.board_limits(groups)
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
        for artist in self._marks:
            artist.remove()
        self._marks = board_plots.mark_highlights(ax, usable + board_plots.usable_entries(reference, size_key), highlight, size_key, limits[0])
        ax.set_title(title or board_plots.BOARD_TITLE, y=1.0)  # y: placed, not measured
        self._set_legend(handles, labels, groups)
        return self.fig

    def _set_legend(self, handles, labels, groups):
        """Paste the legend's pixels when this set of entries was drawn before; else draw it live."""
        markers = {g["label"]: (g["style"]["marker"], str(g["style"]["facecolors"]), str(g["style"]["edgecolors"]))
                   for g in groups}  # fmt: skip
        key = tuple((label, markers.get(label)) for label in labels)
        self.legend_labels = list(labels)
        if self._legend is not None:
            self._legend.remove()
            self._legend = None
        self._legend_key = key
        if labels and key not in self._legends:
            self._legend = self.ax.legend(handles, labels, **LEGEND)

    def png(self) -> bytes:
        """The board as PNG bytes at ``fig.dpi``, not cropped ("tight" would move the pixels that
        ``board_view`` maps back to data). A legend drawn live is kept as pixels afterwards."""
        canvas = raster.canvas_of(self.fig)
        canvas.draw()
        if self._legend is not None:
            self._legends[self._legend_key] = raster.cut(canvas, *self._legend.get_window_extent().extents)
        patch = self._legends.get(self._legend_key) if self.legend_labels else None
        return raster.png(canvas, [patch] if patch is not None and self._legend is None else [])
