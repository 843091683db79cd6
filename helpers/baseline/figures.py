"""Lesson 00's figures: a grid of sample images per class.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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
