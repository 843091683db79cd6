"""The explorers' board redrawn in place (helpers/ui/board_figure.py): it must draw what a new
figure would, pixel for pixel, whatever it reuses (groups, a legend kept as a raster)."""

from __future__ import annotations

import io

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_ui_layout import ENTRIES, _entry

from helpers.ui import board_figure, board_plots

REFERENCE = [{**_entry(k, 12_000 * (k + 1), 0.83 + k / 100, technique="pruning"), "reference": True, "id": f"ref-{k}"}
             for k in range(3)]  # fmt: skip


@pytest.fixture(autouse=True, params=[72, 100, 133], ids=lambda dpi: f"{dpi}dpi")
def dpi(request):
    """The workbook's 72 dpi (a 3.8-inch figure is 273.6 px: fractional), matplotlib's 100, and another."""
    with mpl.rc_context({"figure.dpi": request.param, "savefig.dpi": request.param}):
        yield request.param


def _pixels(figure: board_figure.BoardFigure) -> np.ndarray:
    return plt.imread(io.BytesIO(figure.png()), format="png")


def _fresh(*args, **kwargs) -> np.ndarray:
    figure = board_figure.BoardFigure()
    figure.update(*args, **kwargs)
    return _pixels(figure)


def test_a_redraw_draws_what_a_new_figure_draws_legend_raster_included():
    board = board_figure.BoardFigure()
    board.update(ENTRIES, title="t", reference=REFERENCE)
    first = _pixels(board)  # the legend drawn live, then kept as pixels
    assert board._legend is not None and board._legend_key in board._legends
    board.update(ENTRIES, title="t", reference=REFERENCE)
    assert board._legend is None and board._legend_key in board._legends  # the pixels, not text
    assert np.array_equal(_pixels(board), first)
    # other points, a highlight and another axis, with the same groups: the raster again
    moved = [{**e, "metrics": {**e["metrics"], "tflite_accuracy": e["metrics"]["tflite_accuracy"] - 0.05}} for e in ENTRIES]
    for kwargs in ({"highlight": ["id-1"]}, {"size_key": "latency_b1_us"}, {"size_key": "tflite_bytes"}):
        board.update(moved, title="u", reference=REFERENCE, **kwargs)
        assert board._legend is None
        assert np.array_equal(_pixels(board), _fresh(moved, title="u", reference=REFERENCE, **kwargs)), kwargs
    assert board.legend_labels == [board_plots.REFERENCE_LABEL, "pruning", "baseline", "Pareto frontier"]


def test_groups_that_come_and_go_and_an_empty_board():
    board = board_figure.BoardFigure()
    board.update(ENTRIES, reference=REFERENCE)
    board.png()
    board.update(ENTRIES[:1])  # the reference off, one point: no frontier
    assert board.legend_labels == ["pruning"] and board._legend is not None  # a new legend: drawn live
    assert np.array_equal(_pixels(board), _fresh(ENTRIES[:1]))
    board.update([], reference=REFERENCE)
    assert "grey points" in board.note.get_text() and board.note.get_visible()
    assert np.array_equal(_pixels(board), _fresh([], reference=REFERENCE))
    board.update([])
    assert board.legend_labels == [] and "No experiments" in board.note.get_text()
    assert np.array_equal(_pixels(board), _fresh([]))
    board.update(ENTRIES, reference=REFERENCE)  # back to the first set of groups: its raster
    assert board._legend is None and not board.note.get_visible()
    assert np.array_equal(_pixels(board), _fresh(ENTRIES, reference=REFERENCE))
