"""Lesson 03's exercise self-checks: each prints a verdict (✓/✗ and a hint) and returns True/False.
"""

from __future__ import annotations

import numpy as np

from ..ui.verdict import answered_number, number, unanswered, verdict


def softmax_at_temperature(answer, logits, temperature: float) -> bool:
    """Exercise: softmax(logits / T) by hand, as a list of probabilities."""
    from . import distiller
    if unanswered(answer):
        return False
    try:
        values = np.asarray([number(a) for a in answer], dtype=float)
    except (TypeError, ValueError):
        return verdict(False, f"Write the answer as a list of {len(logits)} probabilities, e.g. [0.6, 0.3, 0.1].")
    if values.shape != (len(logits),) or not np.all(np.isfinite(values)):
        return verdict(False, f"Give {len(logits)} probabilities, one per logit, as plain numbers.")
    want = distiller.soft_targets(logits, temperature)
    if np.allclose(values, want, atol=0.01):
        return verdict(True, f"softmax({list(logits)} / {temperature:g}) = {np.round(want, 3).tolist()}.")
    hints = []
    if abs(values.sum() - 1) > 0.02:
        hints.append(f"your numbers add up to {values.sum():.3f}; probabilities add up to 1")
    if np.allclose(values, distiller.soft_targets(logits, 1.0), atol=0.01):
        hints.append(f"that is the ordinary softmax (T = 1): divide every logit by T = {temperature:g} first")
    elif np.allclose(values, distiller.soft_targets(logits, 1 / temperature), atol=0.01):
        hints.append("you multiplied the logits by T; divide them by T")
    if not hints:
        hints.append("divide each logit by T, take exp of each, divide each by their sum")
    return verdict(False, "Not quite: " + "; ".join(hints) + ".")


def t_squared_factor(answer, t_from: float, t_to: float) -> bool:
    """Exercise: how many times smaller the soft loss's gradients get, without the T^2 factor,
    when the temperature goes from ``t_from`` to ``t_to`` (both large)."""
    value = answered_number(answer)
    if value is None:
        return False
    ratio = t_to / t_from
    want = ratio**2
    if abs(value / want - 1) <= 0.15:
        return verdict(
            True,
            f"about ({t_to:g}/{t_from:g})^2 = {want:g}: the gradient is (q_T - p_T) / T, and at large T the "
            "difference q_T - p_T itself shrinks like 1 / T. Hinton et al. multiply the soft loss by T^2 to undo it.",
        )
    if abs(value / ratio - 1) <= 0.15:
        return verdict(
            False,
            f"That counts only one 1 / T (from dividing the logits by T). The difference between the two "
            f"softened distributions shrinks like 1 / T as well: square the ratio {ratio:g}.",
        )
    if 0 < value < 1:
        return verdict(False, "Give the factor as a number above 1 (how many times smaller), e.g. 2 for half.")
    return verdict(False, f"Not quite. Compare the gradient table's rows for T = {t_from:g} and T = {t_to:g}.")
