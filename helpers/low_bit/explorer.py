"""Lesson 02b's per-layer mixed-precision explorer: choose how each layer is stored, see the file.

Cheap view (every control change): the predicted raw file size (``sizes.predict_bytes``) and each
layer's relative weight error on LiteRT Quantizer's grid (``sizes.weight_error``, cached per
layer and choice). **Run** writes the real file with LiteRT Quantizer, measures it like every model
(accuracy on the whole test set, raw and gzipped bytes, latency) and adds it to the board.
**Allocate** proposes bits per layer under the byte budget from a sensitivity table measured once
(``mixed_precision.sensitivity``). A plan LiteRT cannot store gives a message; the last good view stays.
"""

from __future__ import annotations

import html
import io

import ipywidgets as w
import matplotlib.image
import numpy as np
from IPython.display import Image as IPyImage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import i18n, measure, precomputed, results
from ..ui.caption import Caption
from ..ui.explorer import _Explorer, _message
from . import mixed_precision, quantizer, sizes
from .quantizer import Choice, LowBitSettingsError

OPTIONS = ["float32", "int8", "int4", "int2", "int4 block-32", "int4 block-64", "int4 block-128"]


def parse(option: str) -> Choice:
    """'int4 block-64' -> Choice(4, 64); 'float32' -> Choice(32)."""
    if option == "float32":
        return Choice(32)
    kind, _, block = option.partition(" block-")
    return Choice(int(kind.removeprefix("int")), int(block) if block else 0)


def option(choice: Choice) -> str:
    return "float32" if choice.bits == 32 else f"int{choice.bits}" + (f" block-{choice.block}" if choice.block else "")


