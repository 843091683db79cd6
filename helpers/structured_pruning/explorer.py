"""Lesson 01b's speed explorer: units kept per layer (and int8) -> predicted MACs, params, latency; Run measures.

Live (no training, well under 100 ms): ``speed.explorer_view`` - predicted MACs and parameters and
a latency estimate from the per-layer timing table measured once in the lesson. Run: rebuild,
fine-tune on the fast subset, convert, measure the real latency and put the point on the
latency-vs-accuracy board (and in the results log). Bad widths (0 units, more than a layer has)
become a message; nothing computed is lost.
"""

from __future__ import annotations

import html

import ipywidgets as w

from .. import i18n, results
from ..ui.caption import Caption
from ..ui.explorer import _Explorer, _message, _Progress
from . import figures, speed, units


class SpeedExplorer(_Explorer):
    """Sliders ``units kept: <layer>`` for each prunable layer (0 .. its units, so 0 can be tried
    and is refused with a message), an int8 toggle, the live estimate, Run, the latency board."""

    settings_error = units.StructuredPruningError
    board_title = "Latency vs accuracy: your runs"
    reference_lesson = "01b"  # data/precomputed/01b_structured_pruning.json: the lesson's full-mode models

    def __init__(self, base, table: speed.LatencyTable, finetune_data, eval_data, widths: dict | None = None,
                 int8: bool = True):  # fmt: skip
        self.base, self.table, self.finetune_data, self.eval_data = base, table, finetune_data, eval_data
        start = units.check_widths(base, widths or {})
        style = {"description_width": "130px"}
        self.sliders = {
            name: w.IntSlider(start[name], min=0, max=units, description=i18n.t("units kept: {name}", name=name), style=style,
                              layout=w.Layout(width="380px"))  # fmt: skip
            for name, units in units.full_widths(base).items()
        }
        self.int8 = w.ToggleButtons(options=[("int8", True), ("float32", False)], value=bool(int8))
        self.view = w.Output()
        self._figure = figures.LatencyBars()
        self._run_row("Run: rebuild + fine-tune + measure")
        self.summary = Caption()
        self.last_view = None
        for control in (*self.sliders.values(), self.int8):
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def widths(self) -> dict:
        return {name: int(s.value) for name, s in self.sliders.items()}

    def update(self) -> speed.View:
        """Predicted MACs, params and latency for the sliders' widths; redraw the bars."""
        view = speed.explorer_view(self.base, self.table, self.widths(), bool(self.int8.value))
        self.last_view = view
        self.summary.value = "" if view.problems else f"<b>{html.escape(view.summary())}</b>"
        return self._show(view, _message("error", view.problems))

    def _reference_lines(self, ref) -> list[str]:
        """The lesson's full-mode structured models (grey on the board), for comparison."""
        lines = []
        for key in ("01b/mlp/structured-int8", "01b/mlp/structured"):
            entry = ref.entry(key)
            if entry is not None and entry["metrics"].get("params") is not None:
                m = entry["metrics"]
                lines.append(f"{entry['name']}: accuracy {m.get('tflite_accuracy', 0):.2%}, "
                             f"{m.get('latency_b1_us', 0):.1f} µs, {m.get('tflite_bytes', 0):,} B")  # fmt: skip
        return lines

    def run(self):
        """The Run button: rebuild + fine-tune on the fast subset + convert + measure + log."""

        def action():
            progress = [_Progress(self.progress, self.status)]
            return speed.explorer_run(self.base, self.widths(), bool(self.int8.value), self.finetune_data,
                                      self.eval_data, callbacks=progress)  # fmt: skip

        def report(result):
            m, entry = result
            estimate = self.last_view.estimate_us if self.last_view else float("nan")
            self._report_point(m, entry, f"measured {m.latency_b1_us:.1f} µs (estimated {estimate:.1f} µs), "
                                         f".tflite {m.tflite_bytes:,} B")  # fmt: skip

        return self._guarded_run("rebuilding, fine-tuning and measuring …", action, report)

    def _draw_board(self, highlight=None):
        """The board on the latency axis (the base class's pointable board: click or hover a marker)."""
        self.pointable.draw(
            results.load(data=self.board_data), highlight=[highlight] if highlight else [], title=self.board_title,
            size_key="latency_b1_us", reference=self._board_reference(),
        )  # fmt: skip

    def panel(self) -> w.Widget:
        controls = w.VBox([*self.sliders.values(), self.int8], layout=w.Layout(flex="0 0 auto"))
        run_row = w.HBox([self.run_button, self.progress, self.status])
        return w.VBox([w.HBox([controls, self.view]), self.summary, self.message, self.reference, run_row, self.board])
