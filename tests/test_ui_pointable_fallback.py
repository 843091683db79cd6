"""Where a click on a board cannot be read (Colab's widget front end, no ipyevents), a drop-down picks a point."""

from __future__ import annotations

import sys
import types

import pytest

from helpers.ui import explorer as ui_explorer
from helpers.ui import pointable_board


def _entry(i, name=None, reference=False):
    e = {"id": f"id{i}", "name": name or f"point {i}", "technique": "pruning",
         "metrics": {"tflite_gz": 1000 * (i + 1), "tflite_bytes": 2000 * (i + 1), "tflite_accuracy": 0.8 + i / 100}}  # fmt: skip
    if reference:
        e["reference"] = True
    return e


class Mine(ui_explorer._Explorer):
    eval_data = None

    def __init__(self):
        self._run_row("Run")


@pytest.fixture
def in_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_clicks_are_readable_here_but_not_in_colab_or_without_ipyevents(monkeypatch):
    assert pointable_board.clicks_readable()
    assert not pointable_board.clicks_readable({"google.colab": object()})
    monkeypatch.setitem(sys.modules, "ipyevents", None)  # import fails
    assert not pointable_board.clicks_readable()


def test_outside_colab_the_picker_is_hidden_and_the_click_hint_shown():
    ex = Mine()
    assert ex.pointable.picker.layout.display == "none"
    assert ex.board_note.value == pointable_board.HINT
    assert ex.pointable.picker in ex.board.children


def test_in_colab_the_picker_shows_every_marker_and_picks_it(in_colab):
    # the wrong behaviour: a board that says "click a marker" where a click does nothing (a dead widget)
    ex = Mine()
    assert ex.pointable.picker.layout.display is None  # shown
    assert ex.board_note.value == pointable_board.PICKER_HINT and "list under the board" in ex.board_note.value
    entries = [_entry(0), _entry(1, "same"), _entry(2, "same")]  # duplicate names stay apart
    ex.pointable.draw(entries, reference=[_entry(3, reference=True)])
    labels = [label for label, _ in ex.pointable.picker.options]
    assert labels[0] == pointable_board.PICK_PROMPT and len(labels) == 5
    assert labels.count("same · pruning") == 2 and labels[-1].endswith("(full mode, precomputed)")
    key = ex.pointable.picker.options[3][1]
    ex.pointable.picker.value = key
    assert "same" in ex.board_note.value and "3,000 B gzipped" in ex.board_note.value  # the second "same", not the first


def test_a_redraw_keeps_the_choice_and_does_not_fire_a_pick(in_colab):
    picked = []
    board = pointable_board.PointableBoard(on_pick=picked.append)
    board.draw([_entry(0), _entry(1)])
    board.picker.value = board.picker.options[2][1]
    assert [e["id"] for e in picked] == ["id1"]
    board.draw([_entry(0), _entry(1), _entry(2)])  # a Run added a point
    assert board.picker.value == board.picker.options[2][1] and len(picked) == 1
