"""A size-vs-accuracy board you can point at: click a marker to pick it, hover to read its name.

The board stays a matplotlib PNG (one figure redrawn in place, helpers/ui/board_figure.py: well
under 100 ms a redraw, see ``tools/bench.py``) shown in an ``ipywidgets.Image``; ``ipyevents`` reports where on the image
the mouse is, in the PNG's own pixels (``dataX``/``dataY``). The figure is saved without
``bbox_inches="tight"``, so a pixel maps back to data through the axes' own transform
(``ax.transData``): the nearest marker within ``PICK_RADIUS_PX`` is the one pointed at.

Without ipyevents' front end (a static render, an old install) the board still draws; only
pointing does nothing. Where a click cannot be read (no ipyevents, or Colab: its own widget front end,
ipywidgets 7.7.1 with a custom widget manager, in which ipyevents was not verified), ``picker`` — a
drop-down of the board's markers, hidden elsewhere — picks a point instead, and ``hint`` says so.
"""

from __future__ import annotations

import html
import json
import math
import sys

import ipywidgets as w

from .. import i18n, precomputed
from . import board_figure, board_plots

HINT = "<span style='color:#78909c'>Click or hover a marker on the board to read what it is.</span>"
PICK_RADIUS_PX = 14  # in the PNG's pixels: a marker is ~7 px across; a click this near picks it
PICKER_HINT = ("<span style='color:#78909c'>Clicks on the board cannot be read here (Colab's widget front end, "
               "or no ipyevents): choose a marker in the list under the board to read what it is.</span>")  # fmt: skip
PICK_PROMPT = "(choose a point on the board)"


def clicks_readable(modules=None) -> bool:
    """False where a click on the board may not reach Python: in Colab (``google.colab`` imported) or
    without ipyevents installed. There the board shows its ``picker`` drop-down instead."""
    modules = sys.modules if modules is None else modules
    if "google.colab" in modules:
        return False
    try:
        import ipyevents  # noqa: F401
    except ImportError:
        return False
    return True


