"""Self-checks for lesson 01b's exercises (structured pruning for speed)."""

from __future__ import annotations

from ..ui.verdict import answered_number, unanswered, verdict
from . import units


def mlp_macs_after_removal(answer, removed: int, layer_sizes=(784, 300, 100, 10)) -> bool:
    """Exercise 1: MACs per image of the MLP after removing ``removed`` units of the first hidden layer."""
    value = answered_number(answer)
    if value is None:
        return False
    n_in, h0, h1, out = layer_sizes
    kept = h0 - removed
    right = n_in * kept + kept * h1 + h1 * out
    if value == right:
        return verdict(True, f"{right:,} MACs: {n_in}x{kept} + {kept}x{h1} + {h1}x{out}.")
    if value == n_in * kept + h0 * h1 + h1 * out:
        return verdict(False, "dense_1 lost inputs too: its kernel is now kept x 100, not 300 x 100.")
    if value == n_in * h0 + h0 * h1 + h1 * out:
        return verdict(False, "That is the unpruned MLP's count; the removed units do no work any more.")
    if value == right + kept + h1 + out:
        return verdict(False, "Biases are additions, not multiply-accumulates: count only kernel entries.")
    return verdict(False, f"{value:,} is not it. Per Dense layer: inputs x units; dense_1's inputs are dense_0's kept units.")


def widths_for_budget(answer, base, table, budget_us: float, min_dense_1: int = 16, slack: int = 10) -> bool:
    """Exercise 2: int8 widths whose estimated latency meets ``budget_us``, ``dense_1 >= min_dense_1``,
    with ``dense_0`` within ``slack`` units of the largest that fits."""
    if unanswered(answer):
        return False
    if not isinstance(answer, dict):
        return verdict(False, f"Write the widths as a dict, e.g. {{'dense_0': 120, 'dense_1': {min_dense_1}}}, not {answer!r}.")
    try:
        widths = units.check_widths(base, answer)
    except units.StructuredPruningError as exc:
        return verdict(False, str(exc))
    if widths["dense_1"] < min_dense_1:
        return verdict(False, f"dense_1 keeps {widths['dense_1']}; the exercise asks for at least {min_dense_1}.")
    estimate = table.estimate_us(base, widths, int8=True)
    if estimate > budget_us:
        return verdict(False, f"Estimated {estimate:.2f} µs is over the {budget_us:.2f} µs budget: keep fewer units.")
    best = max((k for k in range(1, widths_full(base)["dense_0"] + 1)
                if table.estimate_us(base, {"dense_0": k, "dense_1": min_dense_1}, int8=True) <= budget_us), default=0)  # fmt: skip
    if widths["dense_0"] < best - slack:
        return verdict(False, f"It fits ({estimate:.2f} µs), but dense_0 could keep up to {best} units: "
                               "more units, more accuracy, for free.")  # fmt: skip
    return verdict(True, f"{widths}: estimated {estimate:.2f} µs <= {budget_us:.2f} µs (the largest dense_0 that fits is {best}).")


def widths_full(base) -> dict[str, int]:
    return units.full_widths(base)
