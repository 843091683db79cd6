"""The size-vs-accuracy board: every experiment of the results log as a point (size on a log
axis, accuracy up), the Pareto frontier, highlighted picks, and the full-mode reference layer.

``board`` draws a new figure (a lesson's cell); the pieces (``board_groups``, ``board_limits``,
``mark_highlights``, ``board_axes``) are shared with the explorers' board, redrawn in place
(helpers/ui/board_figure.py). ``helpers.plots`` re-exports what the lessons call.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker

from .. import results

TECHNIQUE_STYLE = {
    "baseline": ("black", "s"),
    "pruning": ("tab:green", "o"),
    "quantization": ("tab:blue", "D"),
    "distillation": ("tab:purple", "^"),
    "clustering": ("tab:orange", "P"),
    "combined": ("tab:red", "*"),
    "low-bit": ("tab:cyan", "v"),  # lesson 02b: real int8/int4/int2 files from LiteRT Quantizer
    "structured": ("tab:brown", "h"),  # lesson 01b: narrower layers
    "design": ("tab:olive", "X"),  # lesson 05: a model designed for the board
}
# Any other technique is drawn as grey circles; every technique on the board gets its own style
# (tests/test_figures.py checks the techniques the lessons log).


BOARD_AXES = {
    "tflite_gz": (1 / 1024, "gzipped .tflite size (KiB, log scale)"),
    "tflite_bytes": (1 / 1024, ".tflite size as stored (KiB, log scale)"),
    "latency_b1_us": (1.0, "LiteRT latency, one image (µs, log scale)"),
}


REFERENCE_LABEL = "full mode, precomputed (reference)"


def entry_size(e, size_key: str):
    """Where an entry sits on the size axis: its ``size_key``; a simulated width (no file, only a
    packed size) sits at its ``packed_bytes`` on the raw and gzipped boards alike."""
    m = e["metrics"]
    if (e.get("settings") or {}).get("simulated") and size_key in ("tflite_gz", "tflite_bytes"):
        return m.get("packed_bytes", m.get(size_key))
    return m.get(size_key)


def usable_entries(entries, size_key) -> list[dict]:
    """The entries that have both a size (:func:`entry_size`) and ``tflite_accuracy`` as numbers (what a board can place)."""
    return [
        e
        for e in entries
        if isinstance(entry_size(e, size_key), (int, float))
        and isinstance(e["metrics"].get("tflite_accuracy"), (int, float))
    ]


def board_groups(entries, reference=(), size_key: str = "tflite_gz") -> list[dict]:
    """The board's marker groups, in drawing (and legend) order: the reference layer first (grey,
    hollow, one legend label for all of it), then one group per technique (simulated widths
    apart, hollow). Each: ``key``, ``label``, ``x``, ``y`` (axis units) and ``style`` (scatter
    keyword arguments). Entries lacking the size or accuracy are left out."""
    scale = BOARD_AXES.get(size_key, (1.0, ""))[0]
    groups = []
    ref = usable_entries(reference, size_key)
    for k, technique in enumerate(dict.fromkeys(e["technique"] for e in ref)):
        group = [e for e in ref if e["technique"] == technique]
        style = {"marker": TECHNIQUE_STYLE.get(technique, ("gray", "o"))[1], "s": 30, "zorder": 2, "linewidths": 0.9,
                 "facecolors": "none", "edgecolors": "0.55"}  # fmt: skip
        groups.append({"key": ("reference", technique), "label": REFERENCE_LABEL if k == 0 else "_nolegend_",
                       "style": style, "entries": group})  # fmt: skip
    by_technique: dict[tuple[str, bool], list] = {}
    for e in usable_entries(entries, size_key):
        by_technique.setdefault((e["technique"], bool((e.get("settings") or {}).get("simulated"))), []).append(e)
    for (technique, simulated), group in by_technique.items():
        color, marker = TECHNIQUE_STYLE.get(technique, ("gray", "o"))
        style = {"marker": marker, "s": 36, "alpha": 0.85, "zorder": 3, "edgecolors": color,
                 "facecolors": "none" if simulated else color}  # fmt: skip
        groups.append({"key": (technique, simulated), "style": style, "entries": group,
                       "label": f"{technique} (simulated: packed size)" if simulated else technique})  # fmt: skip
    for g in groups:
        g["x"] = [entry_size(e, size_key) * scale for e in g["entries"]]
        g["y"] = [e["metrics"]["tflite_accuracy"] * 100 for e in g["entries"]]
    return groups


def board_limits(groups) -> tuple[tuple[float, float], tuple[float, float]]:
    """x (log) and y limits with room for labels around every group's points (an empty board:
    1-1000 on x, 0-100 % on y)."""
    sizes = [x for g in groups for x in g["x"]]
    accs = [y for g in groups for y in g["y"]]
    if not sizes:
        return (1.0, 1000.0), (0.0, 100.0)
    pad = max(1.0, 0.15 * (max(accs) - min(accs)))
    return (min(sizes) / 2.5, max(sizes) * 2.5), (min(accs) - pad, max(accs) + pad)


def board_note(has_reference: bool) -> dict:
    """The text an empty board shows (``ax.text`` keyword arguments, axes coordinates)."""
    if has_reference:
        return {"x": 0.5, "y": 0.97, "s": "None of your runs yet: the grey points are the full-mode reference.",
                "ha": "center", "va": "top", "fontsize": 8}  # fmt: skip
    return {"x": 0.5, "y": 0.5, "s": "No experiments logged yet:\nrun a lesson to add points.", "ha": "center",
            "va": "center"}  # fmt: skip


LABEL_FONTSIZE = 8
CHAR_WIDTH = 0.6  # a character's mean width, in font sizes (DejaVu Sans, matplotlib's default)


def mark_highlights(ax, entries, highlight, size_key: str, xlim) -> list:
    """Ring and label the entries whose ``id`` or ``name`` is in ``highlight``; returns the artists
    drawn. Labels are staggered; one runs leftwards in the right part of the axis, or wherever it
    would leave the axes on the right and there is more room on the left; it is clipped to the
    axes (it never covers the legend beside them)."""
    scale = BOARD_AXES.get(size_key, (1.0, ""))[0]
    highlight = {highlight} if isinstance(highlight, str) else set(highlight)
    marked = [e for e in usable_entries(entries, size_key) if e.get("id") in highlight or e.get("name") in highlight]
    offsets = [(8, 10), (8, -16), (-8, 22), (-8, -28)]  # stagger labels of nearby highlights
    low, high = math.log(xlim[0]), math.log(xlim[1])
    points = ax.figure.dpi / 72  # pixels per point
    drawn = []
    for k, e in enumerate(sorted(marked, key=lambda e: entry_size(e, size_key))):
        x, y = entry_size(e, size_key) * scale, e["metrics"]["tflite_accuracy"] * 100
        text = e["name"] + (" (full mode, precomputed)" if e.get("reference") else "")
        dx, dy = offsets[k % len(offsets)]
        share = (math.log(x) - low) / (high - low)  # where the point sits across the axes, 0..1
        room_right, room_left = (1 - share) * ax.bbox.width, share * ax.bbox.width
        needed = (len(text) * CHAR_WIDTH * LABEL_FONTSIZE + abs(dx)) * points
        if share > 0.6 or (needed > room_right and room_left > room_right):
            dx = -abs(dx)
        drawn.append(ax.scatter([x], [y], s=160, facecolors="none", edgecolors="red", lw=1.5, zorder=4))
        drawn.append(ax.annotate(
            text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=LABEL_FONTSIZE, clip_on=True,
            ha="left" if dx > 0 else "right", arrowprops={"arrowstyle": "-", "color": "red", "lw": 0.6},
        ))  # fmt: skip
    return drawn


def board_axes(ax, size_key: str):
    """The board's axis settings that do not depend on the points: log x with 1-2-5 majors."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(mticker.NullLocator())  # minor ticks on a log axis cost ~40 ms a redraw
    ax.set_xlabel(BOARD_AXES.get(size_key, (1.0, f"{size_key} (log scale)"))[1])
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)


