"""Widget panels for the lessons' explorers, built from the pieces in the other modules.

A panel never shows a traceback: bad settings and failed runs become a message in the panel,
and everything computed before (the board, earlier points) stays. Cheap views update on every
change; anything that trains sits behind a Run button with a progress bar.
"""

from __future__ import annotations

import html
import traceback
import warnings

import ipywidgets as w
import matplotlib.pyplot as plt
import tf_keras as keras
from IPython.display import display

from . import distillation, export, measure, plots, pruning, quantization, results


def _message(kind: str, lines: list[str]) -> str:
    if not lines:
        return ""
    color = {"error": "#b00020", "note": "#8a5a00", "ok": "#1b5e20"}[kind]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<div style='color:{color}'><ul style='margin:2px 0'>{items}</ul></div>"


class _Progress(keras.callbacks.Callback):
    """Moves an IntProgress bar as training runs (the bar updates while the cell is busy)."""

    def __init__(self, bar: w.IntProgress, label: w.HTML):
        super().__init__()
        self.bar, self.label = bar, label

    def on_train_begin(self, logs=None):
        self.bar.max = max(1, self.params["epochs"] * (self.params.get("steps") or 1))
        self.bar.value = 0

    def on_train_batch_end(self, batch, logs=None):
        self.bar.value += 1

    def on_epoch_end(self, epoch, logs=None):
        acc = (logs or {}).get("accuracy")
        self.label.value = f"epoch {epoch + 1}/{self.params['epochs']}" + (
            f" · train accuracy {acc:.1%}" if acc else ""
        )


class _Explorer:
    """What every explorer panel shares: a guarded Run (no traceback reaches the reader and
    earlier points stay), the board of this data set's runs, display as a panel. Subclasses set
    ``settings_error``, ``board_title``, ``board_data`` and ``_problems()``."""

    settings_error: type[Exception] = ValueError
    board_title = "Your runs on the board"

    def _guarded_run(self, busy: str, action, report):
        """Disable Run and call ``action()``; ``report(result)`` says what it gave. A settings
        error goes to the message line, any other failure to the status line."""
        if self.run_button.disabled:
            return None
        self.run_button.disabled = True
        self.status.value = busy
        try:
            result = action()
            report(result)
        except self.settings_error as exc:
            self.message.value = _message("error", [str(exc)])
        except Exception as exc:  # a failed run must not cost the panel or the board
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.status.value = _message(
                "error", [f"The run failed: {last}. Earlier points are kept; try other settings."]
            )
        finally:
            self.run_button.disabled = bool(self._problems())
        return self.last_result

    def _run_row(self, label: str, progress_width: str = "240px"):
        """The widgets every explorer has: message line, Run button, progress, status, board."""
        self.message = w.HTML()
        self.run_button = w.Button(description=label, button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width=progress_width))
        self.status = w.HTML()
        self.board = w.Output()
        self.last_result = None

    @property
    def board_data(self):
        return self.eval_data

    def _problems(self) -> list[str]:
        view = getattr(self, "last_view", None) or getattr(self, "last_preview", None)
        return view.problems if view else []

    def _report_point(self, m, entry, detail: str):
        """After a Run that measured a model: say what it gave and put it on the board."""
        self.last_result = m
        self.status.value = (
            f"<b>{html.escape(m.name)}</b>: accuracy {m.tflite_accuracy:.2%}, {detail} — added to the board"
        )
        self._draw_board(highlight=entry.get("id"))

    def _draw_board(self, highlight=None):
        with self.board:
            self.board.clear_output(wait=True)
            fig = plots.board(
                results.load(data=self.board_data), highlight=[highlight] if highlight else [], title=self.board_title
            )
            display(fig)
            plt.close(fig)

    def _ipython_display_(self):
        display(self.panel())


