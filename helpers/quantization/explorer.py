"""Lesson 02's bit-width explorer: one layer's weights on an n-bit grid live, Run quantizes and measures."""

from __future__ import annotations

import ipywidgets as w

from .. import i18n, measure, precomputed
from ..ui.explorer import _count, _Explorer, _message, _pct
from . import figures, quantize


class BitWidthExplorer(_Explorer):
    """Lesson 02's bit-width explorer: a layer's weights against the grid live; Run for the whole model.

    Live (cheap): the chosen layer's histogram with the quantization grid, MSE and SNR. Run:
    the whole model with every kernel fake-quantized at that width (no retraining), its packed
    size, a point on the board (hollow: simulated) and in the results log.
    """

    def __init__(self, model, data, bits: int = 4):
        self.model, self.data = model, data
        names = [layer.name for layer in measure.kernel_layers(model)]
        style = {"description_width": "90px"}
        self.layer = w.Dropdown(options=names, value=names[0], description=i18n.t("layer"), style=style)
        self.bits = w.IntSlider(bits, min=1, max=10, description=i18n.t("weight bits"), style=style)
        self.per_channel = w.ToggleButtons(options=[(i18n.t("per-channel"), True), (i18n.t("per-tensor"), False)], value=True)
        self.symmetric = w.ToggleButtons(options=[(i18n.t("symmetric"), True), (i18n.t("asymmetric"), False)], value=True)
        self.view = w.Output()
        self._run_row("Run: whole model")  # no progress bar shown: the run takes a second
        self.last_view = None
        self._figure = figures.QuantizationGridFigure()
        for control in (self.layer, self.bits, self.per_channel, self.symmetric):
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def update(self):
        view = quantize.explorer_view(
            self.model, self.layer.value, int(self.bits.value), bool(self.per_channel.value), bool(self.symmetric.value)
        )
        self.last_view = view
        return self._show(view, _message("error", view.problems))

    settings_error = quantize.QuantizationSettingsError
    board_title = "Quantization on the board"
    reference_lesson = "02"

    def _reference_lines(self, ref: precomputed.Reference) -> list[str]:
        """Lesson 02's whole-model sweep at this setting, and the lesson's .tflite at these bits."""
        sweep = ref.sweeps.get("bit_width") or {}
        if not sweep:
            return []
        if sweep.get("params") != self.model.count_params():
            return [f"The precomputed bit-width sweep is for lesson 00's {sweep.get('model', 'MLP')}; "
                    "there is no reference for this model."]  # fmt: skip
        bits, per_channel, symmetric = int(self.bits.value), bool(self.per_channel.value), bool(self.symmetric.value)
        row = ref.bit_width(bits, per_channel, symmetric)
        if row is None:
            return []
        how = f"{'per-channel' if per_channel else 'per-tensor'}, {'symmetric' if symmetric else 'asymmetric'}"
        lines = [
            f"whole model at {bits} bits ({how}), fake-quantized, no retraining: accuracy {_pct(row, 'accuracy')} "
            f"(float {_pct(sweep, 'float_accuracy')}), packed {_count(row, 'packed_bytes')} B"
        ]
        lesson = ref.entry(f"02/nbit/{bits}") or (ref.entry("02/ptq/MLP/int8") if bits == 8 else None)
        if lesson is not None:
            m = lesson["metrics"]
            lines.append(
                f"the lesson's {lesson['name']}: accuracy {_pct(m)}, .tflite gzipped {_count(m, 'tflite_gz')} B"
            )
        return lines

    @property
    def board_data(self):
        return self.data

    def run(self):
        """The Run button: fake-quantize every kernel, evaluate, log; errors become a message."""

        def action():
            bits, per_channel, symmetric = (
                int(self.bits.value),
                bool(self.per_channel.value),
                bool(self.symmetric.value),
            )
            return quantize.explorer_run(self.model, self.data, bits, per_channel, symmetric)

        def report(result):
            metrics, entry = result
            self._report_point(metrics, entry, f"packed {metrics['packed_bytes']:,} B")

        return self._guarded_run("fake-quantizing every kernel and evaluating …", action, report)

    def panel(self) -> w.Widget:
        controls = w.VBox([self.layer, self.bits, self.per_channel, self.symmetric], layout=w.Layout(flex="0 0 auto"))
        run_row = w.HBox([self.run_button, self.status])
        return w.VBox([w.HBox([controls, self.view]), self.message, self.reference, run_row, self.board])
