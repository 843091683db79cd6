"""Figures of lesson 01b (structured pruning for speed)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def width_scan(scan: dict, fractions, baseline_accuracy: float):
    """Validation accuracy with one layer narrowed to each fraction of its units (no fine-tuning)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    for name, accuracies in scan.items():
        ax.plot(np.array(fractions) * 100, np.array(accuracies) * 100, "o-", ms=3, label=name)
    ax.axhline(baseline_accuracy * 100, color="black", lw=0.8, ls="--", label="full width")
    ax.set_xlabel("units kept in that one layer (% of its units)")
    ax.set_ylabel("validation accuracy (%)")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


class LatencyBars:
    """The speed explorer's live figure: estimated µs per layer (full width grey, chosen widths
    coloured) and the total against the baseline's. Built on the first update, then only the bar
    lengths, colours and title change (no axes rebuilt: a redraw stays well under 100 ms)."""

    def __init__(self):
        self.fig, self.ax = plt.subplots(figsize=(5.4, 2.8))
        plt.close(self.fig)  # shown by the explorer's Output, never by the inline backend
        self._bars = None
        self._names = None

    def _build(self, view, names):
        ax = self.ax
        ax.clear()
        full = [*view.full_layer_us.values(), view.full_estimate_us]
        y = np.arange(len(names))
        ax.barh(y + 0.2, full, 0.4, color="#b0bec5", label="full width, float32")
        self._bars = ax.barh(y - 0.2, full, 0.4, color="tab:green", label="chosen widths")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, max(full) * 1.05)
        ax.set_xlabel("estimated LiteRT latency (µs, 1 image, 1 thread)")
        self._legend = ax.legend(fontsize=7, loc="lower right")
        self._title = ax.set_title("", fontsize=9)
        self.fig.subplots_adjust(left=0.17, right=0.98, top=0.88, bottom=0.18)
        self._names = names

    def update(self, view):
        names = [*view.layer_us, "total"]
        if self._names != names:
            self._build(view, names)
        color = "tab:green" if view.int8 else "tab:blue"
        for bar, value in zip(self._bars, [*view.layer_us.values(), view.estimate_us], strict=True):
            bar.set_width(value)
            bar.set_color(color)
        self._legend.get_patches()[1].set_color(color)
        self._legend.get_texts()[1].set_text(f"chosen widths ({'int8' if view.int8 else 'float32'})")
        self._title.set_text(f"estimate {view.estimate_us:.1f} µs = {view.speedup:.1f}x faster than float32")
        return self.fig
