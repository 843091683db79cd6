"""Lesson 03's figures: soft targets at a temperature, dark knowledge, the T/alpha grids, accuracy vs labels.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np


def soft_targets(images, probs_by_t: dict[float, np.ndarray], class_names, labels):
    """One row per image: the image, then the teacher's soft targets at each temperature as
    grouped bars. ``probs_by_t[T]`` is [n_images, n_classes]."""
    n = len(images)
    temps = list(probs_by_t)
    fig, axes = plt.subplots(n, 2, figsize=(7.6, 1.45 * n), gridspec_kw={"width_ratios": [1, 7]}, squeeze=False)
    width = 0.8 / len(temps)
    colors = plt.cm.viridis(np.linspace(0.05, 0.9, len(temps)))
    x = np.arange(len(class_names))
    for row in range(n):
        axes[row][0].imshow(images[row], cmap="gray_r", vmin=0, vmax=1)
        axes[row][0].set_xticks([])
        axes[row][0].set_yticks([])
        axes[row][0].set_title(class_names[labels[row]], fontsize=7)
        ax = axes[row][1]
        for k, t in enumerate(temps):
            ax.bar(x + (k - (len(temps) - 1) / 2) * width, probs_by_t[t][row], width, color=colors[k], label=f"T={t:g}")
        ax.set_ylim(0, 1)
        ax.set_xticks(x)
        ax.set_xticklabels(class_names if row == n - 1 else [], fontsize=7, rotation=20)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    axes[0][1].legend(fontsize=6, ncol=len(temps), loc="upper right")
    fig.tight_layout()
    return fig


def dark_knowledge(matrix: np.ndarray, class_names, temperature: float):
    """Mean soft target (row: true class, column: class), diagonal blanked to show the rest."""
    shown = np.array(matrix, dtype=float)
    np.fill_diagonal(shown, np.nan)
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    im = ax.imshow(shown * 100, cmap="magma_r")
    ax.set_xticks(range(len(class_names)))
    ax.set_xticklabels(class_names, fontsize=7, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)))
    ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlabel("the teacher's probability for this class (%)", fontsize=8)
    ax.set_ylabel("images of this class", fontsize=8)
    ax.set_title(f"What the teacher says besides the right answer (T = {temperature:g})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def _draw_grid(ax, grid, title: str = ""):
    acc = grid.val_accuracy * 100
    im = ax.imshow(acc, cmap="viridis", aspect="auto", origin="lower")
    ax.set_xticks(range(len(grid.alphas)))
    ax.set_xticklabels([f"{a:g}" for a in grid.alphas], fontsize=7)
    ax.set_yticks(range(len(grid.temperatures)))
    ax.set_yticklabels([f"{t:g}" for t in grid.temperatures], fontsize=7)
    ax.set_xlabel("alpha (weight on the labels)", fontsize=8)
    ax.set_ylabel("temperature T", fontsize=8)
    for (i, j), value in np.ndenumerate(acc):
        ax.text(
            j, i, f"{value:.1f}", ha="center", va="center", fontsize=7, color="white" if value < acc.mean() else "black"
        )
    bi, bj = np.unravel_index(int(np.argmax(acc)), acc.shape)
    ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    ax.set_title(title, fontsize=9)
    return im


def distillation_grids(grids: dict):
    """Validation accuracy (%) per (T, alpha), one heat map per regime; best cell outlined."""
    fig, axes = plt.subplots(1, len(grids), figsize=(3.6 * len(grids), 3.0), squeeze=False)
    for ax, (title, grid) in zip(axes[0], grids.items(), strict=True):
        _draw_grid(ax, grid, title)
    fig.tight_layout()
    return fig


def labels_curve(points, teacher_accuracy: float):
    """Test accuracy (mean ± std over seeds) against labelled images per class, scratch vs
    distilled. ``points``: list of Comparison-like objects with ``labels_per_class``."""
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    full = max(p.labels_per_class or 0 for p in points) * 4 or 1
    xs = [p.labels_per_class or full for p in points]
    for attr, color, label in (
        ("scratch_mean_std", "gray", "from scratch"),
        ("distilled_mean_std", "tab:purple", "distilled"),
    ):
        mean = np.array([getattr(p, attr)[0] for p in points]) * 100
        std = np.array([getattr(p, attr)[1] for p in points]) * 100
        ax.errorbar(xs, mean, yerr=std, fmt="o-", ms=4, capsize=3, color=color, label=label)
    ax.axhline(teacher_accuracy * 100, ls=":", color="black", lw=0.8)
    ax.text(xs[0], teacher_accuracy * 100, " teacher (CNN, all labels)", fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(p.labels_per_class) if p.labels_per_class else "all" for p in points])
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlabel("labelled training images per class (the student sees every image)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def distillation_view(view, class_names, grid=None):
    """The distillation explorer's figure for one setting, drawn once and left open for the notebook."""
    return DistillationFigure(class_names, grid, shown_by_pyplot=True).update(view)


class DistillationFigure:
    """The distillation explorer's figure, updated in place: the teacher's soft targets of one
    image at the chosen T (bars) and the validation grid with the current setting marked."""

    def __init__(self, class_names, grid=None, shown_by_pyplot: bool = False, grid_title: str = ""):
        self.class_names = list(class_names)
        self.fig, (self.ax_bars, self.ax_grid) = plt.subplots(
            1, 2, figsize=(8.4, 2.9), gridspec_kw={"width_ratios": [3, 2]}
        )
        if not shown_by_pyplot:
            plt.close(self.fig)
        x = np.arange(len(self.class_names))
        self.bars = self.ax_bars.bar(x, np.zeros(len(x)), color="tab:purple")
        self.ax_bars.set_ylim(0, 1)
        self.ax_bars.set_xticks(x)
        self.ax_bars.set_xticklabels(self.class_names, fontsize=7, rotation=30, ha="right")
        self.ax_bars.set_ylabel("soft target", fontsize=8)
        self.ax_bars.grid(axis="y", alpha=0.3)
        self.marker = None
        if grid is not None:
            _draw_grid(self.ax_grid, grid, grid_title or "validation accuracy (%), 1 seed")
            (self.marker,) = self.ax_grid.plot([], [], "wx", ms=12, mew=2.5)
        else:
            self.ax_grid.axis("off")
            self.ax_grid.text(0.5, 0.5, "no grid computed yet", ha="center", va="center", fontsize=8)
        self.fig.tight_layout()

    def update(self, view):
        for bar, p, k in zip(self.bars, view.probabilities, range(len(self.bars)), strict=True):
            bar.set_height(p)
            bar.set_color("tab:green" if k == view.label else "tab:purple")
        entropy = float(-(view.probabilities * np.log(np.maximum(view.probabilities, 1e-12))).sum())
        self.ax_bars.set_title(
            f"teacher's soft targets, image {view.image_index} ({self.class_names[view.label]}), "
            f"T = {view.temperature:g}: entropy {entropy:.2f} nats",
            fontsize=8,
        )
        if self.marker is not None and view.cell is not None:
            self.marker.set_data([view.cell[1]], [view.cell[0]])
        return self.fig
