"""Widget panels for the lessons' explorers, built from the pieces in the other modules.

A panel never shows a traceback: bad settings and failed runs become a message in the panel,
and everything computed before (the board, earlier points) stays. Cheap views update on every
change; anything that trains sits behind a Run button with a progress bar.
"""

from __future__ import annotations

import html
import math
import traceback
import warnings

import ipywidgets as w
import matplotlib.pyplot as plt
import tf_keras as keras
from IPython.display import display

from . import board_view, distillation, layout, measure, plots, precomputed, pruning, quantization, results


def _message(kind: str, lines: list[str]) -> str:
    if not lines:
        return ""
    color = {"error": "#b00020", "note": "#8a5a00", "ok": "#1b5e20"}[kind]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<div style='color:{color}'><ul style='margin:2px 0'>{items}</ul></div>"


def _pct(m: dict, key: str = "tflite_accuracy") -> str:
    return f"{m[key]:.2%}" if isinstance(m.get(key), (int, float)) else "?"


def _count(m: dict, key: str) -> str:
    return f"{m[key]:,}" if isinstance(m.get(key), (int, float)) else "?"


def _num(m: dict, key: str) -> str:
    return f"{m[key]:g}" if isinstance(m.get(key), (int, float)) else "?"


def _load_references(lessons) -> tuple[list, list[str]]:
    """The lessons' files from data/precomputed/ and, for damaged ones, the warning's text (for
    the panel's message line: the panel carries on without them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", precomputed.PrecomputedWarning)
        refs = precomputed.load_all(lessons)
    problems = []
    for c in caught:
        if issubclass(c.category, precomputed.PrecomputedWarning):
            problems.append(str(c.message))
        else:
            warnings.warn(c.message, c.category, stacklevel=2)
    return refs, problems


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
    reference_lesson = ""  # whose data/precomputed/ file the panel reads ("01" ...)

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
        # the board of your runs: a PNG you can point at (click or hover a marker: what it is)
        self.pointable = board_view.PointableBoard(on_pick=self._board_point, on_hover=self._board_point)
        self.board_note = w.HTML(board_view.HINT)
        self.board = w.VBox([self.pointable.image, self.board_note, self.pointable.markers])
        self.last_result = None
        self.reference = w.HTML()  # the full-mode result for the current setting, from data/precomputed/
        refs, problems = _load_references([self.reference_lesson] if self.reference_lesson else [])
        self.reference_data: precomputed.Reference | None = refs[0] if refs else None
        self.reference_problem = " ".join(problems)

    @property
    def board_data(self):
        return self.eval_data

    def _board_reference(self) -> list[dict]:
        """The lesson's full-mode entries, drawn as their own layer; only on a Fashion-MNIST board."""
        if self.reference_data is None or getattr(self.board_data, "name", None) != precomputed.DATA:
            return []
        return self.reference_data.entries

    def _reference_html(self, lines_for_setting) -> str:
        """The reference line: what the full-mode sweep gave for the current setting. Never raises:
        a file that parses but does not fit becomes a note, the panel works on."""
        if self.reference_problem:
            return _message("note", [self.reference_problem])
        if self.reference_data is None:
            return ""
        try:
            lines = lines_for_setting(self.reference_data)
        except Exception as exc:  # an odd file must not cost the panel
            return _message("note", [f"The precomputed reference could not be read ({exc!r}). " + precomputed.FIX])
        if not lines:
            return ""
        data_name = getattr(self.board_data, "name", None)
        if data_name != precomputed.DATA:
            lines.append(f"These are Fashion-MNIST numbers; this panel runs on {data_name}, so yours will differ "
                         "(and the reference is left off the board).")  # fmt: skip
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        return (
            f"<div style='color:#37474f'><b>{html.escape(precomputed.LABEL.capitalize())}</b> "
            f"<span style='color:#78909c'>({html.escape(self.reference_data.describe())})</span>"
            f"<ul style='margin:2px 0'>{items}</ul></div>"
        )

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
        self.pointable.draw(
            results.load(data=self.board_data), highlight=[highlight] if highlight else [], title=self.board_title,
            reference=self._board_reference(),
        )  # fmt: skip

    def _board_point(self, entry):
        """A marker clicked or hovered: what it is, from the results log (name, technique, size, ...)."""
        self.board_note.value = board_view.describe(entry) if entry else board_view.HINT

    def _show(self, view, message_html: str):
        """After a live update: the message, the reference line, Run enabled only for valid
        settings, and the view's figure redrawn in place (nothing drawn while settings are bad)."""
        self.message.value = message_html
        self.reference.value = self._reference_html(self._reference_lines)
        self.run_button.disabled = bool(view.problems)
        with self.view:
            self.view.clear_output(wait=True)
            if not view.problems:
                display(self._figure.update(view))
        return view

    def _ipython_display_(self):
        display(layout.presentable(self.panel()))


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
        self.reference.value = self._reference_html(self._reference_lines)
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
        near = "" if math.isclose(s, final, abs_tol=0.005) else f" (the swept sparsity nearest your {final:.0%})"
        what = "dense control (no pruning)" if s == 0 else f"pruned to {s:.0%}{near}"
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
            return pruning.explorer_run(
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
        return self._show(view, _message("error", view.problems))

    settings_error = quantization.QuantizationSettingsError
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
        controls = w.VBox([self.layer, self.bits, self.per_channel, self.symmetric], layout=w.Layout(flex="0 0 auto"))
        run_row = w.HBox([self.run_button, self.status])
        return w.VBox([w.HBox([controls, self.view]), self.message, self.reference, run_row, self.board])


class DistillationExplorer(_Explorer):
    """Lesson 03's distillation explorer.

    Live (no training): the teacher's soft targets for a chosen test image at temperature T,
    and the lesson's validation grid with the current (T, alpha) marked. Run trains one
    distilled student on ``train_data`` (the fast subset, seconds), measures it on
    ``eval_data``'s test set and adds it to the board and the results log.
    """

    settings_error = distillation.DistillationSettingsError
    board_title = "Distilled students on the board"
    reference_lesson = "03"

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
        self.reference_grid = self._load_reference_grid()
        grid_title = ""
        if self.grid is None and self.reference_grid is not None:  # no grid computed here: show the full-mode one
            self.grid, grid_title = self.reference_grid, "validation accuracy (%), 1 seed\nfull mode, precomputed"
        self._figure = plots.DistillationFigure(eval_data.class_names, self.grid, grid_title=grid_title)
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
        if not view.problems and view.grid_accuracy is not None and self.grid is not self.reference_grid:
            t, a = self.grid.temperatures[view.cell[0]], self.grid.alphas[view.cell[1]]
            notes.append(
                f"Nearest grid cell T={t:g}, alpha={a:g}: validation accuracy {view.grid_accuracy:.2%} "
                f"(one seed, {self._labels_text()}). Press Run to train this exact setting."
            )
        return self._show(view, _message("error", view.problems) + _message("note", notes))

    def _labels_text(self) -> str:
        return "all labels" if self.labels_per_class is None else f"{self.labels_per_class} labelled images per class"

    def _load_reference_grid(self) -> distillation.Grid | None:
        """Lesson 03's full-mode validation grid for this many labels per class, if precomputed."""
        found = self.reference_data.grid(self.labels_per_class) if self.reference_data is not None else None
        if found is None:
            return None
        try:
            return distillation.Grid.from_dict(found)
        except ValueError as exc:
            self.reference_problem = f"The precomputed grid is damaged ({exc}). " + precomputed.FIX
            return None

    def _reference_lines(self, ref: precomputed.Reference) -> list[str]:
        """The full-mode grid cell nearest (T, alpha), and the lesson's 3-seed students."""
        lines = []
        view, g = self.last_view, self.reference_grid
        if g is not None and view is not None and not view.problems:
            i, j = g.nearest(view.temperature, view.alpha)
            bt, ba = g.best
            lines.append(
                f"validation grid ({self._labels_text()}, one seed): nearest cell T={g.temperatures[i]:g}, "
                f"alpha={g.alphas[j]:g}: {g.val_accuracy[i, j]:.2%}; best cell T={bt:g}, alpha={ba:g}: "
                f"{g.val_accuracy.max():.2%}. Press Run to train this exact setting (fast subset)."
            )
        regime = "all labels" if self.labels_per_class is None else f"{self.labels_per_class} labels per class"
        kd, scratch = ref.entry(f"03/{regime}/distilled"), ref.entry(f"03/{regime}/scratch")
        if kd is not None and scratch is not None:
            k, s = kd["settings"], scratch["settings"]
            lines.append(
                f"the lesson's students, test accuracy over {k.get('seeds', '?')} seeds: distilled "
                f"(T={_num(k, 'temperature')}, alpha={_num(k, 'alpha')}) {_pct(k, 'mean_accuracy')} ± "
                f"{_pct(k, 'std_accuracy')}, from scratch {_pct(s, 'mean_accuracy')} ± {_pct(s, 'std_accuracy')}"
            )
        return lines

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
        return w.VBox([controls, self.view, self.message, self.reference, run_row, self.board])


def __getattr__(name: str):
    """``BoardExplorer`` lives in helpers/board_explorer.py (imported on first use: it imports this module)."""
    if name == "BoardExplorer":
        from .board_explorer import BoardExplorer

        return BoardExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
