"""helpers.combining.latency_explorer: reading a latency budget, and lesson 04's board filtered and exported under it."""

from __future__ import annotations

import pytest
from test_pruning import tiny_data

from helpers import results
from helpers.combining import latency_explorer
from helpers.combining.latency_explorer import LatencyBudgetError, parse_latency


@pytest.mark.parametrize(
    ("value", "us"),
    [(20, 20.0), ("20", 20.0), ("20 µs", 20.0), ("20us", 20.0), ("0.05 ms", 50.0), ("1e-5 s", 10.0),
     ("", None), ("none", None), (None, None)],
)  # fmt: skip
def test_parse_latency(value, us):
    assert parse_latency(value) == (pytest.approx(us) if us is not None else None)


@pytest.mark.parametrize(
    ("value", "words"),
    [("fast", "Could not read"), ("20 min", "Unknown unit"), ("0 µs", "above zero"), ("-5", "above zero"), (True, "not True")],
)
def test_bad_latency_budgets(value, words):
    with pytest.raises(LatencyBudgetError, match=words):
        parse_latency(value)


def _log(d, name, latency, technique="structured"):
    blob = b"TFL3 not really a model"
    metrics = {"tflite_accuracy": 0.8, "tflite_gz": 1000, "tflite_bytes": 2000, "params": 10, "latency_b1_us": latency}
    return results.record(technique, name, metrics, data=d, artifact=blob, key=f"test/{name}")


def test_board_filters_by_latency_and_says_why_on_bad_text():
    d = tiny_data(n=32, n_test=10)
    _log(d, "fast one", 5.0)
    _log(d, "slow one", 50.0)
    board = latency_explorer.LatencyBudgetBoard(d, budget="1 MB")
    assert {e["name"] for e in board.visible()} == {"fast one", "slow one"}
    board.latency_budget.value = "20 µs"
    assert [e["name"] for e in board.visible()] == ["fast one"]
    assert "at or under 20 µs" in board.latency_note.value
    assert [name for name, _ in board.point.options] == ["(none)", "fast one"]
    board.latency_budget.value = "soon"
    assert "Could not read" in board.latency_note.value
    assert len(board.visible()) == 2  # an unreadable budget filters nothing; nothing is lost
    board.latency_budget.value = "1 µs"
    assert board.visible() == [] and board.export() is None and "nothing to export" in board.status.value
    panel = board.panel()
    assert board.latency_budget in panel.children[-2].children
