"""Self-checks for lesson 02b's exercises (real low-bit files). Each prints a verdict, returns True/False."""

from __future__ import annotations

from .. import measure
from ..ui.verdict import answered_number, unanswered, verdict
from . import quantizer


def int4_raw_bytes(answer, model, float_bytes: int, measured_bytes: int, tolerance: float = 0.02) -> bool:
    """Exercise: the raw size of the int4 per-channel (dynamic) file of ``model``, from its shapes:
    float file - 4 B per kernel weight + half a byte per weight + 12 B per output channel."""
    value = answered_number(answer)
    if value is None:
        return False
    weights = sum(info.n for info in quantizer.layers(model))
    channels = sum(info.outputs for info in quantizer.layers(model))
    error = (value - measured_bytes) / measured_bytes
    if abs(error) <= tolerance:
        return verdict(True, f"{value:,} B vs the real file's {measured_bytes:,} B ({error:+.1%}).")
    hints = {
        "float": float_bytes,
        "int8": float_bytes - 3 * weights,
        "no scales": float_bytes - 3.5 * weights,
    }
    near = min(hints, key=lambda k: abs(hints[k] - value))
    advice = {
        "float": "That is the float32 file: each of the kernels' weights shrinks from 4 bytes to half a byte.",
        "int8": "That is one byte per weight (int8); int4 packs two weights per byte.",
        "no scales": f"Close: add the scales - {channels:,} output channels x (float32 scale + int64 zero-point).",
    }[near]
    return verdict(False, f"{value:,} B is {error:+.1%} off the real file. {advice}")


def plan_under_budget(
    plan, mode, model, float_tflite: bytes, data, budget_bytes: int, max_loss_pp: float = 0.5
) -> bool:
    """Exercise: bits per layer whose *real* file fits ``budget_bytes`` and loses at most
    ``max_loss_pp`` points of test accuracy against the float32 file. Writes and measures the file."""
    if unanswered(plan):
        return False
    try:
        tflite = quantizer.quantize_plan(model, float_tflite, plan, mode, data.x_train[:200])
    except quantizer.LowBitSettingsError as exc:
        return verdict(False, f"LiteRT cannot store that plan: {exc}")
    base = measure.tflite_accuracy(float_tflite, data.x_test, data.y_test)
    accuracy = measure.tflite_accuracy(tflite, data.x_test, data.y_test)
    loss = 100 * (base - accuracy)
    fits, close = len(tflite) <= budget_bytes, loss <= max_loss_pp
    text = f"{len(tflite):,} B (budget {budget_bytes:,} B), accuracy {accuracy:.2%} ({-loss:+.2f} pp vs float32)"
    if fits and close:
        return verdict(True, text + ".")
    advice = [] if fits else ["too big: lower the bits of the largest layer (its weights dominate the file)"]
    if not close:
        advice.append("too lossy: give the most sensitive layer (see the sensitivity table) more bits")
    return verdict(False, text + "; " + "; ".join(advice) + ".")
