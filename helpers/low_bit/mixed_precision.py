"""Mixed precision over LiteRT Quantizer files: per-layer sensitivity, bits per layer under a byte
budget, and the float weights of a TF-MOT QAT model for export (lesson 02b).

Builds on ``helpers.low_bit.quantizer`` (plans, recipes, predicted sizes); the explorer and the checks use both.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import measure
from .quantizer import (
    BITS,
    CALIBRATION_SAMPLES,
    MODES,
    SUPPORTED,
    Choice,
    LowBitSettingsError,
    layers,
    quantize_plan,
)
from .sizes import _STATIC_PER_LAYER, layer_bytes


def sensitivity(model, float_tflite: bytes, x, y, mode: str = "dynamic", bits_list=(8, 4, 2)) -> dict:
    """Accuracy drop (fraction, float file minus quantized file, on ``(x, y)``) when one layer alone
    is stored at each width, the others float32: ``{layer: {bits: drop}}``. One real file per
    (layer, bits) - 4 layers x 3 widths = 12 quantize-and-evaluate runs. Combinations the mode
    cannot store are left out."""
    base = measure.tflite_accuracy(float_tflite, x, y)
    table = {}
    for info in layers(model):
        table[info.name] = {32: 0.0}
        for bits in bits_list:
            if "channel" not in SUPPORTED.get((mode, bits), {}).get(info.op, set()):
                continue
            tflite = quantize_plan(model, float_tflite, {info.name: Choice(bits)}, mode, x[:CALIBRATION_SAMPLES])
            table[info.name][bits] = base - measure.tflite_accuracy(tflite, x, y)
    return table


@dataclasses.dataclass
class Allocation:
    """What ``allocate`` proposes: the plan, its predicted raw bytes and the summed per-layer drops."""

    plan: dict[str, Choice]
    predicted_bytes: int
    predicted_drop: float  # the sum of the layers' measured drops (fraction): an estimate


def allocate(
    model, table: dict, budget_bytes, float_bytes: int, mode: str = "dynamic", options: dict | None = None
) -> Allocation:
    """Bits per layer (per-channel) with the least summed accuracy drop whose predicted file fits
    ``budget_bytes``: every combination of the widths measured in ``table`` (``sensitivity``'s
    output) is tried - 4^4 = 256 for four layers, so exact under the assumption that drops add up.
    ``options`` limits the widths of some layers (e.g. ``{"conv_0": (32, 8)}`` where int4 is slow).
    Raises LowBitSettingsError for an empty/non-positive budget or one below the smallest file."""
    if budget_bytes is None or isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, float, np.number)):
        raise LowBitSettingsError(f"The budget must be a number of bytes, not {budget_bytes!r}.")
    if not budget_bytes > 0:
        raise LowBitSettingsError(f"The budget is {budget_bytes} B: give a positive number of bytes, e.g. 150_000.")
    infos = layers(model)
    missing = [info.name for info in infos if info.name not in table]
    if missing:
        raise LowBitSettingsError(f"The sensitivity table has no row for {missing}: measure it with sensitivity().")
    best, smallest = None, None
    if mode not in MODES:
        raise LowBitSettingsError(f"mode must be one of {MODES}, not {mode!r}.")
    options = options or {}

    def storable(info, bits):  # float32 mixes in only outside static mode
        if bits == 32:
            return mode != "static"
        return "channel" in SUPPORTED.get((mode, bits), {}).get(info.op, set())

    widths = [
        sorted(b for b in table[info.name] if b in options.get(info.name, BITS) and storable(info, b)) for info in infos
    ]
    empty = [info.name for info, w in zip(infos, widths, strict=True) if not w]
    if empty:
        raise LowBitSettingsError(
            f"No width left to choose for {empty}: the options and mode {mode!r} exclude every measured width."
        )
    # predict_bytes term by term, once per layer and width (a plan's size is their sum)
    base = float_bytes - sum(4 * info.n for info in infos)
    cost = {
        (info.name, b): layer_bytes(info, Choice(b), mode) for info, ws in zip(infos, widths, strict=True) for b in ws
    }
    extra = sum(12 * info.outputs + _STATIC_PER_LAYER for info in infos) if mode == "static" else 0
    for combo in _combinations(widths):
        plan = {info.name: Choice(b) for info, b in zip(infos, combo, strict=True)}
        if all(b == 32 for b in combo):
            size = float_bytes
        else:
            size = base + extra + sum(cost[(info.name, b)] for info, b in zip(infos, combo, strict=True))
        smallest = size if smallest is None else min(smallest, size)
        if size > budget_bytes:
            continue
        drop = sum(table[info.name][b] for info, b in zip(infos, combo, strict=True))
        if best is None or (drop, size) < (best.predicted_drop, best.predicted_bytes):
            best = Allocation(plan, size, drop)
    if best is None:
        raise LowBitSettingsError(
            f"No plan fits {int(budget_bytes):,} B: the smallest this model gets is {smallest:,} B (every layer at its "
            "fewest bits). Raise the budget."
        )
    return best


def _combinations(options: list[list[int]]):
    if not options:
        yield ()
        return
    for first in options[0]:
        for rest in _combinations(options[1:]):
            yield (first, *rest)


def float_from_qat(qat_model, base):
    """A plain float copy of ``base`` carrying the float kernels and biases a TF-MOT QAT model
    trained (its ``quant_<name>`` wrappers), ready for ``to_tflite`` and LiteRT Quantizer."""
    from .. import models
    copy = models.copy_model(base)
    for layer in measure.kernel_layers(copy):
        wrapper = qat_model.get_layer(f"quant_{layer.name}")
        trained = {v.name.split("/")[-1].split(":")[0]: v.numpy() for v in wrapper.weights}
        layer.set_weights([trained["kernel"], trained["bias"]])
    return copy


def qat_kernel_on_grid(qat_model, layer_name: str) -> np.ndarray:
    """The kernel of ``quant_<layer_name>`` as the QAT model computes with it at inference: TF-MOT's
    own weight quantizer applied with the min/max it learned (``training=False``), shape as the
    Keras kernel ``(inputs, outputs)``. Raises LowBitSettingsError when the layer has no quantizer."""
    wrapper = qat_model.get_layer(f"quant_{layer_name}")
    for weight, quantizer, quantizer_vars in getattr(wrapper, "_weight_vars", []):
        if weight.name.split("/")[-1].startswith("kernel"):
            return np.asarray(quantizer(weight, training=False, weights=quantizer_vars))
    raise LowBitSettingsError(f"{layer_name!r} has no kernel quantizer in this QAT model: pass a layer QAT wrapped.")
