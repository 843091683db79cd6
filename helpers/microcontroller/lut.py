"""Lesson 05: TFLM's look-up-table compression of int8 weights (``tflite_micro.compression``).

``weight_tensors`` lists what can be rewritten (and how many index bits each tensor needs);
``lut_compress`` rewrites the tensors as ``bits``-bit indices into value tables, decoded on the
device by TFLM's DECODE operator: clustered weights (lesson 04) become flash savings.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import tflm


@dataclasses.dataclass(frozen=True)
class WeightTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    distinct: int  # distinct int8 values in the whole tensor
    distinct_per_channel: int  # most distinct values in one output channel (axis 0)

    def bits_needed(self, per_channel: bool) -> int:
        n = self.distinct_per_channel if per_channel else self.distinct
        return max(1, math.ceil(math.log2(n)))


def weight_tensors(model: bytes, min_size: int = 100) -> list[WeightTensor]:
    """The int8 constant weight tensors (≥ ``min_size`` values) of subgraph 0: what LUT compression can rewrite."""
    fb = tflm._schema()

    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytes(model), 0))
    found = []
    for i, t in enumerate(m.subgraphs[0].tensors):
        buf = m.buffers[t.buffer].data if t.buffer < len(m.buffers) else None
        if buf is None or t.type != fb.TensorType.INT8 or t.shape is None or len(t.shape) < 2:
            continue
        values = np.frombuffer(bytes(bytearray(buf)), np.int8)
        if values.size < min_size or values.size != int(np.prod(t.shape)):
            continue
        rows = values.reshape(int(t.shape[0]), -1)
        found.append(WeightTensor(i, t.name.decode() if t.name else f"tensor {i} (no name)", tuple(int(s) for s in t.shape), len(np.unique(values)),
                                  max(len(np.unique(r)) for r in rows)))
    return found


def lut_compress(model: bytes, bits: int, per_channel: bool = True, tensors: list[WeightTensor] | None = None) -> bytes:
    """Rewrite the weight tensors as ``bits``-bit indices into value tables (TFLM DECODE operators).

    The TF-MOT-independent part of lesson 05's compression step; the notebook shows the
    ``SpecBuilder`` calls it makes. Too few bits for the distinct values raises tflm.MicroError.
    """
    tflm._require_tflm("LUT compression")
    from tflite_micro import compression
    from tflite_micro.tensorflow.lite.micro.compression import spec

    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= int(bits) <= 7:
        raise tflm.MicroError(f"LUT index bits must be a whole number from 1 to 7 (TFLM's limit), not {bits!r}.")
    tensors = weight_tensors(model) if tensors is None else tensors
    if not tensors:
        raise tflm.MicroError("This model has no int8 weight tensors to compress; convert it to int8 first (lesson 02).")
    mode = spec.PerChannel(axis=0) if per_channel else spec.PerTensor()
    builder = compression.SpecBuilder()
    for t in tensors:
        builder.add_tensor(subgraph=0, tensor=t.index).with_lut(int(bits), mode)
    try:
        return bytes(compression.compress(bytes(model), builder.build()))
    except Exception as exc:  # the compressor's CompressionError and friends
        worst = max(tensors, key=lambda t: t.bits_needed(per_channel))
        raise tflm.MicroError(
            f"LUT compression with {bits}-bit indices {'per channel' if per_channel else 'per tensor'} failed: {exc}. "
            f"Tensor {worst.name!r} has {worst.distinct_per_channel if per_channel else worst.distinct} distinct values "
            f"{'in one channel' if per_channel else ''}, which needs {worst.bits_needed(per_channel)} bits: "
            "cluster the weights first (lesson 04) or use per-channel tables."
        ) from exc
