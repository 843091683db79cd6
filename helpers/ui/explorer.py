"""What every explorer panel shares (``_Explorer``: a guarded Run, the board of your runs, the
full-mode reference line, display as a presentable panel) and its small pieces. Each lesson's
explorer lives beside its technique: pruning_explorer (01), speed_explorer (01b),
quantization_explorer (02), lowbit_explorer (02b), distillation_explorer (03), board_explorer (04),
fit_explorer (05).

A panel never shows a traceback: bad settings and failed runs become a message in the panel,
and everything computed before (the board, earlier points) stays. Cheap views update on every
change; anything that trains sits behind a Run button with a progress bar.
"""

from __future__ import annotations

import html
import traceback
import warnings

import ipywidgets as w
import tf_keras as keras
from IPython.display import display

from .. import i18n, precomputed, results
from . import layout, pointable_board
from .caption import Caption


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
        self.label.value = i18n.t("epoch {epoch}/{epochs}", epoch=epoch + 1, epochs=self.params["epochs"]) + (
            i18n.t(" · train accuracy {accuracy}", accuracy=f"{acc:.1%}") if acc else ""
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
        self.status.value = i18n.t(busy)
        try:
            result = action()
            report(result)
        except self.settings_error as exc:
            self.message.value = _message("error", [str(exc)])
        except Exception as exc:  # a failed run must not cost the panel or the board
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.status.value = _message(
                "error", [i18n.t("The run failed: {error}. Earlier points are kept; try other settings.", error=last)]
            )
        finally:
            self.run_button.disabled = bool(self._problems())
        return self.last_result

    def _run_row(self, label: str, progress_width: str = "240px"):
        """The widgets every explorer has: message line, Run button, progress, status, board."""
        self.message = Caption()
        self.run_button = w.Button(description=i18n.t(label), button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width=progress_width))
        self.status = Caption()
        # the board of your runs: a PNG you can point at (click or hover a marker: what it is)
        self.pointable = pointable_board.PointableBoard(on_pick=self._board_point, on_hover=self._board_point)
        self.board_note = Caption(self.pointable.hint)
        self.board = w.VBox([self.pointable.image, self.pointable.picker, self.board_note, self.pointable.markers])
        self.last_result = None
        self.reference = Caption()  # the full-mode result for the current setting, from data/precomputed/
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
            f"<div style='color:#37474f'><b>{html.escape(i18n.t(precomputed.LABEL).capitalize())}</b> "
            f"<span style='color:#78909c'>({html.escape(self.reference_data.describe())})</span>"
            f"<ul style='margin:2px 0'>{items}</ul></div>"
        )

    def _problems(self) -> list[str]:
        view = getattr(self, "last_view", None) or getattr(self, "last_preview", None)
        return view.problems if view else []

    def _report_point(self, m, entry, detail: str):
        """After a Run that measured a model: say what it gave (its name and accuracy as the results log holds
        them in ``entry``, then ``detail``) and put it on the board."""
        self.last_result = m
        self.status.value = (
            f"<b>{html.escape(str(entry.get('name', '')))}</b>: accuracy {_pct(entry.get('metrics') or {})}, "
            f"{html.escape(detail)} — added to the board"
        )  # a Caption: in a Chinese notebook the whole line comes from its template
        self._draw_board(highlight=entry.get("id"))

    def _draw_board(self, highlight=None):
        self.pointable.draw(
            results.load(data=self.board_data), highlight=[highlight] if highlight else [], title=self.board_title,
            reference=self._board_reference(),
        )  # fmt: skip

    def _board_point(self, entry):
        """A marker clicked or hovered: what it is, from the results log (name, technique, size, ...)."""
        self.board_note.value = pointable_board.describe(entry) if entry else self.pointable.hint

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

    def _display(self, obj):
        """Show ``obj`` in the cell's output (tests and tools/bench.py replace ``widgets.display``)."""
        display(obj)

    def _ipython_display_(self):
        display(layout.presentable(self.panel()))

