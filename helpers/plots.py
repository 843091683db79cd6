"""Figures the lessons share: a sample-image grid, pruning, quantization and distillation figures;
the size-vs-accuracy board lives in helpers/board_plots.py (``board``, ``boards``, ``show_board``
are re-exported here, where the lessons call them).

Figures are small PNGs (see ``setup()``), so executed notebooks stay well under 2 MB.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from .board_plots import BOARD_AXES, REFERENCE_LABEL, TECHNIQUE_STYLE, board, boards, show_board  # noqa: F401 - the lessons' names


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


def schedule_curve(preview, title: str = "", ax=None):
    """Target sparsity per step (TF-MOT's schedule), dots where the mask is updated, epochs marked."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 2.8))
    else:
        fig = ax.figure
    ax.plot(preview.steps, preview.sparsity * 100, lw=1.5, color="tab:green", label="target sparsity")
    if len(preview.prune_steps):
        idx = np.searchsorted(preview.steps, preview.prune_steps)
        ax.plot(preview.prune_steps, preview.sparsity[idx] * 100, "o", ms=3, color="tab:green", label="mask update")
    for i, step in enumerate(preview.epoch_steps, start=1):
        ax.axvline(step, color="gray", lw=0.8, ls=":")
        ax.text(step, 2, f" epoch {i}", fontsize=7, color="gray", ha="right", rotation=90, va="bottom")
    ax.set_ylim(0, 100)
    ax.set_xlabel("training step")
    ax.set_ylabel("sparsity (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def weight_histograms(before: np.ndarray, after: np.ndarray, layer: str = ""):
    """Kernel values before and after pruning: the hole around zero is what magnitude pruning cuts."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6), sharex=True)
    lim = float(np.abs(before).max())
    bins = np.linspace(-lim, lim, 81)
    axes[0].hist(before.ravel(), bins=bins, color="gray")
    axes[0].set_title(f"{layer} before: {before.size:,} weights", fontsize=9)
    nonzero = after[after != 0]
    axes[1].hist(nonzero, bins=bins, color="tab:green")
    axes[1].set_title(
        f"after: {nonzero.size:,} nonzero ({1 - nonzero.size / after.size:.0%} zeros not drawn)", fontsize=9
    )
    for ax in axes:
        ax.set_xlabel("weight value")
        ax.set_yscale("log")
    axes[0].set_ylabel("count (log)")
    fig.tight_layout()
    return fig


def first_layer_masks(kernel: np.ndarray, units: int = 8, title: str = ""):
    """The kept (nonzero) input weights of the first ``units`` units of a 784-input Dense
    layer, each drawn as a 28x28 image: which pixels each unit still looks at."""
    fig, axes = plt.subplots(1, units, figsize=(1.05 * units, 1.35))
    for i, ax in enumerate(axes):
        ax.imshow((kernel[:, i] != 0).reshape(28, 28), cmap="Greens", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"unit {i}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def mask_patch(kernels: dict[str, np.ndarray], rows: int = 16, cols: int = 24):
    """A ``rows`` x ``cols`` corner of each kernel: green = kept, white = pruned."""
    fig, axes = plt.subplots(1, len(kernels), figsize=(3.2 * len(kernels), 2.5))
    axes = np.atleast_1d(axes)
    for ax, (name, kernel) in zip(axes, kernels.items(), strict=True):
        ax.imshow(kernel[:rows, :cols] != 0, cmap="Greens", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 4))
        ax.set_yticklabels([])
        ax.set_xticks([])
        ax.grid(which="major", axis="y", color="tab:red", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("output unit")
        ax.set_ylabel("input (red lines: groups of 4)")
    fig.tight_layout()
    return fig


def sensitivity(scan: dict, sparsities, baseline_accuracy: float, chosen: dict | None = None):
    """Accuracy vs sparsity with one layer pruned at a time (no fine-tuning)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    for name, accuracies in scan.items():
        line = ax.plot(np.array(sparsities) * 100, np.array(accuracies) * 100, "o-", ms=3, label=name)[0]
        if chosen and chosen.get(name):
            s = chosen[name]
            ax.plot(
                [s * 100], [accuracies[list(sparsities).index(s)] * 100], "o", ms=10, mfc="none", color=line.get_color()
            )
    ax.axhline(baseline_accuracy * 100, color="black", lw=0.8, ls="--", label="unpruned")
    ax.set_xlabel("sparsity of that one layer (%)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep(rows, baseline_gz: int):
    """Accuracy and gzipped-size ratio against sparsity, from a list of (sparsity, Measurement)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    s = np.array([r[0] for r in rows]) * 100
    ax.plot(s, [r[1].tflite_accuracy * 100 for r in rows], "o-", color="tab:green")
    ax.set_xlabel("target sparsity (%)")
    ax.set_ylabel("test accuracy (%)", color="tab:green")
    ax2 = ax.twinx()
    ax2.plot(s, [baseline_gz / r[1].tflite_gz for r in rows], "s--", color="tab:blue")
    ax2.set_ylabel("gzipped .tflite: x smaller", color="tab:blue")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- quantization (lesson 02)


def quantization_grid(view, title: str = ""):
    """A layer's weight histogram with the quantization grid (first channel's) drawn over it:
    the explorer's figure, drawn once and left open for the notebook to show."""
    return QuantizationGridFigure(shown_by_pyplot=True).update(view, title)


def bit_sweep(bits_list, curves: dict[str, list[float]], float_accuracy: dict[str, float] | None = None):
    """Accuracy against weight bit width, one line per setting (e.g. 'MLP per-channel')."""
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    for label, accuracies in curves.items():
        ax.plot(bits_list, np.array(accuracies) * 100, "o-", ms=4, label=label)
    for label, acc in (float_accuracy or {}).items():
        ax.axhline(acc * 100, ls=":", lw=0.8, color="gray")
        ax.text(bits_list[0], acc * 100, f" {label} float", fontsize=7, va="bottom", color="gray")
    ax.set_xlabel("weight bits (fake-quantized, no retraining)")
    ax.set_ylabel("test accuracy (%)")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


class QuantizationGridFigure:
    """One figure the bit-width explorer updates in place: the histogram is computed once per
    layer and the grid is one line collection, so a change re-renders in tens of milliseconds
    instead of building a new figure."""

    def __init__(self, shown_by_pyplot: bool = False):
        self.fig, self.ax = plt.subplots(figsize=(5.6, 2.8))
        if not shown_by_pyplot:
            plt.close(self.fig)  # the explorer shows it through display(), not pyplot's open figures
        self._hist = None
        self._layer = None
        self._grid = self.ax.vlines(
            [], 0, 1, transform=self.ax.get_xaxis_transform(), color="tab:blue", lw=0.6, alpha=0.6, label="grid levels"
        )
        self.ax.set_yscale("log")
        self.ax.set_xlabel("weight value")
        self.ax.set_ylabel("count (log)")
        # fixed margins: tight_layout re-measures every label (~60 ms on a layer change)
        self.fig.subplots_adjust(left=0.11, right=0.98, bottom=0.16, top=0.9)

    def update(self, view, title: str = ""):
        if view.layer != self._layer:
            lim = float(np.abs(view.weights).max())
            counts, edges = np.histogram(view.weights, bins=np.linspace(-lim, lim, 121))
            if self._hist is not None:
                self._hist.remove()
            self._hist = self.ax.stairs(
                np.maximum(counts, 0.8), edges, fill=True, color="gray", alpha=0.7, label="weights"
            )
            self.ax.set_xlim(-lim * 1.05, lim * 1.05)
            self.ax.set_ylim(0.8, counts.max() * 2)
            self.ax.legend(fontsize=7, loc="upper right")
            self._layer = view.layer
        self._grid.set_segments([[[x, 0], [x, 1]] for x in view.levels])
        self.ax.set_title(
            title or f"{view.layer}: {len(view.levels)} levels, MSE {view.mse:.2e}, SNR {view.snr_db:.1f} dB",
            fontsize=9,
        )
        return self.fig


# ----------------------------------------------------------------------------- distillation (lesson 03)


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


# ----------------------------------------------------------------------------- combined (lesson 04)


def size_waterfall(stages, baseline):
    """Gzipped size after each stage of each pipeline (log scale), the baseline as a line and
    each bar labelled with how many times smaller it is."""
    pipelines = list(dict.fromkeys(s.pipeline for s in stages))
    fig, axes = plt.subplots(1, len(pipelines), figsize=(3.3 * len(pipelines), 3.3), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], pipelines, strict=True):
        group = [s for s in stages if s.pipeline == name]
        sizes = [s.measurement.tflite_gz / 1024 for s in group]
        ax.bar(range(len(group)), sizes, color=plt.cm.viridis(np.linspace(0.15, 0.85, len(group))))
        ax.axhline(baseline.tflite_gz / 1024, color="black", ls=":", lw=0.8)
        for i, s in enumerate(group):
            ax.text(i, sizes[i] * 1.08, f"{baseline.tflite_gz / s.measurement.tflite_gz:.0f}x", ha="center", fontsize=7)
        ax.set_xticks(range(len(group)))
        ax.set_xticklabels([s.step.replace(" + ", "\n+ ") for s in group], fontsize=6)
        ax.set_yscale("log")
        ax.set_title(f"pipeline {name}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("gzipped .tflite (KiB, log)\n(dotted: float baseline)", fontsize=8)
    fig.tight_layout()
    return fig
