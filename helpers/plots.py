"""Figures the lessons share: the size-vs-accuracy board and a sample-image grid.

Figures are small PNGs (see ``setup()``), so executed notebooks stay well under 2 MB.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from . import results

TECHNIQUE_STYLE = {
    "baseline": ("black", "s"),
    "pruning": ("tab:green", "o"),
    "quantization": ("tab:blue", "D"),
    "distillation": ("tab:purple", "^"),
    "clustering": ("tab:orange", "P"),
    "combined": ("tab:red", "*"),
}


def sample_grid(data, per_class: int = 1, seed: int = 0):
    """``per_class`` training images of every class, labelled with the class name."""
    rng = np.random.default_rng(seed)
    classes = range(len(data.class_names))
    fig, axes = plt.subplots(
        per_class, len(data.class_names), figsize=(1.1 * len(data.class_names), 1.3 * per_class), squeeze=False
    )
    for col in classes:
        members = np.flatnonzero(data.y_train == col)
        for row, idx in enumerate(rng.choice(members, size=per_class, replace=False)):
            ax = axes[row][col]
            ax.imshow(data.x_train[idx], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(data.class_names[col], fontsize=8)
    fig.tight_layout()
    return fig


def board(entries, highlight=(), title: str = "", size_key: str = "tflite_gz", ax=None):
    """Size vs accuracy for ``entries`` (results-log entries): log-size axis, the Pareto
    frontier as a dashed step line, and the entries whose ``id`` or ``name`` is in
    ``highlight`` ringed and labelled. An empty list gives an empty board with a note."""
    highlight = {highlight} if isinstance(highlight, str) else set(highlight)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    usable = [
        e
        for e in entries
        if isinstance(e["metrics"].get(size_key), (int, float))
        and isinstance(e["metrics"].get("tflite_accuracy"), (int, float))
    ]
    if not usable:
        ax.text(
            0.5,
            0.5,
            "No experiments logged yet:\nrun a lesson to add points.",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    by_technique: dict[str, list] = {}
    for e in usable:
        by_technique.setdefault(e["technique"], []).append(e)
    for technique, group in by_technique.items():
        color, marker = TECHNIQUE_STYLE.get(technique, ("gray", "x"))
        ax.scatter(
            [e["metrics"][size_key] / 1024 for e in group],
            [e["metrics"]["tflite_accuracy"] * 100 for e in group],
            c=color, marker=marker, s=36, label=technique, alpha=0.85, zorder=3,
        )  # fmt: skip
    front = results.pareto_front(usable, size_key=size_key)
    if len(front) > 1:
        ax.step(
            [e["metrics"][size_key] / 1024 for e in front],
            [e["metrics"]["tflite_accuracy"] * 100 for e in front],
            where="post", ls="--", c="gray", lw=1, label="Pareto frontier", zorder=2,
        )  # fmt: skip
    for e in usable:
        if e.get("id") in highlight or e.get("name") in highlight:
            x, y = e["metrics"][size_key] / 1024, e["metrics"]["tflite_accuracy"] * 100
            ax.scatter([x], [y], s=160, facecolors="none", edgecolors="red", lw=1.5, zorder=4)
            ax.annotate(e["name"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    if usable:
        sizes = [e["metrics"][size_key] / 1024 for e in usable]
        accs = [e["metrics"]["tflite_accuracy"] * 100 for e in usable]
        ax.set_xscale("log")
        ax.set_xlim(min(sizes) / 2.5, max(sizes) * 2.5)  # room for labels; ratios read the same on any board
        ax.set_ylim(
            min(accs) - max(1.0, 0.15 * (max(accs) - min(accs))), max(accs) + max(1.0, 0.15 * (max(accs) - min(accs)))
        )
        ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlabel(("gzipped .tflite" if size_key == "tflite_gz" else size_key) + " size (KiB, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "Size vs accuracy: up and to the left is better")
    ax.grid(True, which="both", alpha=0.3)
    if usable:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def show_board(data, highlight=(), title: str = ""):
    """The board for every logged experiment on ``data`` (same data set and mode)."""
    log = results.load(data=data)
    return board(log, highlight=highlight, title=title)
