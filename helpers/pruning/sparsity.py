"""The arithmetic of sparsity, apart from TF-MOT: magnitude pruning of an array and m:n structure.

``helpers.pruning.magnitude`` re-exports these (lesson 01 calls them from there); they live here so the
pruning module stays about TF-MOT's calls.
"""

from __future__ import annotations

import numpy as np

from .. import config


class PruningSettingsError(config.WorkbookError, ValueError):
    """Schedule settings that cannot work; the message lists every problem and what to change."""


def m_by_n_problem(kernel_shape, n: int = 4) -> str | None:
    """Why m:n sparsity cannot apply to a kernel of this shape (None when it can). TF-MOT groups
    ``n`` consecutive weights along the input axis (axis 0 of a Dense kernel, the input
    channels of a Conv2D kernel), so that axis must hold a whole number of groups."""
    inputs = int(kernel_shape[-2])
    if inputs % n == 0:
        return None
    what = "input channels" if len(kernel_shape) > 2 else "inputs"
    if inputs < n:
        return (
            f"m:n sparsity groups {n} consecutive {what}, and a kernel with {inputs} {what} has fewer than {n}, "
            f"so it cannot be grouped at all (TF-MOT leaves such a layer dense). It is usually a first layer with "
            "few weights: keep it dense."
        )
    return (
        f"m:n sparsity groups {n} consecutive {what}, and {inputs} {what} is not a multiple of {n}: the last "
        "group would be incomplete, so TF-MOT leaves this layer dense."
    )


def m_by_n_fraction(kernel: np.ndarray, m: int = 2, n: int = 4) -> float:
    """Fraction of groups of ``n`` consecutive input weights with at least ``m`` zeros
    (TF-MOT groups 2:4 along the input axis: axis 0 of a Dense kernel, axis -2 of a Conv2D).
    Raises ``PruningSettingsError`` when that axis is not a multiple of ``n`` (``m_by_n_problem``)."""
    problem = m_by_n_problem(np.shape(kernel), n)
    if problem:
        raise PruningSettingsError(problem)
    k = np.moveaxis(kernel, -2, -1) if kernel.ndim > 2 else kernel.T
    groups = k.reshape(-1, n)
    return float(np.mean((groups == 0).sum(axis=1) >= m))


def magnitude_prune(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """A copy of ``weights`` with the ``sparsity`` fraction of smallest magnitudes set to zero
    (exactly round(sparsity * size) of them), as one step of magnitude pruning does."""
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    flat = weights.ravel().copy()
    k = int(round(sparsity * flat.size))
    if k:
        flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0
    return flat.reshape(weights.shape)
