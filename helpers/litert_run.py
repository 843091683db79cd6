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
* ``check_runs``: a file with state tensors or an operator outside ``FAMILIAR_OPS`` first runs once in a
  separate process. LiteRT can crash the whole process on such a file - TFLM's own
  ``keyword_scrambled_8bit.tflite`` (int8 SVDF, int16 input) aborts ai-edge-litert 2.3.0 with "double free or
  corruption" on its first ``invoke`` - and a crash there must not take the reader's kernel and everything it
  computed with it. A crash becomes a ``ModelError`` saying so; TFLM may still run the file.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import tempfile
from pathlib import Path

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


#: Operators of the models the workbook builds (MLPs, CNNs, residual and depthwise nets, their int8/int4 files),
#: which LiteRT runs in this process without a trial run first.
FAMILIAR_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "EXPAND_DIMS", "FULLY_CONNECTED", "HARD_SWISH", "LEAKY_RELU", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "SHAPE", "SOFTMAX", "SQUEEZE",
    "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE",
})  # fmt: skip
TRIAL_TIMEOUT_S = 120
_TRIAL = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interp = Interpreter(model_path=sys.argv[1])
interp.allocate_tensors()
for detail in interp.get_input_details():
    interp.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
interp.invoke()
"""
_trials: dict[str, str] = {}  # sha256 -> "" (ran) or what went wrong


def operators(tflite: bytes) -> set[str]:
    """The builtin operator names subgraph 0's file uses (``"FULLY_CONNECTED"``, ...; a custom op: ``"CUSTOM"``)."""
    from ai_edge_litert import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    model = fb.Model.GetRootAsModel(bytes(tflite), 0)
    codes = (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    return {names.get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode()), "UNKNOWN") for c in codes}


def check_runs(tflite: bytes) -> None:
    """Raise ``ModelError`` if LiteRT crashes (or hangs) running ``tflite`` once on zeros, tried in a child
    process; return at once for a file of familiar operators without state. Remembered per file."""
    unfamiliar = sorted(operators(tflite) - FAMILIAR_OPS)
    if not unfamiliar and not variable_tensors(tflite):
        return
    sha = hashlib.sha256(bytes(tflite)).hexdigest()
    if sha not in _trials:
        with tempfile.TemporaryDirectory(prefix="litert-trial-") as folder:
            path = Path(folder) / "model.tflite"
            path.write_bytes(bytes(tflite))  # closed before the child opens it (Windows)
            try:
                run = subprocess.run([sys.executable, "-c", _TRIAL, str(path)], capture_output=True, timeout=TRIAL_TIMEOUT_S)
                failed = run.returncode != 0
                lines = [ln for ln in run.stderr.decode(errors="replace").splitlines() if ln.strip()]
                reason = (lines[-1][:200] if lines else f"exit code {run.returncode}") if failed else ""
            except subprocess.TimeoutExpired:
                reason = f"no answer within {TRIAL_TIMEOUT_S} s"
        _trials[sha] = reason
    if _trials[sha]:
        raise keras_compat.ModelError(
            f"LiteRT crashed running this .tflite once on zeros ({_trials[sha]}), tried in a separate process so this "
            f"kernel survived. Its operators beyond the workbook's usual ones: {', '.join(unfamiliar) or 'none'}"
            f"{'; it keeps state between calls' if variable_tensors(tflite) else ''}. A LiteRT bug with such a file "
            "(TFLM's keyword_scrambled_8bit.tflite, int8 SVDF, does this); TFLM may still run it: "
            "helpers.microcontroller.tflm_run.footprint measures it there, with LiteRT's column 'not compared'."
        )


def ready(tflite: bytes, shape, num_threads: int | None):
    """An interpreter allocated for input ``shape``. If XNNPACK (LiteRT's default CPU delegate)
    cannot prepare the model - it refuses some quantization layouts, e.g. low-bit QAT models -
    fall back to TFLite's built-in kernels and say so: the numbers are then theirs."""
    check_runs(tflite)
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
    check_runs(tflite)
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
