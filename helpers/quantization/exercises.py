"""Lesson 02's exercise self-checks: each prints a verdict (✓/✗ and a hint) and returns True/False.
"""

from __future__ import annotations

from ..ui.verdict import file_size_guess, not_a_number, number, unanswered, verdict


def scale_and_zero_point(scale, zero_point, lo: float, hi: float, bits: int = 8) -> bool:
    """Exercise: the asymmetric ``bits``-bit scale and zero-point for the real range [lo, hi]."""
    from . import quantize
    if unanswered(scale) or unanswered(zero_point):
        return False
    scale, zero_point = number(scale), number(zero_point)
    if scale is None or zero_point is None:
        return not_a_number(scale if scale is None else zero_point)
    want_scale, want_zp = quantize.scale_zero_point(lo, hi, bits, symmetric=False)
    off_by_one = abs(scale / ((hi - lo) / (2**bits)) - 1) < 0.001  # the classic: dividing by 2^b
    scale_ok = abs(scale / want_scale - 1) < 0.01 and not off_by_one
    zp_ok = abs(zero_point - want_zp) <= 1
    if scale_ok and zp_ok:
        return verdict(
            True,
            f"scale {want_scale:.6g}, zero-point {want_zp}: {lo:g} maps to {-(2 ** (bits - 1))}, {hi:g} to {2 ** (bits - 1) - 1}.",
        )
    hints = []
    if not scale_ok:
        if off_by_one:
            hints.append(
                f"the scale divides by 2^{bits} = {2**bits}; there are 2^{bits} - 1 = {2**bits - 1} steps between the ends"
            )
        else:
            hints.append(f"scale = (hi - lo) / (2^{bits} - 1); yours is {scale:.6g}")
    if not zp_ok:
        if abs(zero_point + want_zp) <= 1:
            hints.append(
                "the zero-point has the wrong sign: it is the integer that real 0.0 maps to, qmin - lo / scale"
            )
        else:
            hints.append(
                f"zero_point = round(qmin - lo / scale) with qmin = {-(2 ** (bits - 1))}; yours is {zero_point}"
            )
    return verdict(False, "; ".join(hints) + ".")


def int8_tflite_bytes(answer, params: int, measured_bytes: int, tolerance: float = 0.06) -> bool:
    """Exercise: predict the full-integer int8 .tflite size from the parameter count."""
    return file_size_guess(
        answer, params, measured_bytes, tolerance,
        "one byte per weight (biases take 4), plus scales and the graph",
        [(4, "That is the float32 size (4 bytes per parameter); int8 stores one byte per weight."),
         (1 / 8, "That is one *bit* per parameter; int8 is 8 bits = one byte per weight.")],
        unit="int8 weight",
    )  # fmt: skip