BOARD_TITLE = "Size vs accuracy: up and to the left is better"


def board(entries, highlight=(), title: str = "", size_key: str = "tflite_gz", ax=None, reference=()):
    """Size vs accuracy for ``entries`` (results-log entries): log-size axis, the Pareto
    frontier as a dashed step line, and the entries whose ``id`` or ``name`` is in
    ``highlight`` ringed and labelled. An empty list gives an empty board with a note.

    ``reference`` (entries from ``data/precomputed/``) is drawn as its own layer, grey and
    hollow, labelled "full mode, precomputed": never mixed into the reader's points or frontier.
    A new figure (or ``ax``'s); the explorers' boards redraw one figure in place instead
    (helpers/ui/board_figure.py)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    groups = board_groups(entries, reference, size_key)
    usable = usable_entries(entries, size_key)
    if not usable:
        ax.text(transform=ax.transAxes, **board_note(bool(groups)))
    for g in groups:
        ax.scatter(g["x"], g["y"], label=g["label"], **g["style"])
    front = results.pareto_front(usable, size_key=size_key)
    if len(front) > 1:
        scale = BOARD_AXES.get(size_key, (1.0, ""))[0]
        ax.step([e["metrics"][size_key] * scale for e in front], [e["metrics"]["tflite_accuracy"] * 100 for e in front],
                where="post", ls="--", c="gray", lw=1, label="Pareto frontier", zorder=2)  # fmt: skip
    limits = board_limits(groups)
    mark_highlights(ax, usable + usable_entries(reference, size_key), highlight, size_key, limits[0])
    board_axes(ax, size_key)
    ax.set_xlim(*limits[0])  # room for labels; ratios read the same on any board
    ax.set_ylim(*limits[1])
    ax.set_title(title or BOARD_TITLE)
    if groups:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def show_board(data, highlight=(), title: str = ""):
    """The board for every logged experiment on ``data`` (same data set and mode)."""
    log = results.load(data=data)
    return board(log, highlight=highlight, title=title)


# ----------------------------------------------------------------------------- pruning (lesson 01)


def boards(entries, highlight=(), title: str = ""):
    """Two boards side by side: accuracy against gzipped size and against latency (one image)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.9))
    board(entries, highlight=highlight, size_key="tflite_gz", ax=left, title=title or "size vs accuracy")
    board(entries, highlight=highlight, size_key="latency_b1_us", ax=right, title="latency vs accuracy")
    if right.get_legend():
        right.get_legend().remove()  # the left board's legend serves both
    fig.tight_layout()
    return fig
