"""A low-bit plan's file size and weight error, predicted before LiteRT Quantizer runs (lesson 02b).

* ``layer_bytes`` / ``predict_bytes``: the raw ``.tflite`` size a plan will give, from packed values,
  scales and a measured per-tensor overhead (within ~150 B of the real file; ``tests/test_low_bit.py``
  checks it against real files).
* ``fake_quantize`` / ``weight_error``: a kernel rounded to LiteRT Quantizer's grid and the relative error.
"""

from __future__ import annotations

import math

import numpy as np

from .quantizer import Choice, LayerInfo, LowBitSettingsError, check_plan, layers

# Bytes a quantized weight tensor adds beyond its packed values and scales (quantization table,
# DEQUANTIZE op and tensor for weight-only, the scale tensor of blockwise, 16-byte alignment).
# Measured with litert-quantizer 0.11.0 on lesson 00's MLP and CNN; the test checks the prediction
# against real files.
_OVERHEAD = {("weight_only", "channel"): 136, ("dynamic", "channel"): 16, ("dynamic", "block"): 68}
# static mode also stores int32 biases with a scale + zero-point per output channel (12 B each) and
# int8 activations with their quantization tables (~96 B per layer on the MLP and CNN).
_STATIC_PER_LAYER = 96



# ----------------------------------------------------------------------------- size, predicted


def layer_bytes(info: LayerInfo, choice: Choice, mode: str) -> int:
    """Bytes of one layer's kernel in the file: packed values ``ceil(n * bits / 8)`` plus scales -
    per channel a float32 scale and an int64 zero-point (12 B, the flatbuffer's types), per block a
    float16 scale (2 B) - plus a fixed overhead per tensor (:data:`_OVERHEAD`). float32: ``4 n``."""
    if choice.bits == 32:
        return 4 * info.n
    packed = math.ceil(info.n * choice.bits / 8)
    if choice.block:
        return packed + 2 * (info.n // choice.block) + _OVERHEAD[("dynamic", "block")]
    return packed + 12 * info.outputs + _OVERHEAD.get((mode, "channel"), _OVERHEAD[("dynamic", "channel")])


def predict_bytes(model, plan: dict, mode: str, float_bytes: int) -> int:
    """The quantized file's raw size: the float32 file (``float_bytes``) with each kernel's 4 n bytes
    replaced by :func:`layer_bytes`. Static mode adds the biases' scales (12 B per output channel) and
    ~96 B per layer for the activations' quantization. Within ~150 B of the real file (tested)."""
    if isinstance(float_bytes, bool) or not isinstance(float_bytes, (int, np.integer)) or float_bytes <= 0:
        raise LowBitSettingsError(
            f"float_bytes = {float_bytes!r}: pass the float32 .tflite's size in bytes, e.g. len(float_tflite)."
        )
    plan = check_plan(model, plan, mode)
    infos = layers(model)
    size = float_bytes - sum(4 * info.n for info in infos)
    size += sum(layer_bytes(info, plan[info.name], mode) for info in infos)
    if mode == "static":
        size += sum(12 * info.outputs + _STATIC_PER_LAYER for info in infos)
    return int(size)


# ----------------------------------------------------------------------------- weight error


def fake_quantize(kernel: np.ndarray, bits: int, block: int = 0) -> np.ndarray:
    """``kernel`` (Keras layout, last axis = output channels) rounded to LiteRT Quantizer's grid:
    symmetric, narrow range (q in +-(2^(b-1) - 1), zero-point 0), scale = max|w| / (2^(b-1) - 1) per
    output channel, or per block of ``block`` inputs of each channel. bits 32: unchanged."""
    w = np.asarray(kernel, dtype=np.float32)
    if bits == 32:
        return w.copy()
    qmax = 2 ** (bits - 1) - 1
    flat = w.reshape(-1, w.shape[-1]).T  # (outputs, inputs), as the .tflite stores it
    groups = flat.reshape(flat.shape[0], -1, block) if block else flat[:, None, :]
    scale = np.abs(groups).max(axis=-1, keepdims=True) / qmax
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.round(groups / scale), -qmax, qmax) * scale
    return q.reshape(flat.shape).T.reshape(w.shape).astype(np.float32)


def weight_error(kernel: np.ndarray, choice: Choice) -> float:
    """Relative weight error ||w - q(w)|| / ||w|| of one layer (0 for float32)."""
    w = np.asarray(kernel, dtype=np.float64)
    norm = float(np.linalg.norm(w))
    return 0.0 if norm == 0 else float(np.linalg.norm(w - fake_quantize(w, choice.bits, choice.block)) / norm)
