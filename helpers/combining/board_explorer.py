"""Lesson 04's board explorer: every logged experiment on one size-vs-accuracy board you can
filter, point at (click a marker: its recipe; hover: its name) and export from."""

from __future__ import annotations

import html
import traceback
import warnings

import ipywidgets as w
from IPython.display import display

from .. import i18n, precomputed, results
from ..ui import layout
from ..ui.caption import Caption
from ..ui.explorer import _load_references, _message
from ..ui.pointable_board import PointableBoard
from . import export


class BoardExplorer:
    """Lesson 04's board: every logged experiment on this data set, filtered by technique, on a
    size or latency axis with the Pareto frontier; click a marker (or pick it in the drop-down) to
    read its recipe and export it, hover to read its name; or export the best model under a size
    budget. An empty or partly damaged log gives a message, not an error.

    The full-mode reference of lessons 00-04 (``data/precomputed/``) can be shown as its own grey
    layer, labelled as such and never mixed into your points, frontier or export.
    """

    AXES = [("gzipped size", "tflite_gz"), ("stored size", "tflite_bytes"), ("latency b=1", "latency_b1_us")]
    NONE = "(none)"  # the point drop-down's first option: nothing picked

    def __init__(self, data, budget: str = "25 KB"):
        self.data = data
        self.techniques = w.SelectMultiple(options=[], rows=6, description=i18n.t("techniques"))
        self.axis = w.ToggleButtons(options=[(i18n.t(label), key) for label, key in self.AXES], value="tflite_gz")
        self.point = w.Dropdown(options=[(i18n.t(self.NONE), "")], value="", description=i18n.t("point"), layout=w.Layout(width="460px"))
        self.recipe = Caption()
        self.message = Caption()
        self.board = PointableBoard(on_pick=self.pick, on_hover=self._hovered)
        self.chart = self.board.image  # the board, a PNG you can click (helpers/ui/pointable_board.py)
        self.hover = Caption("<span style='color:#78909c'>Click a marker to read its recipe; hover to read its name.</span>")
        self.last_figure = None
        self.budget = w.Text(budget, description=i18n.t("size budget"), layout=w.Layout(width="220px"))
        self.export_button = w.Button(description=i18n.t("Export best under budget"), icon="download")
        self.export_picked_button = w.Button(description=i18n.t("Export the picked point"), icon="download", disabled=True)
        self.reload_button = w.Button(description=i18n.t("Reload log"), icon="refresh")
        self.status = Caption()
        self.show_reference = w.Checkbox(
            value=True, description=i18n.t("show the {label} reference", label=i18n.t(precomputed.LABEL)), indent=False
        )
        self.entries: list[dict] = []
        self.reference_entries: list[dict] = []
        self.last_export = None
        self.reload()
        for control in (self.techniques, self.axis, self.point, self.show_reference):
            control.observe(lambda _change: self.update(), names="value")
        self.export_button.on_click(lambda _b: self.export())
        self.export_picked_button.on_click(lambda _b: self.export_picked())
        self.reload_button.on_click(lambda _b: self.reload())

    def reload(self):
        """Read the log again (new runs from other lessons show up)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the damaged-lines warning becomes the panel's message
            log = results.load(data=self.data)
        self.entries = list(log)
        refs, problems = _load_references(tuple(precomputed.LESSONS))
        same_data = self.data.name == precomputed.DATA
        self.reference_entries = [e for ref in refs for e in ref.entries] if same_data else []
        self.show_reference.disabled = not self.reference_entries
        notes = [log.report()] if log.damaged_lines else []
        notes += problems
        if not self.entries:
            notes.append(
                f"No experiments logged for {self.data.name} ({self.data.mode} mode) yet: run a lesson to add points."
                + (" The grey points are the full-mode reference (precomputed)." if self.reference_entries else "")
            )
        if refs and not same_data:
            notes.append(f"The full-mode reference is Fashion-MNIST, so it is not drawn on a {self.data.name} board.")
        self.message.value = _message("note", notes)
        found = sorted({e["technique"] for e in self.entries} | {e["technique"] for e in self.reference_entries})
        self._updating = True
        self.techniques.options = found
        self.techniques.value = tuple(found)
        self._updating = False
        return self.update()

    def visible(self) -> list[dict]:
        """Your experiments of the chosen techniques (what export chooses from)."""
        chosen = set(self.techniques.value)
        return [e for e in self.entries if e["technique"] in chosen]

    def visible_reference(self) -> list[dict]:
        """The full-mode reference entries of the chosen techniques, when shown."""
        if not self.show_reference.value:
            return []
        chosen = set(self.techniques.value)
        return [e for e in self.reference_entries if e["technique"] in chosen]

    def update(self):
        if getattr(self, "_updating", False):
            return None
        shown, reference = self.visible(), self.visible_reference()
        options = [(i18n.t(self.NONE), "")] + [(e["name"][:70], e["id"]) for e in shown if e.get("id")]
        options += [(f"[{precomputed.LABEL}] {e['name']}"[:90], e["id"]) for e in reference]
        current = self.point.value if self.point.value in {v for _, v in options} else ""
        self._updating = True
        self.point.options, self.point.value = options, current
        self._updating = False
        picked = next((e for e in shown + reference if e.get("id") == current), None)
        self.recipe.value = self._recipe_html(picked) if picked else ""
        self.picked = picked
        self.export_picked_button.disabled = not (picked and not picked.get("reference") and results.artifact_path(picked))
        title = f"{len(shown)} experiments, {self.data.name} ({self.data.mode} mode)"
        if reference:
            title += f" + {len(reference)} full-mode reference"
        self.last_figure = self.board.draw(shown, highlight=[current] if current else [], size_key=self.axis.value,
                                           title=title, reference=reference)  # fmt: skip
        return picked

    def pick(self, entry: dict):
        """Select ``entry`` (a click on its marker): its recipe shows, it is ringed, Export takes it."""
        if entry.get("id") in {v for _, v in self.point.options}:
            self.point.value = entry["id"]  # redraws through update()
        return self.picked

    def _hovered(self, entry):
        if entry is None:
            self.hover.value = "<span style='color:#78909c'>Click a marker to read its recipe.</span>"
            return
        m = entry["metrics"]
        self.hover.value = (
            f"<b>{html.escape(entry['name'])}</b> · {html.escape(str(entry.get('technique')))} · "
            f"{m.get('tflite_gz', 0):,} B gz · {m.get('tflite_accuracy', float('nan')):.2%}"
            + (" · full-mode reference" if entry.get("reference") else "")
            + " — click to pick"
        )

    def export_picked(self):
        """The picked point's .tflite and model card, written and re-measured (a reference cannot be)."""
        entry = getattr(self, "picked", None)
        if entry is None:
            self.status.value = _message("error", ["Pick a point first: click its marker or choose it in the list."])
            return None
        if entry.get("reference"):
            self.status.value = _message("error", ["A full-mode reference point has no file here: run lesson 04 "
                                                   "to make that model, then pick your own point."])  # fmt: skip
            return None
        return self._export(entry)

    @staticmethod
    def _recipe_html(e: dict) -> str:
        m = e["metrics"]
        rows = [(i18n.t("technique"), e.get("technique")), (i18n.t("lesson"), e.get("lesson"))]
        if e.get("reference"):
            rows.append((i18n.t("from"), i18n.t("{label} (data/precomputed/), not your run", label=i18n.t(precomputed.LABEL))))
        rows += list((e.get("settings") or {}).items())
        rows += [(i18n.t("accuracy"), f"{m.get('tflite_accuracy', float('nan')):.2%}")]
        rows += [
            (k, f"{m[k]:,}") for k in ("tflite_bytes", "tflite_gz", "params", "nonzeros") if isinstance(m.get(k), int)
        ]
        if isinstance(m.get("latency_b1_us"), (int, float)):
            rows.append((i18n.t("latency b=1"), f"{m['latency_b1_us']:.1f} µs"))
        if e.get("reference"):
            rows.append((i18n.t("exportable"), i18n.t("no (a reference result: run lesson 04 to make this model here)")))
        else:
            rows.append((i18n.t("exportable"), i18n.t("yes") if results.artifact_path(e) else i18n.t("no (no saved .tflite)")))
        body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<b>{html.escape(e['name'])}</b><table>{body}</table>"

    def export(self):
        """The Export button: best exportable model under the budget, written and re-measured."""
        try:
            entry = export.best_under_budget(self.visible(), self.budget.value, size_key="tflite_gz")
        except export.ExportError as exc:
            self.status.value = _message("error", [str(exc)])
            return self.last_export
        return self._export(entry)

    def _export(self, entry):
        try:
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
        controls = w.VBox([self.techniques, self.axis, self.point, w.HBox([self.reload_button, self.show_reference]),
                           self.recipe])  # fmt: skip
        board = w.HBox([w.VBox([self.chart, self.hover]), controls])
        export_row = w.HBox([self.budget, self.export_button, self.export_picked_button, self.status])
        return w.VBox([self.message, board, export_row, self.board.markers])

    def _ipython_display_(self):
        display(layout.presentable(self.panel()))


