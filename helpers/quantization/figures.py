"""Lesson 02's figures: weights on an n-bit grid (static and redrawn in place), accuracy vs bit width.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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
