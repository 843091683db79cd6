"""Running a .tflite with the LiteRT interpreter: the prediction path ``measure`` (and every lesson)
uses, for the workbook's models and for files readers bring.

* ``interpreter``: LiteRT's ``Interpreter``; a file LiteRT refuses to open (TFLM's own
  ``person_detect.tflite`` names axis 3 for a per-tensor scale: "quantized_dimension must be in
  range", tflite-micro issues #1555 and #2286) raises a ``ModelError`` that says why and what runs it.
* ``tflite_predict``: batched inference with int8 inputs/outputs (de)quantized for you. A model whose
  batch size is fixed in the file (TFLM's examples: batch 1), or that keeps state between calls
  (LSTM, SVDF: variable tensors, which LiteRT keeps from one ``invoke`` to the next), is run one
  batch of its own size at a time, with its state reset before each example - as Keras runs a
  non-stateful RNN - instead of failing in ``allocate_tensors``.
* Integer inputs (token ids for an ``Embedding``): passed as whole numbers of the file's integer
  type; values that are not whole numbers raise a ``ModelError`` instead of LiteRT's
  "Got value of type FLOAT32 but expected type INT32" or a "gather index out of bounds".
"""

from __future__ import annotations

import math

import numpy as np

from . import keras_compat

_QUANT_DIM = (
    "LiteRT refuses to open this .tflite: one of its tensors has per-channel quantization parameters that name an "
    "axis the tensor's scales do not have ({detail}). TFLite Micro's own example person_detect.tflite is such a file "
    "(tflite-micro issues #1555, #2286): TFLM runs it, LiteRT does not. Measure it on TFLM "
    "(`helpers.microcontroller.tflm`), or re-convert the model from its Keras/SavedModel source with today's converter."
)


def interpreter(tflite: bytes, num_threads: int | None = 1, delegates: bool = True):
    """A LiteRT ``Interpreter`` for ``tflite`` (not allocated). ``delegates=False``: TFLite's
    built-in kernels only (no XNNPACK). ``ModelError`` for a file LiteRT cannot open."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {} if delegates else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    try:
        return Interpreter(model_content=tflite, num_threads=num_threads, **kwargs)
    except ValueError as exc:
        text = str(exc)
        if "quantized_dimension" in text:
            raise keras_compat.ModelError(_QUANT_DIM.format(detail=text.split(".Tensor")[0][:160])) from None
        raise keras_compat.ModelError(f"LiteRT could not open this .tflite: {text.splitlines()[0][:300]}") from None


def fixed_batch(tflite: bytes) -> int | None:
    """The batch size the file fixes for its first input (``shape_signature[0]``), or None if any
    batch size goes (-1, what the converter writes for a Keras model with a ``None`` batch)."""
    detail = interpreter(tflite).get_input_details()[0]
    signature = detail.get("shape_signature")
    signature = detail["shape"] if signature is None or len(signature) == 0 else signature
    return int(signature[0]) if len(signature) and int(signature[0]) > 0 else None


def variable_tensors(tflite: bytes) -> int:
    """How many variable (state) tensors subgraph 0 holds: LSTM/SVDF state that LiteRT keeps
    between calls. Read from the flatbuffer (``Tensor.IsVariable``)."""
    from ai_edge_litert import schema_py_generated as fb

    graph = fb.Model.GetRootAsModel(bytes(tflite), 0).Subgraphs(0)
    return sum(bool(graph.Tensors(i).IsVariable()) for i in range(graph.TensorsLength()))


def ready(tflite: bytes, shape, num_threads: int | None):
    """An interpreter allocated for input ``shape``. If XNNPACK (LiteRT's default CPU delegate)
    cannot prepare the model - it refuses some quantization layouts, e.g. low-bit QAT models -
    fall back to TFLite's built-in kernels and say so: the numbers are then theirs."""
    interp = interpreter(tflite, num_threads)
    try:
        interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(shape))
        interp.allocate_tensors()
        return interp
    except RuntimeError as exc:
        if "delegate" not in str(exc):
            raise
        print(
            "Note: XNNPACK could not prepare this model (" + str(exc).split("Node number")[0].strip() + "); "
            "it runs on TFLite's built-in kernels instead, so its latency is not comparable with the others."
        )
    interp = interpreter(tflite, num_threads, delegates=False)
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(shape))
    interp.allocate_tensors()
    return interp


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """``x`` as the input tensor takes it: float32, int8/uint8 on the tensor's grid, or whole numbers
    of an integer type (token ids). ``ModelError`` for non-whole values fed to integer ids."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero_point = detail["quantization"]
    if not scale:  # an integer input that is not quantized: class or token ids
        if np.issubdtype(np.asarray(x).dtype, np.floating) and not np.all(np.isfinite(x) & (x == np.round(x))):
            raise keras_compat.ModelError(
                f"This model's input takes whole numbers ({dtype.name}: token or category ids, e.g. for an "
                "Embedding), but the data holds values that are not whole numbers (pixels scaled to 0-1?). Pass the "
                "ids themselves, as integers."
            )
        return np.asarray(x).astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero_point = detail["quantization"]
    if not scale:
        return y.astype(np.float32)
    return (y.astype(np.float32) - zero_point) * scale


def as_model_input(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """``x`` reshaped to the model's per-image input shape when only a channel axis of 1 differs
    (images (N, 28, 28) for a model built on (28, 28, 1), or the reverse); otherwise as it is."""
    expected = tuple(int(n) for n in interpreter(tflite).get_input_details()[0]["shape"][1:])
    if x.shape[1:] != expected and math.prod(x.shape[1:]) == math.prod(expected):
        return x.reshape(len(x), *expected)
    return x


def _one_batch_at_a_time(tflite: bytes, x: np.ndarray, batch: int) -> np.ndarray:
    """Run ``x`` in batches of the file's own size (the last one padded and trimmed), resetting the
    state tensors before each call: every example is independent, as in Keras' ``predict``."""
    interp = interpreter(tflite, None)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        padded = np.resize(chunk, (batch, *chunk.shape[1:])) if len(chunk) < batch else chunk
        interp.reset_all_variables()
        interp.set_tensor(inp["index"], quantize_input(padded, inp))
        interp.invoke()
        outputs.append(dequantize_output(interp.get_tensor(out["index"]), out)[: len(chunk)])
    return np.concatenate(outputs)


def tflite_predict(tflite: bytes, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Run a .tflite model on ``x`` in batches; int8 inputs/outputs are (de)quantized for you.
    Images (N, 28, 28) also feed a model that takes (28, 28, 1), and the reverse. A file with a
    fixed batch size or state tensors (LSTM, SVDF) runs at its own batch size, state reset per call.
    Raises ``ValueError`` for empty ``x``, ``keras_compat.ModelError`` for a file LiteRT cannot open."""
    if len(x) == 0:
        raise ValueError("tflite_predict got no images (x is empty).")
    x = as_model_input(tflite, x)
    fixed = fixed_batch(tflite)
    if fixed is not None or variable_tensors(tflite):
        return _one_batch_at_a_time(tflite, x, fixed or 1)
    interp, outputs, current = None, [], None
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        if current != len(chunk):
            interp = ready(tflite, [len(chunk), *x.shape[1:]], None)
            inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
            current = len(chunk)
        interp.set_tensor(inp["index"], quantize_input(chunk, inp))
        interp.invoke()
        outputs.append(dequantize_output(interp.get_tensor(out["index"]), out))
    return np.concatenate(outputs)
