"""The projector rules (helpers/ui/layout.py) and the board you can point at (helpers/ui/pointable_board.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ipywidgets as w
import pytest

from helpers.ui import explorer as ui_explorer
from helpers.ui import layout, pointable_board


def _entry(i, gz, acc, technique="pruning", **settings):
    return {"id": f"e{i}", "name": f"point {i}", "technique": technique, "settings": settings,
            "metrics": {"tflite_gz": gz, "tflite_bytes": gz * 2, "tflite_accuracy": acc, "latency_b1_us": 10.0 + i}}  # fmt: skip


ENTRIES = [_entry(0, 10_000, 0.80, sparsity=0.9), _entry(1, 40_000, 0.86), _entry(2, 250_000, 0.88, technique="baseline")]


def test_presentable_marks_figures_and_the_controls_beside_them():
    controls, figure, board = w.VBox([w.IntSlider(description="x")]), w.Output(), w.Image()
    panel = w.VBox([w.HBox([controls, figure]), w.HBox([w.VBox([board, w.HTML()]), w.VBox([w.Button()])])])
    shown = layout.presentable(panel)
    assert "wb-panel" in shown._dom_classes and shown.children[1] is panel
    style = shown.children[0]
    assert "<style>" in style.value and style.layout.display == "none"
    assert "min-width: max-content" in style.value  # labels and buttons are never cut off
    assert "min-width: 60%" in style.value  # a figure beside controls takes >= 60 % of the row
    assert "wb-figure" in figure._dom_classes and "wb-figure" in board._dom_classes
    assert "wb-controls" in controls._dom_classes
    row = panel.children[1]
    assert "wb-figure-column" in row.children[0]._dom_classes and "wb-controls" in row.children[1]._dom_classes
    assert layout.presentable(shown) is shown  # twice changes nothing
    assert figure._dom_classes.count("wb-figure") == 1


def test_every_explorer_on_the_base_is_shown_presentable(monkeypatch):
    shown = []
    monkeypatch.setattr(ui_explorer, "display", shown.append)

    class Mine(ui_explorer._Explorer):  # what another lesson's explorer built on the base looks like
        def panel(self):
            return w.VBox([w.HBox([w.VBox([w.FloatSlider(description="a long control label")]), w.Output()])])

    Mine()._ipython_display_()
    assert len(shown) == 1 and "wb-panel" in shown[0]._dom_classes


def test_the_board_maps_a_click_to_the_nearest_marker():
    picked, hovered = [], []
    board = pointable_board.PointableBoard(on_pick=picked.append, on_hover=hovered.append)
    board.draw(ENTRIES, title="t")
    assert bytes(board.image.value).startswith(b"\x89PNG")
    assert [e["name"] for _, _, e in board.points] == ["point 0", "point 1", "point 2"]
    listed = json.loads(re.search(r"data-markers='([^']*)'", board.markers.value).group(1).replace("&quot;", '"'))
    assert [m["name"] for m in listed] == ["point 0", "point 1", "point 2"]
    assert all(0 < m["fx"] < 1 and 0 < m["fy"] < 1 for m in listed)
    x, y, _ = board.points[1]
    assert board._event({"type": "click", "dataX": x + 3, "dataY": y - 2})["name"] == "point 1"
    assert [e["name"] for e in picked] == ["point 1"]
    assert board._event({"type": "click", "dataX": 2, "dataY": 2}) is None and len(picked) == 1  # empty corner
    # without dataX (another front end): the position relative to the shown, scaled image
    width, height = board.size_px
    shown = {"boundingRectWidth": width * 1.5, "boundingRectHeight": height * 1.5}
    x0, y0, _ = board.points[0]
    board._event({"type": "mousemove", "relativeX": x0 * 1.5, "relativeY": y0 * 1.5, **shown})
    assert hovered[-1]["name"] == "point 0"
    board._event({"type": "mousemove", "relativeX": 1, "relativeY": 1, **shown})
    assert hovered[-1] is None


def test_the_markers_follow_the_axis():
    board = pointable_board.PointableBoard()
    board.draw(ENTRIES, size_key="tflite_gz")
    by_gz = [x for x, _, _ in board.points]
    board.draw(ENTRIES, size_key="latency_b1_us")
    by_latency = [x for x, _, _ in board.points]
    assert by_gz == sorted(by_gz) and by_latency == sorted(by_latency) and by_gz != by_latency


@pytest.mark.parametrize("entry, expected", [
    (ENTRIES[0], ["point 0", "pruning", "10,000 B gzipped", "20,000 B stored", "accuracy 80.00%", "10.0 µs",
                  "recipe: sparsity=0.9"]),
    ({**ENTRIES[2], "reference": True}, ["point 2", "baseline", "full mode, precomputed"]),
    ({"name": "<odd>", "metrics": {}}, ["&lt;odd&gt;"]),
])  # fmt: skip
def test_describe_names_what_a_marker_is(entry, expected):
    text = pointable_board.describe(entry)
    for part in expected:
        assert part in text


def test_an_explorer_board_answers_a_click(monkeypatch, tmp_path):
    """The board under a lesson's explorer (the base's): a click names the point under it."""

    class Mine(ui_explorer._Explorer):
        eval_data = None

        def __init__(self):
            self._run_row("Run")

    ex = Mine()
    ex.pointable.draw(ENTRIES)
    x, y, _ = ex.pointable.points[2]
    ex.pointable._event({"type": "click", "dataX": x, "dataY": y})
    assert "point 2" in ex.board_note.value and "baseline" in ex.board_note.value
    ex.pointable._event({"type": "mousemove", "dataX": 1, "dataY": 1})
    assert ex.board_note.value == pointable_board.HINT


ROOT = Path(__file__).resolve().parent.parent
# The calls the lessons teach: a cell shown in the presenting view must make at least one of them.
API = re.compile(r"prune_low_magnitude|UpdatePruningStep|TFLiteConverter|quantize_model|cluster_weights|"
                 r"strip_clustering|KLDivergence|softmax|Distiller|recipe|Interpreter|SpecBuilder")  # fmt: skip


@pytest.mark.parametrize("lesson", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_presenting_shows_each_lessons_calls(lesson):
    """Voila hides code; the cells tagged show-in-voila (the lesson's API calls) stay visible, and
    text that announces the calls ("written out:") is followed by such a cell."""
    cells = json.loads(lesson.read_text(encoding="utf-8"))["cells"]
    shown = [c for c in cells if "show-in-voila" in c.get("metadata", {}).get("tags", [])]
    assert shown, f"{lesson.name}: no code cell tagged show-in-voila"
    for cell in shown:
        assert cell["cell_type"] == "code" and API.search("".join(cell["source"])), "".join(cell["source"])[:80]
    for before, after in zip(cells, cells[1:], strict=False):
        text = "".join(before["source"]).strip()
        if before["cell_type"] == "markdown" and re.search(r"written out[^:\n]*:$", text):
            assert after in shown, f"{lesson.name}: {text[-60:]!r} announces calls the presenting view hides"


def test_the_presenting_template_shows_tagged_cells():
    template = ROOT / "share" / "jupyter" / "voila" / "templates" / "workbook"
    assert json.loads((template / "conf.json").read_text())["base_template"] == "lab"
    text = (template / "index.html.j2").read_text()
    assert "'show-in-voila' in cell.metadata.get('tags', [])" in text and "wb-shown-source" in text
    makefile = (ROOT / "Makefile").read_text()
    assert "--template=workbook" in makefile and "--VoilaConfiguration.template=workbook" in makefile
