"""Lesson 04's exercise self-checks: each prints a verdict (✓/✗ and a hint) and returns True/False.
"""

from __future__ import annotations

from ..ui.verdict import answered_number, unanswered, verdict


def frontier_pick(answer, entries, budget: int, size_key: str = "tflite_gz") -> bool:
    """Exercise: the name of the most accurate logged experiment whose size fits ``budget``."""
    from .. import results
    if unanswered(answer):
        return False
    fitting = [e for e in results.pareto_front(entries, size_key=size_key) if e["metrics"][size_key] <= budget]
    if not fitting:
        return verdict(False, f"Nothing on the board fits {budget:,} B yet; run the lesson's pipeline cells first.")
    best = max(fitting, key=lambda e: e["metrics"]["tflite_accuracy"])
    picked = [e for e in entries if e["name"] == str(answer).strip()]
    if not picked:
        return verdict(False, f"No experiment is called {answer!r}; copy a name from the frontier list.")
    e = picked[-1]
    size, acc = e["metrics"].get(size_key), e["metrics"].get("tflite_accuracy")
    if e["name"] == best["name"]:
        return verdict(True, f"{best['name']}: {acc:.2%} at {size:,} B, the best that fits {budget:,} B.")
    if size > budget:
        return verdict(False, f"{e['name']!r} is {size:,} B: over the budget of {budget:,} B.")
    return verdict(
        False,
        f"{e['name']!r} fits ({size:,} B) but reaches only {acc:.2%}; another model within the budget is more "
        "accurate. Look along the frontier, the most accurate point left of the budget.",
    )


def cluster_halving(answer, gz_8: int, gz_16: int) -> bool:
    """Exercise: the factor by which the gzipped file changes from 16 to 8 clusters."""
    value = answered_number(answer)
    if value is None:
        return False
    measured = gz_8 / gz_16
    if value > 1:
        return verdict(False, "Fewer clusters make the file smaller: give gz(8) / gz(16), a number below 1.")
    if abs(value - measured) <= 0.08 or abs(value - 0.75) <= 0.03:
        return verdict(
            True,
            f"measured {measured:.2f}; log2(8) / log2(16) = 3/4 bits per index predicts 0.75 - gzip is not an "
            "ideal coder, so the file lands near that, not on it.",
        )
    if abs(value - 0.5) <= 0.05:
        return verdict(False, "Half the clusters is not half the bytes: each index goes from 4 bits to 3, not to 2.")
    return verdict(
        False, f"Not quite: think in bits per weight index (16 values: 4 bits; 8 values: ?), measured {measured:.2f}."
    )
