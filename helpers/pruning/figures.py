"""Lesson 01's figures: a schedule's sparsity curve, weight histograms, masks, sensitivity, the sweep.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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
