"""Lesson 03's distillation explorer: soft targets at a temperature live, Run trains a student."""

from __future__ import annotations

import dataclasses

import ipywidgets as w
import numpy as np

from .. import i18n, measure, precomputed, results
from ..ui.explorer import _Explorer, _message, _num, _pct, _Progress
from . import distiller, figures, studies

# ----------------------------------------------------------------------------- the explorer's logic (no widgets)


@dataclasses.dataclass
class View:
    """What the distillation explorer shows for one setting, computed without training."""

    temperature: float
    alpha: float
    image_index: int
    probabilities: np.ndarray | None  # softmax(teacher / T) of the chosen image
    label: int
    problems: list[str]
    cell: tuple[int, int] | None  # the grid cell nearest the setting
    grid_accuracy: float | None


def explorer_view(logits: np.ndarray, labels: np.ndarray, index: int, temperature, alpha, grid: studies.Grid | None) -> View:
    """Soft targets of image ``index`` at ``temperature`` and where the setting sits on ``grid``."""
    found = distiller.problems(temperature, alpha)
    if not 0 <= int(index) < len(logits):
        found.append(f"Image {index} does not exist; choose 0 to {len(logits) - 1}.")
    if found:
        return View(float("nan"), float("nan"), int(index), None, -1, found, None, None)
    temperature, alpha = float(temperature), float(alpha)
    probs = distiller.soft_targets(logits[int(index)], temperature)
    cell = grid.nearest(temperature, alpha) if grid is not None else None
    grid_acc = float(grid.val_accuracy[cell]) if cell is not None else None
    return View(temperature, alpha, int(index), probs, int(labels[int(index)]), [], cell, grid_acc)


def explorer_run(
    train_data,
    eval_data,
    logits_train,
    temperature,
    alpha,
    labels_per_class,
    *,
    epochs=None,
    seed=0,
    callbacks=(),
    record=True,
):
    """The Run button: train one distilled student on ``train_data`` (the fast subset), measure
    it on ``eval_data``'s test set, add it to the results log. Returns (Measurement, entry)."""
    temperature, alpha = distiller.check(temperature, alpha)
    epochs = epochs or distiller.student_epochs(train_data)
    run = distiller.fit_student(
        train_data, "distilled", seed, epochs, labels_per_class, logits_train, alpha, temperature, callbacks=callbacks
    )
    labels = "all labels" if labels_per_class is None else f"{labels_per_class} labels/class"
    name = f"student distilled T={temperature:g} α={alpha:g}, {labels} (explorer)"
    m = measure.measure(name, eval_data, run.model)
    entry = {}
    if record:
        entry = results.record(
            "distillation", name, m,
            {"temperature": temperature, "alpha": alpha, "labels_per_class": labels_per_class, "epochs": epochs,
             "seed": seed, "trained_on": f"{train_data.mode} subset"},
            lesson="03", key=f"03/explorer/{name}/T{temperature}/a{alpha}/n{labels_per_class}/e{epochs}/s{seed}",
            data=eval_data,
        )  # fmt: skip
    return m, entry


# ----------------------------------------------------------------------------- the panel


class DistillationExplorer(_Explorer):
    """Lesson 03's distillation explorer.

    Live (no training): the teacher's soft targets for a chosen test image at temperature T,
    and the lesson's validation grid with the current (T, alpha) marked. Run trains one
    distilled student on ``train_data`` (the fast subset, seconds), measures it on
    ``eval_data``'s test set and adds it to the board and the results log.
    """

    settings_error = distiller.DistillationSettingsError
    board_title = "Distilled students on the board"
    reference_lesson = "03"

    def __init__(
        self, teacher, train_data, eval_data, grid=None, labels_per_class: int | None = 20,
        temperature: float = 4.0, alpha: float = 0.1, image: int = 0,
    ):  # fmt: skip
        self.teacher, self.train_data, self.eval_data = teacher, train_data, eval_data
        self.grid, self.labels_per_class = grid, labels_per_class
        self.test_logits = distiller.teacher_logits(teacher, eval_data.x_test)
        style = {"description_width": "90px"}
        layout = w.Layout(width="330px")
        self.image = w.IntSlider(
            image, min=0, max=len(eval_data.x_test) - 1, description=i18n.t("test image"), style=style, layout=layout
        )
        self.temperature = w.FloatSlider(
            temperature, min=0, max=20, step=0.5, description=i18n.t("temperature T"), style=style, layout=layout
        )
        self.alpha = w.FloatSlider(
            alpha, min=-0.25, max=1.25, step=0.05, description=i18n.t("alpha"), style=style, layout=layout
        )
        self.view = w.Output()
        self._run_row("Run: train a student", progress_width="200px")
        self.last_view = None
        self.reference_grid = self._load_reference_grid()
        grid_title = ""
        if self.grid is None and self.reference_grid is not None:  # no grid computed here: show the full-mode one
            self.grid, grid_title = self.reference_grid, "validation accuracy (%), 1 seed\nfull mode, precomputed"
        self._figure = figures.DistillationFigure(eval_data.class_names, self.grid, grid_title=grid_title)
        for control in (self.image, self.temperature, self.alpha):
            control.observe(lambda _change: self.update(), names="value")
        self.run_button.on_click(lambda _button: self.run())
        self.update()
        self._draw_board()

    def update(self) -> View:
        """Re-validate and redraw the soft targets and the grid marker: cheap, on every change."""
        view = explorer_view(
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

    def _load_reference_grid(self) -> studies.Grid | None:
        """Lesson 03's full-mode validation grid for this many labels per class, if precomputed."""
        found = self.reference_data.grid(self.labels_per_class) if self.reference_data is not None else None
        if found is None:
            return None
        try:
            return studies.Grid.from_dict(found)
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
            distiller.check(self.temperature.value, self.alpha.value)
            logits = distiller.teacher_logits(self.teacher, self.train_data.x_train)
            return explorer_run(
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
