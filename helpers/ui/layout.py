"""Layout rules every explorer panel shares, so a panel reads on a projector (issue 18).

``presentable(panel)`` wraps a panel (any ipywidgets tree) in a box that carries the rules as a
style sheet scoped to the class ``wb-panel``:

- no cut-off text: a widget label, button, toggle button or checkbox text is never narrower than
  its text (``min-width: max-content``), so the "…" ellipsis never shows;
- a figure beside controls takes at least 60 % of the row and fills its box (its PNG is stretched
  to the box's width, fonts grow with it); a figure below controls takes the whole width;
- rows wrap: on a narrow screen (or with JupyterLab's sidebar open) what does not fit beside the
  figure moves below it instead of squeezing it.

Figures are recognised as the ``Output`` and ``Image`` widgets of the tree (they get the class
``wb-figure``); in a row holding a figure, a box holding one gets ``wb-figure-column`` (it takes
the figure's share) and the other boxes ``wb-controls``. The rules are plain CSS in an
``HTML`` widget (hidden: a ``<style>`` applies wherever it sits), so they work in JupyterLab,
Voila and VS Code alike without a front-end extension.
"""

from __future__ import annotations

import ipywidgets as w

FIGURE_SHARE = 0.60  # the least share of a row a figure beside controls takes

CSS = f"""<style>
.wb-panel .widget-label, .wb-panel .widget-label-basic, .wb-panel .jupyter-button,
.wb-panel .widget-toggle-button, .wb-panel .widget-checkbox label {{
  min-width: max-content;
}}
.wb-panel .jupyter-button {{ padding-left: 10px; padding-right: 10px; }}
.wb-panel .widget-checkbox {{ width: auto; min-width: max-content; }}
.wb-panel .widget-hbox {{ flex-wrap: wrap; row-gap: 4px; column-gap: 8px; max-width: 100%; }}
.wb-panel .widget-toggle-buttons .widget-toggle-button {{ width: auto; }}
.wb-panel .widget-hbox > .wb-figure, .wb-panel .widget-hbox > .wb-figure-column {{ flex: 1 1 {FIGURE_SHARE:.0%}; min-width: {FIGURE_SHARE:.0%}; }}
.wb-panel .widget-hbox > .wb-controls {{ flex: 0 1 auto; }}
.wb-panel .widget-vbox > .wb-figure {{ width: 100%; }}
.wb-panel .wb-figure img, .wb-panel img.wb-figure {{ width: 100%; height: auto; max-width: 100%; }}
.wb-panel .widget-html-content {{ white-space: normal; }}
</style>"""


def _walk(widget):
    yield widget
    if isinstance(widget, w.Box):
        for child in widget.children:
            yield from _walk(child)


def is_figure(widget) -> bool:
    """An ``Output`` or ``Image`` widget: where a panel's figures are drawn."""
    return isinstance(widget, (w.Output, w.Image))


def mark(panel: w.Widget) -> w.Widget:
    """Tag ``panel``'s figures (``wb-figure``) and the controls boxes beside them (``wb-controls``).
    Returns ``panel`` itself; calling it twice changes nothing."""
    for widget in _walk(panel):
        if is_figure(widget) and "wb-figure" not in widget._dom_classes:
            widget.add_class("wb-figure")
        if isinstance(widget, w.HBox) and any(_holds_figure(c) for c in widget.children):
            for child in widget.children:
                if isinstance(child, w.Box):
                    kind = "wb-figure-column" if _holds_figure(child) else "wb-controls"
                    if kind not in child._dom_classes:
                        child.add_class(kind)
    return panel


def _holds_figure(widget) -> bool:
    return any(is_figure(x) for x in _walk(widget))


def style_sheet() -> w.HTML:
    """The rules as a hidden ``HTML`` widget (its ``<style>`` applies to every ``wb-panel``)."""
    return w.HTML(CSS, layout=w.Layout(display="none"))


def presentable(panel: w.Widget) -> w.VBox:
    """``panel`` with the projector rules applied: a ``VBox`` of class ``wb-panel`` holding the
    style sheet and ``panel`` (marked with :func:`mark`). Already presentable: returned as is."""
    if isinstance(panel, w.VBox) and "wb-panel" in panel._dom_classes:
        return panel
    box = w.VBox([style_sheet(), mark(panel)], layout=w.Layout(width="100%"))
    box.add_class("wb-panel")
    return box
