"""Lesson 01's schedule explorer: a pruning schedule's sparsity curve live, Run prunes and fine-tunes."""

from __future__ import annotations

import math

import ipywidgets as w
import matplotlib.pyplot as plt

from .. import i18n, precomputed
from ..ui.explorer import _count, _Explorer, _message, _pct, _Progress
from . import figures, magnitude, schedule


class ScheduleExplorer(_Explorer):
    """Lesson 01's sparsity-schedule explorer.

    The curve is TF-MOT's own schedule object evaluated at every step, with the epoch
    boundaries marked. Run prunes and fine-tunes ``base`` on ``finetune_data`` (the fast
    subset, so it answers in seconds), measures on ``eval_data`` and adds the point to the board
    and the results log.
    """

    def __init__(
        self, base, finetune_data, eval_data, defaults: schedule.ScheduleSettings | None = None, epochs: int = 4
    ):
        self.base, self.finetune_data, self.eval_data = base, finetune_data, eval_data
        self.steps_in_epoch = magnitude.steps_per_epoch(len(finetune_data.x_train))
        d = defaults or schedule.ScheduleSettings(
            "polynomial", 0.5, 0.9, 0, int(0.7 * epochs * self.steps_in_epoch), max(1, self.steps_in_epoch // 4), 3.0
        )
        most = 10 * self.steps_in_epoch
        style = {"description_width": "110px"}
        layout = w.Layout(width="360px")
        self.kind = w.ToggleButtons(
            options=[("PolynomialDecay", "polynomial"), ("ConstantSparsity", "constant")], value=d.kind
        )
        self.initial = w.FloatSlider(
            d.initial_sparsity, min=0, max=1, step=0.01, description=i18n.t("initial sparsity"), style=style, layout=layout
        )
        self.final = w.FloatSlider(
            d.final_sparsity, min=0, max=1, step=0.01, description=i18n.t("final sparsity"), style=style, layout=layout
        )
        self.begin = w.IntSlider(d.begin_step, min=0, max=most, description=i18n.t("begin step"), style=style, layout=layout)
        self.end = w.IntSlider(d.end_step, min=0, max=most, description=i18n.t("end step"), style=style, layout=layout)
        self.frequency = w.IntSlider(d.frequency, min=0, max=200, description=i18n.t("frequency"), style=style, layout=layout)
        self.power = w.FloatSlider(d.power, min=0, max=6, step=0.5, description=i18n.t("power"), style=style, layout=layout)
        self.epochs = w.IntSlider(epochs, min=1, max=10, description=i18n.t("epochs"), style=style, layout=layout)
        self.curve = w.Output()
        self._run_row("Run: prune + fine-tune")
        self.last_preview: schedule.Preview | None = None
        for control in self._controls():
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def _controls(self):
        return [self.kind, self.initial, self.final, self.begin, self.end, self.frequency, self.power, self.epochs]

    def settings(self) -> schedule.ScheduleSettings:
        return schedule.ScheduleSettings(
            kind=self.kind.value,
            initial_sparsity=round(float(self.initial.value), 4),
            final_sparsity=round(float(self.final.value), 4),
            begin_step=int(self.begin.value),
            end_step=int(self.end.value),
            frequency=int(self.frequency.value),
            power=float(self.power.value),
        )

    def update(self) -> schedule.Preview:
        """Re-validate and redraw the curve: cheap, runs on every change."""
        polynomial = self.kind.value == "polynomial"
        self.initial.disabled = self.power.disabled = self.end.disabled = not polynomial
        preview = schedule.explorer_preview(self.settings(), self.steps_in_epoch, int(self.epochs.value))
        self.last_preview = preview
        self.message.value = _message("error", preview.problems) + _message("note", preview.notes)
        self.reference.value = self._reference_html(self._reference_lines)
        self.run_button.disabled = bool(preview.problems)
        with self.curve:
            self.curve.clear_output(wait=True)
            if not preview.problems:
                fig = figures.schedule_curve(preview, title=self.settings().describe())
                self._display(fig)
                plt.close(fig)
        return preview

    settings_error = magnitude.PruningSettingsError
    board_title = "Your pruning runs on the board"
    reference_lesson = "01"

    def _reference_lines(self, ref: precomputed.Reference) -> list[str]:
        """Lesson 01's sweep at the swept sparsity nearest the chosen final sparsity, and its dense control."""
        final = float(self.final.value)
        hit = ref.nearest("01/sweep/", "sparsity", final)
        if hit is None:
            return []
        if hit["metrics"].get("params") != self.base.count_params():
            return ["The lesson's sweep pruned lesson 00's MLP; this model differs, so there is no reference for it."]
        s, m = hit["settings"]["sparsity"], hit["metrics"]
        if s == 0:
            what = "dense control (no pruning)"
        elif math.isclose(s, final, abs_tol=0.005):
            what = f"pruned to {s:.0%}"
        else:
            what = f"pruned to {s:.0%} (the swept sparsity nearest your {final:.0%})"
        lines = [
            f"{what}, gradual schedule over {hit['settings'].get('epochs', '?')} epochs: accuracy {_pct(m)}, "
            f"{_count(m, 'nonzeros')} nonzeros, .tflite gzipped {_count(m, 'tflite_gz')} B"
        ]
        control = ref.entry("01/sweep/0.0")
        if control is not None and control is not hit:
            c = control["metrics"]
            lines.append(
                f"dense control, same fine-tuning: accuracy {_pct(c)}, .tflite gzipped {_count(c, 'tflite_gz')} B"
            )
        return lines

    def run(self):
        """The Run button: prune + fine-tune + measure + log; errors become a message."""

        def action():
            progress = [_Progress(self.progress, self.status)]
            settings, epochs = self.settings(), int(self.epochs.value)
            return magnitude.explorer_run(
                settings, self.base, self.finetune_data, self.eval_data, epochs, callbacks=progress
            )

        def report(result):
            m, entry = result
            self._report_point(m, entry, f"{m.nonzeros:,} nonzeros, .tflite gz {m.tflite_gz:,} B")

        return self._guarded_run("pruning and fine-tuning …", action, report)

    def panel(self) -> w.Widget:
        left = w.VBox(
            [self.kind, self.initial, self.final, self.begin, self.end, self.frequency, self.power, self.epochs],
            layout=w.Layout(flex="0 0 auto"),  # never squeezed by the plot beside it (Voila, narrow windows)
        )
        run_row = w.HBox([self.run_button, self.progress, self.status])
        return w.VBox([w.HBox([left, self.curve]), self.message, self.reference, run_row, self.board])
