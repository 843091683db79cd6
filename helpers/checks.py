"""Self-checks for the exercises: each says what is right, or what is off and a hint.

Every check prints its verdict and returns True/False, so a notebook can also ``assert`` it.
An unanswered exercise (``None``) is not an error: the check says what to fill in.
"""

from __future__ import annotations

import numpy as np


def _verdict(ok: bool, message: str) -> bool:
    print(("✓ " if ok else "✗ ") + message)
    return ok


def _unanswered(answer) -> bool:
    if answer is None or answer is ...:
        print("… Not answered yet: replace the None with your answer and run the cell again.")
        return True
    return False


def dense_params(inputs: int, units: int) -> int:
    """Weights plus biases of one Dense layer."""
    return inputs * units + units


def mlp_params(answer, layer_sizes=(784, 300, 100, 10)) -> bool:
    """Exercise: the parameter count of an MLP with these layer sizes."""
    if _unanswered(answer):
        return False
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
    expected = sum(dense_params(a, b) for a, b in pairs)
    weights_only = sum(a * b for a, b in pairs)
    if answer == expected:
        return _verdict(True, f"{expected:,} parameters: weights and biases of all {len(pairs)} layers.")
    if answer == weights_only:
        return _verdict(False, f"{answer:,} counts the weights only: each Dense layer also has one bias per unit.")
    for a, b in pairs:
        if answer == expected - dense_params(a, b):
            return _verdict(False, f"{answer:,} leaves out the {a}->{b} layer; count every layer.")
    return _verdict(
        False, f"{answer:,} is off by {answer - expected:+,}. A Dense layer from n to m has n*m + m parameters."
    )


def float_tflite_bytes(answer, params: int, measured_bytes: int, tolerance: float = 0.05) -> bool:
    """Exercise: predict the float32 .tflite size from the parameter count."""
    if _unanswered(answer):
        return False
    if not np.isfinite(answer) or answer <= 0:
        return _verdict(False, "A file size is a positive number of bytes.")
    error = answer / measured_bytes - 1
    if abs(error) <= tolerance:
        return _verdict(
            True,
            f"{answer:,.0f} B is within {abs(error):.1%} of the measured {measured_bytes:,} B: "
            f"4 bytes per float32 parameter, plus a little for the graph.",
        )
    if abs(answer / params - 1) <= tolerance:
        return _verdict(False, "That is one byte per parameter: a float32 takes 4 bytes.")
    if abs(answer / (32 * params) - 1) <= tolerance:
        return _verdict(False, "That is 32 per parameter: bits, not bytes (8 bits to a byte).")
    return _verdict(
        False,
        f"{answer:,.0f} B is {error:+.0%} off the measured {measured_bytes:,} B. Hint: how many bytes is one float32?",
    )


def gzip_ratio_guess(answer, raw: int, gz: int) -> bool:
    """Exercise: will gzip shrink a float model's file by more than 10 %? (answer True/False)."""
    if _unanswered(answer):
        return False
    shrinks = gz < 0.9 * raw
    if bool(answer) == shrinks:
        return _verdict(
            True,
            f"gzip took {raw:,} B to {gz:,} B ({gz / raw:.0%} of the raw size): trained float32 weights look almost random to gzip.",
        )
    return _verdict(
        False,
        f"Measured: {raw:,} B -> {gz:,} B ({gz / raw:.0%}). Random-looking float32 mantissas leave gzip little to find.",
    )