class MixedPrecisionExplorer(_Explorer):
    """Per layer float32 / int8 / int4 / int2, per-channel or blockwise; ``mode`` for the file.

    ``model`` is the Keras model, ``float_tflite`` its float32 file (converted here if None),
    ``data`` what Run measures on, ``sensitivity`` a ``mixed_precision.sensitivity`` table for Allocate;
    without one, the full-mode table of ``data/precomputed/02b_low_bit.json`` for this model (the
    lesson's MLP or CNN) is used, so Allocate works at once.
    """

    settings_error = LowBitSettingsError
    board_title = "Real low-bit files on the board"
    reference_lesson = "02b"

    def __init__(self, model, data, float_tflite=None, sensitivity=None, mode="dynamic", budget_kb=150):
        self.model, self.eval_data = model, data
        self.float_tflite = float_tflite if float_tflite is not None else measure.to_tflite(model)
        self.infos = quantizer.layers(model)
        self._kernels = {layer.name: layer.kernel.numpy() for layer in measure.kernel_layers(model)}
        self._errors: dict[tuple[str, Choice], float] = {}
        self.layer_controls = {
            info.name: w.Dropdown(options=OPTIONS, value="int8", description=info.name, layout=w.Layout(width="240px"))
            for info in self.infos
        }
        self.mode = w.Dropdown(
            options=list(quantizer.MODES), value=mode, description=i18n.t("mode"), layout=w.Layout(width="240px")
        )
        self.budget = w.FloatText(value=budget_kb, description=i18n.t("budget KB"), layout=w.Layout(width="240px"))
        self.summary = Caption()
        self._run_row("Run: write + measure the file")
        self.table, self.table_source = sensitivity, "measured in this session"
        if sensitivity is None:
            self.table, self.table_source = self._precomputed_table(), precomputed.LABEL
        self.allocate_button = w.Button(description=i18n.t("Allocate"), icon="magic", disabled=self.table is None)
        self.last_good = None
        # a Figure outside pyplot: the inline backend does not show it again at the end of the cell
        self.fig = Figure(figsize=(5.6, 0.9 + 0.45 * len(self.infos)), dpi=72)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.subplots()
        names = [info.name for info in self.infos]
        self._bars = self.ax.barh(names, [0.0] * len(names))
        self._labels = [self.ax.text(0, i, "", va="center", fontsize=8) for i in range(len(names))]
        self.ax.invert_yaxis()
        # fixed axis (the error of a symmetric grid that holds 0 never exceeds ||w||): the ticks keep
        # their text, so matplotlib's layout cache makes a redraw cheap
        self.ax.set_xlim(0, 100)
        self.ax.set_xticks([0, 25, 50, 75, 100])
        self.ax.set_xlabel("relative weight error ||w - q(w)|| / ||w||  (%)", fontsize=8)
        self.ax.tick_params(labelsize=8)
        self.fig.subplots_adjust(left=0.18, right=0.97, bottom=0.3 if len(names) < 4 else 0.22, top=0.85)
        self.ax.set_title(" ", fontsize=9)
        # blitting: axes, ticks and labels are drawn once; a change redraws only bars, labels and title
        self._moving = [*self._bars, *self._labels, self.ax.title]
        for artist in self._moving:
            artist.set_animated(True)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.image = w.Image(format="png")
        self._setting = False  # True while Allocate sets several controls: one redraw at the end
        for control in (*self.layer_controls.values(), self.mode):
            control.observe(lambda _: self.update(), names="value")
        self.allocate_button.on_click(lambda _: self.allocate())
        self.run_button.on_click(lambda _: self.run())
        self.update()
        self._draw_board()  # the board you can point at: the lesson's points (and the reference layer) at once

    def _precomputed_table(self) -> dict | None:
        """The full-mode sensitivity of this model from data/precomputed/, or None (a note says why)."""
        try:
            tables = (self.reference_data or {}).get("sweeps", {}).get("sensitivity", {}).get("tables", {})
            row = tables.get(self.model.name)
            if not row or set(row) != {info.name for info in self.infos}:
                return None
            return {layer: {int(bits): float(drop) for bits, drop in widths.items()} for layer, widths in row.items()}
        except (AttributeError, TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ the cheap view
    def plan(self) -> dict[str, Choice]:
        return {name: parse(control.value) for name, control in self.layer_controls.items()}

    def error(self, name: str, choice: Choice) -> float:
        key = (name, choice)
        if key not in self._errors:
            self._errors[key] = sizes.weight_error(self._kernels[name], choice)
        return self._errors[key]

    def preview(self) -> dict:
        """``{plan, mode, bytes, ratio, errors}`` for the current controls; LowBitSettingsError if invalid."""
        plan, mode = self.plan(), self.mode.value
        quantizer.check_plan(self.model, plan, mode)
        if all(c.bits == 32 for c in plan.values()):
            size = len(self.float_tflite)
        else:
            size = sizes.predict_bytes(self.model, plan, mode, len(self.float_tflite))
        errors = {name: self.error(name, choice) for name, choice in plan.items()}
        return {"plan": plan, "mode": mode, "bytes": size, "ratio": len(self.float_tflite) / size, "errors": errors}

    def update(self):
        """Redraw from the controls; an invalid plan only sets the message (the last good view stays)."""
        if self._setting:
            return self.last_good
        try:
            view = self.preview()
        except LowBitSettingsError as exc:
            self.message.value = _message("error", [str(exc), "The view still shows the last valid plan."])
            self.run_button.disabled = True
            return self.last_good
        self.last_good = view
        self.message.value = ""
        self.run_button.disabled = False
        self.summary.value = (
            f"<b>predicted file: {view['bytes']:,} B</b> raw ({view['ratio']:.1f}x smaller than float32, "
            f"{len(self.float_tflite):,} B), {html.escape(view['mode'])} mode"
        )
        self._draw(view)
        return view

    def _draw(self, view):
        """Move the bars, labels and title and blit them onto the static background, as a PNG."""
        names = list(view["errors"])
        values = [100 * view["errors"][n] for n in names]
        for bar, text, name, value in zip(self._bars, self._labels, names, values, strict=True):
            bar.set_width(value)
            bar.set_color("#90a4ae" if view["plan"][name].bits == 32 else "#1565c0")
            text.set_x(value)
            text.set_text(f" {option(view['plan'][name])}")
        self.ax.title.set_text(f"predicted {view['bytes']:,} B raw · {view['ratio']:.1f}x smaller")
        self.canvas.restore_region(self._background)
        for artist in self._moving:
            self.ax.draw_artist(artist)
        buffer = io.BytesIO()
        rgba = np.asarray(self.canvas.buffer_rgba())
        matplotlib.image.imsave(buffer, rgba, format="png", pil_kwargs={"compress_level": 1})
        self.image.value = buffer.getvalue()

    def snapshot(self):
        """The current view as a static image (what the lesson keeps in its outputs)."""
        return IPyImage(data=self.image.value, format="png")

    # ------------------------------------------------------------------ allocate and run
    def allocate(self):
        """Set the controls to ``mixed_precision.allocate``'s plan for the budget (dynamic, per-channel)."""
        try:
            if self.table is None:
                raise LowBitSettingsError("No sensitivity table: pass sensitivity=mixed_precision.sensitivity(...) first.")
            budget = self.budget.value * 1000 if self.budget.value is not None else None
            found = mixed_precision.allocate(self.model, self.table, budget, len(self.float_tflite), "dynamic")
        except LowBitSettingsError as exc:
            self.message.value = _message("error", [str(exc)])
            return None
        self._setting = True
        try:
            self.mode.value = "dynamic"
            for name, choice in found.plan.items():
                self.layer_controls[name].value = option(choice)
        finally:
            self._setting = False
        self.update()
        self.status.value = (
            f"Allocated for {self.budget.value:g} KB: predicted {found.predicted_bytes:,} B, summed accuracy drop of "
            f"the layers alone {100 * found.predicted_drop:.2f} pp (sensitivity {self.table_source}; an estimate - "
            "Run measures the real file)."
        )
        return found

    def run(self):
        def action():
            view = self.preview()
            tflite = quantizer.quantize_plan(
                self.model, self.float_tflite, view["plan"], view["mode"], self.eval_data.x_train[:200]
            )
            label = ", ".join(f"{n} {option(c)}" for n, c in view["plan"].items())
            m = measure.measure(f"{self.model.name} {view['mode']}: {label}", self.eval_data, self.model, tflite=tflite)
            settings = {
                "mode": view["mode"],
                "plan": {n: option(c) for n, c in view["plan"].items()},
                "simulated": False,
            }
            entry = results.record("low-bit", m.name, m, settings, lesson="02b", key=f"02b/explorer/{m.name}",
                                   data=self.eval_data, artifact=tflite)
            return m, entry, view

        def report(result):
            m, entry, view = result
            self._report_point(m, entry, f"{m.tflite_bytes:,} B raw (predicted {view['bytes']:,} B), "
                                         f"{m.latency_b1_us:.0f} µs per image")  # fmt: skip
            self.last_result = result

        return self._guarded_run("Writing the file and measuring it…", action, report)

    def panel(self) -> w.Widget:
        controls = w.VBox([*self.layer_controls.values(), self.mode, w.HBox([self.budget, self.allocate_button])])
        return w.VBox(
            [
                w.HBox([controls, w.VBox([self.summary, self.image])]),
                self.message,
                w.HBox([self.run_button, self.progress]),
                self.status,
                self.board,
            ]
        )