class PointableBoard:
    """The board as a clickable image.

    ``on_pick(entry)`` is called with the results-log entry (a dict) nearest a click;
    ``on_hover(entry or None)`` as the mouse moves (throttled to one call per 80 ms).
    ``markers`` (a hidden ``HTML`` widget) lists every marker's position as a fraction of the
    image (``data-markers`` JSON: name, fx, fy), for tests and assistive tools.
    """

    def __init__(self, on_pick=None, on_hover=None):
        self.figure = board_figure.BoardFigure()
        self.image = w.Image(format="png", layout=w.Layout(width="100%"))
        self.image.add_class("wb-board")  # found by tests/test_browser.py beside its marker list
        self.markers = w.HTML(layout=w.Layout(display="none"))
        self.on_pick, self.on_hover = on_pick, on_hover
        self.points: list[tuple[float, float, dict]] = []  # (x, y) in PNG pixels from the top left
        self.size_px = (1, 1)
        self.events = None
        readable = clicks_readable()
        self._readable = readable
        # the fallback for pointing: every marker by name; shown only where clicks cannot be read
        self.picker = w.Dropdown(options=[(i18n.t(PICK_PROMPT), "")], value="", description=i18n.t("point"),
                                 layout=w.Layout(width="460px", display=None if not readable else "none"))  # fmt: skip
        self._by_key: dict[str, dict] = {}
        self.picker.observe(self._picked, "value")
        try:
            from ipyevents import Event
        except ImportError:  # pointing is a bonus: the board works without it
            return
        self.events = Event(source=self.image, watched_events=["click"], prevent_default_action=True)
        self.events.on_dom_event(self._event)
        self.hover_events = Event(
            source=self.image, watched_events=["mousemove"], wait=80, throttle_or_debounce="throttle"
        )
        self.hover_events.on_dom_event(self._event)


    @property
    def hint(self) -> str:
        """What to do with the board: click or hover, or the list where clicks cannot be read (English HTML: the
        explorer shows it in a ``Caption``, which gives it the notebook's language)."""
        return HINT if self._readable else PICKER_HINT

    def draw(self, entries, highlight=(), size_key="tflite_gz", title="", reference=()):
        """Redraw the board (one ``BoardFigure``, redrawn in place) and remember where each marker
        is. Returns the figure."""
        fig = self.figure.update(entries, highlight=highlight, size_key=size_key, title=title, reference=reference)
        self.image.value = self.figure.png()  # not "tight": pixels map back through transData
        self.points = self._positions(fig, list(entries) + list(reference), size_key)
        width, height = self.size_px
        listed = [{"name": e.get("name", ""), "fx": round(x / width, 4), "fy": round(y / height, 4)}
                  for x, y, e in self.points]  # fmt: skip
        self.markers.value = f"<span class='wb-markers' data-markers='{html.escape(json.dumps(listed))}'></span>"
        self._fill_picker()
        return fig

    def _fill_picker(self):
        """The picker lists the drawn markers (name, technique; the reference layer marked), keyed by
        position so two entries with one name stay apart. The current choice stays if still drawn."""
        by_key, options = {}, [(i18n.t(PICK_PROMPT), "")]
        for i, (_, _, e) in enumerate(self.points):
            key = f"{i}:{e.get('id', e.get('name', ''))}"
            label = f"{e.get('name', '?')} · {e.get('technique', '?')}" + (f" ({i18n.t(precomputed.LABEL)})" if e.get("reference") else "")
            by_key[key] = e
            options.append((label, key))
        current = self.picker.value if self.picker.value in by_key else ""
        self._by_key = by_key
        self.picker.unobserve(self._picked, "value")
        try:
            self.picker.options, self.picker.value = options, current
        finally:
            self.picker.observe(self._picked, "value")

    def _picked(self, change):
        entry = self._by_key.get(change["new"])
        if entry is not None and self.on_pick:
            self.on_pick(entry)

    def _positions(self, fig, entries, size_key):
        scale = board_plots.BOARD_AXES.get(size_key, (1.0, ""))[0]
        ax = fig.axes[0]
        height = fig.bbox.height  # Agg flips y with the figure's (fractional) height ...
        self.size_px = fig.canvas.get_width_height()  # ... and its PNG has this many whole pixels
        found = []
        for e in board_plots.usable_entries(entries, size_key):
            x, y = ax.transData.transform((board_plots.entry_size(e, size_key) * scale, e["metrics"]["tflite_accuracy"] * 100))
            if math.isfinite(x) and math.isfinite(y):
                found.append((float(x), float(height - y), e))  # PNG rows count from the top
        return found

    def nearest(self, x_px: float, y_px: float) -> dict | None:
        """The entry whose marker is nearest (x_px, y_px) in PNG pixels, if within PICK_RADIUS_PX."""
        best, best_d = None, PICK_RADIUS_PX
        for x, y, e in self.points:
            d = math.hypot(x - x_px, y - y_px)
            if d <= best_d:
                best, best_d = e, d
        return best

    def _pixel(self, event: dict) -> tuple[float, float] | None:
        if "dataX" in event and "dataY" in event:
            return float(event["dataX"]), float(event["dataY"])
        width, height = event.get("boundingRectWidth"), event.get("boundingRectHeight")
        if not width or not height or "relativeX" not in event:
            return None
        return event["relativeX"] * self.size_px[0] / width, event["relativeY"] * self.size_px[1] / height

    def _event(self, event: dict):
        where = self._pixel(event)
        entry = self.nearest(*where) if where else None
        if event.get("type") == "click":
            if entry is not None and self.on_pick:
                self.on_pick(entry)
        elif self.on_hover:
            self.on_hover(entry)
        return entry


def describe(entry: dict) -> str:
    """One line of HTML naming a results-log entry: name, technique, gzipped and stored size,
    accuracy, latency and its recipe (the settings it was made with)."""
    m = entry.get("metrics") or {}
    parts = [f"<b>{html.escape(str(entry.get('name', '?')))}</b>", html.escape(str(entry.get("technique", "?")))]
    if isinstance(m.get("tflite_gz"), (int, float)):
        parts.append(i18n.t("{size} B gzipped", size=f"{m['tflite_gz']:,}"))
    if isinstance(m.get("tflite_bytes"), (int, float)):
        parts.append(i18n.t("{size} B stored", size=f"{m['tflite_bytes']:,}"))
    if isinstance(m.get("tflite_accuracy"), (int, float)):
        parts.append(i18n.t("accuracy {accuracy}", accuracy=f"{m['tflite_accuracy']:.2%}"))
    if isinstance(m.get("latency_b1_us"), (int, float)):
        parts.append(i18n.t("latency b=1 {us} µs", us=f"{m['latency_b1_us']:.1f}"))
    recipe = ", ".join(f"{k}={v}" for k, v in (entry.get("settings") or {}).items())
    if recipe:
        parts.append(i18n.t("recipe: {recipe}", recipe=html.escape(recipe)))
    if entry.get("reference"):
        parts.append(i18n.t("{label} (not your run)", label=i18n.t(precomputed.LABEL)))
    return " · ".join(parts)
