"""Lesson 05's fit-to-device explorer: which int8 models fit a microcontroller's flash and RAM.

Every change is cheap (no model runs; the arenas were measured once): parse the budget, recheck
the fit of every model, redraw the chart (helpers/figures.py) as PNG bytes in an ``Image``.
"""

from __future__ import annotations

import html
import traceback

import ipywidgets as w
from IPython.display import display

from .. import i18n, precomputed
from ..ui import layout
from ..ui.caption import Caption
from ..ui.explorer import _load_references, _message
from . import devices, figures, tflm


class FootprintExplorer:
    """Lesson 05's fit-to-device explorer: which int8 models fit a microcontroller's flash and RAM.

    Every model in ``models`` (dicts with name, accuracy, flash, arena: ``devices.log_models``)
    is drawn as flash and arena bars against the chosen device's budget; the most accurate model
    that fits both is starred and named. Lesson 05's full-mode footprints (data/precomputed/)
    can be shown beside them as a grey reference (at once when the log has no models yet);
    they are never starred or exported. Choose a preset device or type a custom flash / RAM
    budget ("256 KiB", "1 MB", 32768); nonsense budgets get a message and the last good chart
    stays. Every change is cheap (no model runs): the arenas were measured once.
    """

    CUSTOM = "custom"
    RELOAD_TIP = "re-read the results log (new int8 models get their arena measured once)"

    def __init__(self, models: list[dict], device: str | None = None, data=None):
        self.models, self.data = list(models), data
        refs, self.reference_problems = _load_references(("05",))
        self.reference_models = devices.reference_models(refs[0]) if refs else []
        # shown at once on a fresh clone (nothing run yet); once you have models, one click away
        self.show_reference = w.Checkbox(bool(self.reference_models) and not self.models,
                                         description=i18n.t("show the {label} reference", label=i18n.t(precomputed.LABEL)),
                                         disabled=not self.reference_models, indent=False)
        self.show_reference.observe(lambda _c: self.update(), names="value")
        names = list(devices.DEVICES)
        start = devices.DEVICES.get(device or devices.SMALLEST_DEVICE.name, devices.SMALLEST_DEVICE)
        self.preset = w.Dropdown(options=[*names, self.CUSTOM], value=start.name, description=i18n.t("device"),
                                 layout=w.Layout(width="420px"))
        text = {"style": {"description_width": "60px"}, "layout": w.Layout(width="190px"), "continuous_update": False}
        self.flash = w.Text(f"{start.flash // tflm.KIB} KiB", description=i18n.t("flash"), **text)
        self.ram = w.Text(f"{start.ram // tflm.KIB} KiB", description=i18n.t("RAM"), **text)
        self.message, self.verdict = Caption(), Caption()
        self.chart = w.Image(format="png", layout=w.Layout(width="100%"))  # PNG bytes: one draw per move
        self.reload_button = w.Button(description=i18n.t("Reload log"), tooltip=i18n.t(self.RELOAD_TIP))
        self.device, self.best, self.rows = start, None, []
        self._charts: dict[tuple, figures.FootprintFigure] = {}  # one figure per set of rows, redrawn in place
        self._chart = figures.FootprintFigure()
        self._syncing = False
        self.preset.observe(lambda _c: self._preset_changed(), names="value")
        for box in (self.flash, self.ram):
            box.observe(lambda _c: self._budget_changed(), names="value")
        self.reload_button.on_click(lambda _b: self.reload())
        self.update()

    def _preset_changed(self):
        if self.preset.value == self.CUSTOM:
            return self.update()
        device = devices.DEVICES[self.preset.value]
        self._syncing = True
        try:
            self.flash.value, self.ram.value = f"{device.flash // tflm.KIB} KiB", f"{device.ram // tflm.KIB} KiB"
        finally:
            self._syncing = False
        return self.update()

    def _budget_changed(self):
        if self._syncing:
            return None
        if self.preset.value != self.CUSTOM:
            self._syncing = True
            try:
                self.preset.value = self.CUSTOM
            finally:
                self._syncing = False
        return self.update()

    @property
    def _figure(self):
        """The figure shown (None until something was drawn)."""
        return self._chart.fig

    def current_device(self) -> devices.Device:
        """The preset, or the custom budget parsed from the two boxes (MicroError says what is wrong)."""
        if self.preset.value != self.CUSTOM:
            return devices.DEVICES[self.preset.value]
        return devices.parse_device(self.flash.value, self.ram.value, name="custom device")

    def update(self):
        """Re-check the budget and redraw: fits / does not fit for every model, the best that fits."""
        try:
            device = self.current_device()
        except tflm.MicroError as exc:
            self.message.value = _message("error", [str(exc), "The chart below still shows the last valid budget."])
            return None
        notes = [] if self.models else [
            "No int8 models in the results log for this data set yet: run lesson 05 (and 04), then Reload log."
        ]
        self.message.value = _message("note", notes + self.reference_problems)
        self.device = device
        shown = self.models + (self.reference_models if self.show_reference.value else [])
        self.rows = devices.footprint_rows(shown, device)
        self.best = devices.best_that_fits(shown, device)
        own = [r for r in self.rows if not r.reference]
        fitting = sum(r.fits for r in own)
        if self.best is not None:
            self.verdict.value = (
                f"<b>{fitting} of {len(own)}</b> of your models fit {html.escape(device.name)}. "
                f"Best that fits: <b>{html.escape(self.best.name)}</b> at {self.best.accuracy:.2%} "
                f"({self.best.flash:,} B flash, {self.best.arena:,} B arena)."
            )
        else:
            self.verdict.value = f"<b>None of your models fits</b> {html.escape(device.name)} ({device.flash:,} B flash, {device.ram:,} B RAM)."
        ref_best = devices.best_that_fits(shown, device, reference=True)
        if ref_best is not None:
            self.verdict.value += (
                f" <span style='color:#78909c'>Full-mode reference: {html.escape(ref_best.name)} at "
                f"{ref_best.accuracy:.2%} fits.</span>"
            )
        if self.rows:
            self._chart = self._chart_for(self.rows)
            self._chart.update(self.rows, device, self.best)
            self.chart.value = self._chart.png()
        self.chart.layout.display = "" if self.rows else "none"
        return self.best

    def _chart_for(self, rows) -> figures.FootprintFigure:
        """The figure drawn for this set of rows (the reference shown or not: two sets), kept so
        that toggling back does not lay out every bar and name again (~150 ms)."""
        key = figures.rows_key(rows)
        if key not in self._charts:
            if len(self._charts) >= 4:  # after a few reloads: drop the oldest
                self._charts.pop(next(iter(self._charts)))
            self._charts[key] = figures.FootprintFigure()
        return self._charts[key]

    def reload(self):
        """Re-read the results log; a model whose arena cannot be measured is skipped, not fatal."""
        try:
            self.verdict.value = "reading the results log and measuring new models' arenas …"
            self.models = devices.log_models(self.data)
        except Exception as exc:  # a broken log must not cost the panel
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.message.value = _message("error", [f"Could not reload the log: {last}."])
            return None
        return self.update()

    def panel(self) -> w.Widget:
        controls = w.HBox([self.preset, self.flash, self.ram, self.reload_button, self.show_reference])
        return w.VBox([controls, self.message, self.verdict, self.chart])

    def _ipython_display_(self):
        display(layout.presentable(self.panel()))