class ScheduleExplorer(_Explorer):
    """Lesson 01's sparsity-schedule explorer.

    The curve is TF-MOT's own schedule object evaluated at every step, with the epoch
    boundaries marked. Run prunes and fine-tunes ``base`` on ``finetune_data`` (the fast
    subset, so it answers in seconds), measures on ``eval_data`` and adds the point to the board
    and the results log.
    """

    def __init__(
        self, base, finetune_data, eval_data, defaults: pruning.ScheduleSettings | None = None, epochs: int = 4
    ):
        self.base, self.finetune_data, self.eval_data = base, finetune_data, eval_data
        self.steps_in_epoch = pruning.steps_per_epoch(len(finetune_data.x_train))
        d = defaults or pruning.ScheduleSettings(
            "polynomial", 0.5, 0.9, 0, int(0.7 * epochs * self.steps_in_epoch), max(1, self.steps_in_epoch // 4), 3.0
        )
        most = 10 * self.steps_in_epoch
        style = {"description_width": "110px"}
        layout = w.Layout(width="360px")
        self.kind = w.ToggleButtons(
            options=[("PolynomialDecay", "polynomial"), ("ConstantSparsity", "constant")], value=d.kind
        )
        self.initial = w.FloatSlider(
            d.initial_sparsity, min=0, max=1, step=0.01, description="initial sparsity", style=style, layout=layout
        )
        self.final = w.FloatSlider(
            d.final_sparsity, min=0, max=1, step=0.01, description="final sparsity", style=style, layout=layout
        )
        self.begin = w.IntSlider(d.begin_step, min=0, max=most, description="begin step", style=style, layout=layout)
        self.end = w.IntSlider(d.end_step, min=0, max=most, description="end step", style=style, layout=layout)
        self.frequency = w.IntSlider(d.frequency, min=0, max=200, description="frequency", style=style, layout=layout)
        self.power = w.FloatSlider(d.power, min=0, max=6, step=0.5, description="power", style=style, layout=layout)
        self.epochs = w.IntSlider(epochs, min=1, max=10, description="epochs", style=style, layout=layout)
        self.curve = w.Output()
        self._run_row("Run: prune + fine-tune")
        self.last_preview: pruning.Preview | None = None
        for control in self._controls():
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def _controls(self):
        return [self.kind, self.initial, self.final, self.begin, self.end, self.frequency, self.power, self.epochs]

    def settings(self) -> pruning.ScheduleSettings:
        return pruning.ScheduleSettings(
            kind=self.kind.value,
            initial_sparsity=round(float(self.initial.value), 4),
            final_sparsity=round(float(self.final.value), 4),
            begin_step=int(self.begin.value),
            end_step=int(self.end.value),
            frequency=int(self.frequency.value),
            power=float(self.power.value),
        )

    def update(self) -> pruning.Preview:
        """Re-validate and redraw the curve: cheap, runs on every change."""
        polynomial = self.kind.value == "polynomial"
        self.initial.disabled = self.power.disabled = self.end.disabled = not polynomial
        preview = pruning.explorer_preview(self.settings(), self.steps_in_epoch, int(self.epochs.value))
        self.last_preview = preview
        self.message.value = _message("error", preview.problems) + _message("note", preview.notes)
        self.run_button.disabled = bool(preview.problems)
        with self.curve:
            self.curve.clear_output(wait=True)
            if not preview.problems:
                fig = plots.schedule_curve(preview, title=self.settings().describe())
                display(fig)
                plt.close(fig)
        return preview

    settings_error = pruning.PruningSettingsError
    board_title = "Your pruning runs on the board"

    def run(self):
        """The Run button: prune + fine-tune + measure + log; errors become a message."""

        def action():
            progress = [_Progress(self.progress, self.status)]
            settings, epochs = self.settings(), int(self.epochs.value)
            return pruning.explorer_run(
                settings, self.base, self.finetune_data, self.eval_data, epochs, callbacks=progress
            )

        def report(result):
            m, entry = result
            self._report_point(m, entry, f"{m.nonzeros:,} nonzeros, .tflite gz {m.tflite_gz:,} B")

        return self._guarded_run("pruning and fine-tuning …", action, report)

    def panel(self) -> w.Widget:
        left = w.VBox(
            [self.kind, self.initial, self.final, self.begin, self.end, self.frequency, self.power, self.epochs]
        )
        run_row = w.HBox([self.run_button, self.progress, self.status])
        return w.VBox([w.HBox([left, self.curve]), self.message, run_row, self.board])


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
        self.layer = w.Dropdown(options=names, value=names[0], description="layer", style=style)
        self.bits = w.IntSlider(bits, min=1, max=10, description="weight bits", style=style)
        self.per_channel = w.ToggleButtons(options=[("per-channel", True), ("per-tensor", False)], value=True)
        self.symmetric = w.ToggleButtons(options=[("symmetric", True), ("asymmetric", False)], value=True)
        self.view = w.Output()
        self._run_row("Run: whole model")  # no progress bar shown: the run takes a second
        self.last_view = None
        self._figure = plots.QuantizationGridFigure()
        for control in (self.layer, self.bits, self.per_channel, self.symmetric):
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def update(self):
        view = quantization.explorer_view(
            self.model, self.layer.value, int(self.bits.value), bool(self.per_channel.value), bool(self.symmetric.value)
        )
        self.last_view = view
        self.message.value = _message("error", view.problems)
        self.run_button.disabled = bool(view.problems)
        with self.view:
            self.view.clear_output(wait=True)
            if not view.problems:
                display(self._figure.update(view))
        return view

    settings_error = quantization.QuantizationSettingsError
    board_title = "Quantization on the board"

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
            return quantization.explorer_run(self.model, self.data, bits, per_channel, symmetric)

        def report(result):
            metrics, entry = result
            self.last_result = metrics
            self.status.value = (
                f"<b>{html.escape(entry.get('name', ''))}</b>: accuracy {metrics['tflite_accuracy']:.2%}, "
                f"packed {metrics['packed_bytes']:,} B — added to the board"
            )
            self._draw_board(highlight=entry.get("id"))

        return self._guarded_run("fake-quantizing every kernel and evaluating …", action, report)

    def panel(self) -> w.Widget:
        controls = w.VBox([self.layer, self.bits, self.per_channel, self.symmetric])
        return w.VBox([w.HBox([controls, self.view]), self.message, w.HBox([self.run_button, self.status]), self.board])


class DistillationExplorer(_Explorer):
    """Lesson 03's distillation explorer.

    Live (no training): the teacher's soft targets for a chosen test image at temperature T,
    and the lesson's validation grid with the current (T, alpha) marked. Run trains one
    distilled student on ``train_data`` (the fast subset, seconds), measures it on
    ``eval_data``'s test set and adds it to the board and the results log.
    """

    settings_error = distillation.DistillationSettingsError
    board_title = "Distilled students on the board"

    def __init__(
        self, teacher, train_data, eval_data, grid=None, labels_per_class: int | None = 20,
        temperature: float = 4.0, alpha: float = 0.1, image: int = 0,
    ):  # fmt: skip
        self.teacher, self.train_data, self.eval_data = teacher, train_data, eval_data
        self.grid, self.labels_per_class = grid, labels_per_class
        self.test_logits = distillation.teacher_logits(teacher, eval_data.x_test)
        style = {"description_width": "90px"}
        layout = w.Layout(width="330px")
        self.image = w.IntSlider(
            image, min=0, max=len(eval_data.x_test) - 1, description="test image", style=style, layout=layout
        )
        self.temperature = w.FloatSlider(
            temperature, min=0, max=20, step=0.5, description="temperature T", style=style, layout=layout
        )
        self.alpha = w.FloatSlider(
            alpha, min=-0.25, max=1.25, step=0.05, description="alpha", style=style, layout=layout
        )
        self.view = w.Output()
        self._run_row("Run: train a student", progress_width="200px")
        self.last_view = None
        self._figure = plots.DistillationFigure(eval_data.class_names, grid)
        for control in (self.image, self.temperature, self.alpha):
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def update(self) -> distillation.View:
        """Re-validate and redraw the soft targets and the grid marker: cheap, on every change."""
        view = distillation.explorer_view(
            self.test_logits, self.eval_data.y_test, int(self.image.value), self.temperature.value,
            self.alpha.value, self.grid,
        )  # fmt: skip
        self.last_view = view
        notes = []
        if not view.problems and view.grid_accuracy is not None:
            t, a = self.grid.temperatures[view.cell[0]], self.grid.alphas[view.cell[1]]
            notes.append(
                f"Nearest grid cell T={t:g}, alpha={a:g}: validation accuracy {view.grid_accuracy:.2%} "
                f"(one seed, {self._labels_text()}). Press Run to train this exact setting."
            )
        self.message.value = _message("error", view.problems) + _message("note", notes)
        self.run_button.disabled = bool(view.problems)
        with self.view:
            self.view.clear_output(wait=True)
            if not view.problems:
                display(self._figure.update(view))
        return view

    def _labels_text(self) -> str:
        return "all labels" if self.labels_per_class is None else f"{self.labels_per_class} labelled images per class"

    def run(self):
        """The Run button: train + measure + log one distilled student; errors become a message."""

        def action():
            distillation.check(self.temperature.value, self.alpha.value)
            logits = distillation.teacher_logits(self.teacher, self.train_data.x_train)
            return distillation.explorer_run(
                self.train_data, self.eval_data, logits, self.temperature.value, self.alpha.value,
                self.labels_per_class, callbacks=[_Progress(self.progress, self.status)],
            )  # fmt: skip

        def report(result):
            m, entry = result
            self._report_point(m, entry, f"{m.params:,} parameters, .tflite gz {m.tflite_gz:,} B")

        return self._guarded_run(f"training a student on the {self.train_data.mode} subset …", action, report)

    def panel(self) -> w.Widget:
        controls = w.VBox([self.image, self.temperature, self.alpha])
        run_row = w.HBox([self.run_button, self.progress, self.status])
        return w.VBox([controls, self.view, self.message, run_row, self.board])


class BoardExplorer:
    """Lesson 04's board: every logged experiment on this data set, filtered by technique, on a
    size or latency axis with the Pareto frontier; pick a point to read its recipe; export the
    best model under a size budget. An empty or partly damaged log gives a message, not an error.
    """

    AXES = [("gzipped size", "tflite_gz"), ("stored size", "tflite_bytes"), ("latency b=1", "latency_b1_us")]

    def __init__(self, data, budget: str = "25 KB"):
        self.data = data
        self.techniques = w.SelectMultiple(options=[], rows=6, description="techniques")
        self.axis = w.ToggleButtons(options=self.AXES, value="tflite_gz")
        self.point = w.Dropdown(options=[("(none)", "")], value="", description="point", layout=w.Layout(width="460px"))
        self.recipe = w.HTML()
        self.message = w.HTML()
        self.chart = w.Output()
        self.budget = w.Text(budget, description="size budget", layout=w.Layout(width="220px"))
        self.export_button = w.Button(description="Export best under budget", icon="download")
        self.reload_button = w.Button(description="Reload log", icon="refresh")
        self.status = w.HTML()
        self.entries: list[dict] = []
        self.last_export = None
        self.reload()
        for control in (self.techniques, self.axis, self.point):
            control.observe(lambda _change: self.update(), names="value")
        self.export_button.on_click(lambda _b: self.export())
        self.reload_button.on_click(lambda _b: self.reload())

    def reload(self):
        """Read the log again (new runs from other lessons show up)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the damaged-lines warning becomes the panel's message
            log = results.load(data=self.data)
        self.entries = list(log)
        notes = [log.report()] if log.damaged_lines else []
        if not self.entries:
            notes.append(
                f"No experiments logged for {self.data.name} ({self.data.mode} mode) yet: run a lesson to add points."
            )
        self.message.value = _message("note", notes)
        found = sorted({e["technique"] for e in self.entries})
        self._updating = True
        self.techniques.options = found
        self.techniques.value = tuple(found)
        self._updating = False
        return self.update()

    def visible(self) -> list[dict]:
        chosen = set(self.techniques.value)
        return [e for e in self.entries if e["technique"] in chosen]

    def update(self):
        if getattr(self, "_updating", False):
            return None
        shown = self.visible()
        options = [("(none)", "")] + [(e["name"][:70], e["id"]) for e in shown if e.get("id")]
        current = self.point.value if self.point.value in {v for _, v in options} else ""
        self._updating = True
        self.point.options, self.point.value = options, current
        self._updating = False
        picked = next((e for e in shown if e.get("id") == current), None)
        self.recipe.value = self._recipe_html(picked) if picked else ""
        with self.chart:
            self.chart.clear_output(wait=True)
            fig = plots.board(shown, highlight=[current] if current else [], size_key=self.axis.value,
                              title=f"{len(shown)} experiments, {self.data.name} ({self.data.mode} mode)")  # fmt: skip
            display(fig)
            plt.close(fig)
        return picked

    @staticmethod
    def _recipe_html(e: dict) -> str:
        m = e["metrics"]
        rows = [("technique", e.get("technique")), ("lesson", e.get("lesson"))]
        rows += list((e.get("settings") or {}).items())
        rows += [("accuracy", f"{m.get('tflite_accuracy', float('nan')):.2%}")]
        rows += [
            (k, f"{m[k]:,}") for k in ("tflite_bytes", "tflite_gz", "params", "nonzeros") if isinstance(m.get(k), int)
        ]
        if isinstance(m.get("latency_b1_us"), (int, float)):
            rows.append(("latency b=1", f"{m['latency_b1_us']:.1f} µs"))
        rows.append(("exportable", "yes" if results.artifact_path(e) else "no (no saved .tflite)"))
        body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<b>{html.escape(e['name'])}</b><table>{body}</table>"

    def export(self):
        """The Export button: best exportable model under the budget, written and re-measured."""
        try:
            entry = export.best_under_budget(self.visible(), self.budget.value, size_key="tflite_gz")
            self.status.value = "exporting and re-measuring …"
            self.last_export = export.export(entry, self.data)
            self.status.value = _message("ok", [self.last_export.summary()])
        except export.ExportError as exc:
            self.status.value = _message("error", [str(exc)])
        except Exception as exc:  # a failed export must not cost the panel
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.status.value = _message("error", [f"The export failed: {last}."])
        return self.last_export

    def panel(self) -> w.Widget:
        controls = w.HBox([self.techniques, w.VBox([self.axis, self.point, self.reload_button])])
        export_row = w.HBox([self.budget, self.export_button, self.status])
        return w.VBox([controls, self.message, self.chart, self.recipe, export_row])

    def _ipython_display_(self):
        display(self.panel())
