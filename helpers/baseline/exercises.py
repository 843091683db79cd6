"""Lesson 00's exercise self-checks: each prints a verdict (✓/✗ and a hint) and returns True/False.
"""

from __future__ import annotations

from ..ui.verdict import answered_number, file_size_guess, unanswered, verdict, yes_no


def dense_params(inputs: int, units: int) -> int:
    """Weights plus biases of one Dense layer."""
    return inputs * units + units


def mlp_params(answer, layer_sizes=(784, 300, 100, 10)) -> bool:
    """Exercise: the parameter count of an MLP with these layer sizes."""
    answer = answered_number(answer)
    if answer is None:
        return False
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
    expected = sum(dense_params(a, b) for a, b in pairs)
    weights_only = sum(a * b for a, b in pairs)
    if answer == expected:
        return verdict(True, f"{expected:,} parameters: weights and biases of all {len(pairs)} layers.")
    if answer == weights_only:
        return verdict(False, f"{answer:,} counts the weights only: each Dense layer also has one bias per unit.")
    for a, b in pairs:
        if answer == expected - dense_params(a, b):
            return verdict(False, f"{answer:,} leaves out the {a}->{b} layer; count every layer.")
    return verdict(
        False, f"{answer:,} is off by {answer - expected:+,}. A Dense layer from n to m has n*m + m parameters."
    )


def float_tflite_bytes(answer, params: int, measured_bytes: int, tolerance: float = 0.05) -> bool:
    """Exercise: predict the float32 .tflite size from the parameter count."""
    return file_size_guess(
        answer, params, measured_bytes, tolerance,
        "4 bytes per float32 parameter, plus a little for the graph",
        [(1, "That is one byte per parameter: a float32 takes 4 bytes."),
         (32, "That is 32 per parameter: bits, not bytes (8 bits to a byte).")],
        unit="float32",
    )  # fmt: skip


def gzip_ratio_guess(answer, raw: int, gz: int) -> bool:
    """Exercise: will gzip shrink a float model's file by more than 10 %? (answer True/False)."""
    if unanswered(answer):
        return False
    guess = yes_no(answer)
    if guess is None:
        return verdict(False, f"{answer!r}: answer True or False.")
    shrinks = gz < 0.9 * raw
    if guess == shrinks:
        return verdict(
            True,
            f"gzip took {raw:,} B to {gz:,} B ({gz / raw:.0%} of the raw size): trained float32 weights look almost random to gzip.",
        )
    return verdict(
        False,
        f"Measured: {raw:,} B -> {gz:,} B ({gz / raw:.0%}). Random-looking float32 mantissas leave gzip little to find.",
    )
