"""Lesson 04's figures: the size waterfall of a pipeline, stage by stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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
