"""Quantization: the TFLite converter's PTQ kinds and fake quantization at any width (QAT: ``qat``).

Lesson 02 writes each converter call out once in the notebook; ``convert`` holds the same calls
for reuse. Below 8 bits nothing here produces a deployable file: the converter stores 8-bit (and
16x8) integers; ``fake_quantize`` simulates narrower grids and ``packed_bytes`` says what packing
them would take. Real int4/int2 files come from LiteRT Quantizer: ``helpers.low_bit.quantizer`` (lesson 02b).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

from .. import config, conversion_check, keras_compat, measure, models, results

KINDS = ("float32", "dynamic", "float16", "int8")
REPRESENTATIVE_SAMPLES = 200


class QuantizationSettingsError(config.WorkbookError, ValueError):
    """Settings or inputs quantization cannot work with; the message says what to change."""


# ----------------------------------------------------------------------------- converters


def check_representative(x, model) -> np.ndarray:
    """The representative images as float32, or a clear error: calibration needs real inputs of
    the model's shape (int8 scales for activations are measured on them)."""
    expected = tuple(model.input_shape[1:])
    if x is None or len(x) == 0:
        raise QuantizationSettingsError(
            "The representative dataset is empty: full-integer quantization measures activation ranges on "
            f"real inputs. Pass ~{REPRESENTATIVE_SAMPLES} training images, e.g. data.x_train[:{REPRESENTATIVE_SAMPLES}]."
        )
    x = np.asarray(x)
    if tuple(x.shape[1:]) != expected:
        raise QuantizationSettingsError(
            f"The representative images have shape {tuple(x.shape[1:])}, the model expects {expected}: "
            "pass a batch of images shaped like the training data."
        )
    ids = np.dtype(model.inputs[0].dtype.as_numpy_dtype) if model.inputs else np.dtype(np.float32)
    return x.astype(ids if ids.kind in "iu" else np.float32)  # token ids stay integers


def convert(model: keras.Model, kind: str, representative=None, check_on=None) -> bytes:
    """A .tflite flatbuffer of ``model``:

    * ``float32``: no optimization;
    * ``dynamic``: ``Optimize.DEFAULT`` alone - int8 weights, float activations and I/O;
    * ``float16``: float16 weights (computed in float32 on a CPU);
    * ``int8``: full integer - int8 weights and activations, calibrated on ``representative``
      images, int8 input and output.

    Checked here, as ``measure`` checks it (``conversion_check``): calibration images with NaN/inf
    or raw 0-255 values, and the file's outputs against the Keras model's on ``check_on`` (the
    images you will evaluate on; the calibration images if not given) - a ``ConversionWarning``
    that says what to do. (Setting ``inference_input_type = tf.int8`` without
    ``Optimize.DEFAULT`` makes the converter say the type "must be tf.float32": integer I/O exists
    only in a quantized model, so the optimization must be on and calibration given.)
    """
    if kind not in KINDS:
        raise QuantizationSettingsError(f"kind must be one of {KINDS}, not {kind!r}.")
    keras_compat.require_tf_keras(model, "Conversion", why="in this workbook runs on")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        images = check_representative(representative, model)

        def representative_dataset():
            for i in range(min(len(images), REPRESENTATIVE_SAMPLES)):
                yield [images[i : i + 1]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if images.dtype.kind == "f":  # integer token ids stay as they are (an Embedding looks them up)
            converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        rescaled = any(type(la).__name__ in ("Rescaling", "Normalization") for la in model.layers)
        conversion_check.check_calibration(images, f"int8 conversion of {model.name}", rescaled)
    tflite = converter.convert()
    images = check_on if check_on is not None else (representative if kind == "int8" else None)
    if images is not None:
        conversion_check.check_converted(lambda x: model.predict(x, batch_size=1000, verbose=0), tflite, images,
                                         f"{kind} conversion of {model.name}")  # fmt: skip
    return tflite


@dataclasses.dataclass(frozen=True)
class StoredTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    scales: np.ndarray
    zero_points: np.ndarray
    distinct_values: int
    distinct_per_channel: int = 0  # the most distinct values in any one output channel (row)
    zeros: int = 0  # stored values exactly equal to zero (pruned weights that survived conversion)


def stored_weights(tflite: bytes, min_size: int = 0) -> list[StoredTensor]:
    """The weight tensors (kernels, 2-D or more) of a flatbuffer as stored: dtype, shape,
    quantization scales and zero-points (one per output channel when per-channel), number of
    distinct values. Every kernel is listed by default - the small ones matter: dynamic-range
    quantization leaves kernels under 1,024 weights (the CNN's 3x3x1x32 first conv) in float32.
    ``min_size`` hides kernels with fewer elements, if you ask for it. Biases (1-D) are left out."""
    interp = measure.interpreter(tflite, num_threads=None)
    interp.allocate_tensors()
    inputs = {d["index"] for d in interp.get_input_details()} | {d["index"] for d in interp.get_output_details()}
    found = []
    for detail in interp.get_tensor_details():
        if detail["index"] in inputs or len(detail["shape"]) < 2 or np.prod(detail["shape"]) < min_size:
            continue
        if not any(op in detail["name"] for op in ("MatMul", "Conv2D", "conv", "dense", "Dense")):
            continue
        try:
            value = interp.get_tensor(detail["index"])
        except ValueError:
            continue
        q = detail["quantization_parameters"]
        found.append(
            StoredTensor(
                detail["name"],
                np.dtype(detail["dtype"]).name,
                tuple(int(s) for s in detail["shape"]),
                q["scales"],
                q["zero_points"],
                int(len(np.unique(value))),
                int(max(len(np.unique(row)) for row in value.reshape(value.shape[0], -1))),
                int(np.count_nonzero(value == 0)),
            )  # fmt: skip
        )
    return found


def io_types(tflite: bytes) -> tuple[str, str]:
    interp = measure.interpreter(tflite, num_threads=None)
    return np.dtype(interp.get_input_details()[0]["dtype"]).name, np.dtype(interp.get_output_details()[0]["dtype"]).name


# ----------------------------------------------------------------------------- the arithmetic


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise QuantizationSettingsError(
            f"bits = {bits!r}: choose a whole number from 2 to 8 (8 is what the converter deploys; below 8 "
            "is simulated here - helpers.low_bit.quantizer writes real int4/int2 files)."
        )
    return int(bits)


def _grids(lows: np.ndarray, highs: np.ndarray, bits: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scales and zero-points for arrays of ranges (one per channel), vectorized."""
    lo, hi = np.minimum(lows, 0.0), np.maximum(highs, 0.0)  # the grid must hold 0 (zero padding, ReLU)
    qmax = 2 ** (bits - 1) - 1
    if symmetric:
        scale = np.maximum(np.abs(lo), np.abs(hi)) / qmax
        return np.where(scale > 0, scale, 1.0), np.zeros_like(scale, dtype=np.int64)
    qmin = -(2 ** (bits - 1))
    scale = (hi - lo) / (qmax - qmin)
    safe = np.where(scale > 0, scale, 1.0)
    return safe, np.where(scale > 0, np.round(qmin - lo / safe), 0).astype(np.int64)


def scale_zero_point(lo: float, hi: float, bits: int = 8, symmetric: bool = False) -> tuple[float, int]:
    """Scale and zero-point mapping the real range [lo, hi] onto signed ``bits``-bit integers.

    Asymmetric: q in [-2^(b-1), 2^(b-1) - 1], real = scale * (q - zero_point), with 0 exactly
    representable. Symmetric (TFLite's choice for weights): zero_point 0, q in
    [-(2^(b-1) - 1), 2^(b-1) - 1], scale = max(|lo|, |hi|) / (2^(b-1) - 1).
    """
    bits = check_bits(bits)
    scale, zero_point = _grids(np.array([float(lo)]), np.array([float(hi)]), bits, symmetric)
    return float(scale[0]), int(zero_point[0])


def fake_quantize(w: np.ndarray, bits: int, per_channel: bool = True, symmetric: bool = True) -> np.ndarray:
    """``w`` rounded to a ``bits``-bit grid and back to float: what the runtime would compute with.
    Per-channel: one grid per output channel (the last axis of a Keras kernel)."""
    bits = check_bits(bits)
    w = np.asarray(w, dtype=np.float32)
    if per_channel and w.ndim >= 2:
        flat = w.reshape(-1, w.shape[-1])
        lows, highs = flat.min(axis=0), flat.max(axis=0)
    else:
        lows, highs = np.array([w.min()]), np.array([w.max()])
    scale, zero_point = _grids(lows.astype(np.float64), highs.astype(np.float64), bits, symmetric)
    qmax = 2 ** (bits - 1) - 1
    qmin = -qmax if symmetric else -(2 ** (bits - 1))
    q = np.clip(np.round(w / scale) + zero_point, qmin, qmax)  # broadcasts along the last axis
    return ((q - zero_point) * scale).astype(np.float32)


def quantization_error(w: np.ndarray, wq: np.ndarray) -> tuple[float, float]:
    """(mean squared error, signal-to-noise ratio in dB) of ``wq`` as a stand-in for ``w``."""
    mse = float(np.mean((w - wq) ** 2))
    signal = float(np.mean(np.asarray(w, dtype=np.float64) ** 2))
    snr = math.inf if mse == 0 else 10 * math.log10(signal / mse)
    return mse, snr


def packed_bytes(model, bits: int, per_channel: bool = True, symmetric: bool = True) -> int:
    """Bytes if every kernel were stored at ``bits`` per weight, tightly packed, with one float32
    scale (and, asymmetric, one int32 zero-point) per channel or per tensor; biases stay 32-bit.
    The graph itself is not counted: compare it with the weights part of a .tflite."""
    bits = check_bits(bits)
    total_bits = 0
    for layer in measure.kernel_layers(model):
        kernel = layer.kernel.shape.num_elements()
        channels = layer.kernel.shape[-1] if per_channel else 1
        total_bits += kernel * bits + channels * 32 * (1 if symmetric else 2)
        if layer.use_bias:
            total_bits += layer.bias.shape.num_elements() * 32
    return math.ceil(total_bits / 8)


def fake_quantized_model(
    model: keras.Model, bits: int, per_channel: bool = True, symmetric: bool = True
) -> keras.Model:
    """A copy of ``model`` with every kernel fake-quantized (no retraining)."""
    copy = models.copy_model(model)
    for layer in measure.kernel_layers(copy):
        layer.kernel.assign(fake_quantize(layer.kernel.numpy(), bits, per_channel, symmetric))
    return models.compile_model(copy)


def bit_sweep(
    model, x, y, bits_list=(8, 7, 6, 5, 4, 3, 2), per_channel: bool = True, symmetric: bool = True
) -> list[float]:
    """Accuracy on (x, y) with all kernels fake-quantized at each width."""
    return [measure.keras_accuracy(fake_quantized_model(model, b, per_channel, symmetric), x, y) for b in bits_list]


# ----------------------------------------------------------------------------- the explorer's logic


@dataclasses.dataclass
class LayerView:
    layer: str
    weights: np.ndarray
    quantized: np.ndarray
    levels: np.ndarray  # the grid values of the first channel (or the tensor)
    mse: float
    snr_db: float
    problems: list[str]


def explorer_view(model, layer_name: str, bits, per_channel: bool, symmetric: bool) -> LayerView:
    """What the bit-width explorer shows for one layer: never raises."""
    names = [layer.name for layer in measure.kernel_layers(model)]
    problems = []
    if layer_name not in names:
        problems.append(f"No layer {layer_name!r}; choose one of {names}.")
    try:
        bits = check_bits(bits)
    except QuantizationSettingsError as exc:
        problems.append(str(exc))
    if problems:
        empty = np.zeros(0)
        return LayerView(layer_name, empty, empty, empty, math.nan, math.nan, problems)
    w = model.get_layer(layer_name).kernel.numpy()
    wq = fake_quantize(w, bits, per_channel, symmetric)
    first = w[..., 0] if per_channel else w
    scale, zp = scale_zero_point(first.min(), first.max(), bits, symmetric)
    qmax = 2 ** (bits - 1) - 1
    qmin = -qmax if symmetric else -(2 ** (bits - 1))
    levels = (np.arange(qmin, qmax + 1) - zp) * scale
    mse, snr = quantization_error(w, wq)
    return LayerView(layer_name, w, wq, levels, mse, snr, [])


def explorer_run(
    model, data, bits, per_channel: bool, symmetric: bool, *, record: bool = True, key: str | None = None
) -> tuple[dict, dict]:
    """The Run button: whole-model accuracy with fake-quantized kernels, packed size, a point on
    the board (hollow, placed at the packed size) and in the results log. The packed size is stored
    as ``packed_bytes`` only: no file was written, so there is no ``tflite_gz`` (and the point is
    no candidate for a Pareto front of real files). ``key`` makes a re-run replace its entry; its first part
    names the lesson that logs it ("02b/..." from lesson 02b)."""
    bits = check_bits(bits)
    fq = fake_quantized_model(model, bits, per_channel, symmetric)
    accuracy = measure.keras_accuracy(fq, data.x_test, data.y_test)
    packed = packed_bytes(model, bits, per_channel, symmetric)
    name = f"{model.name} {bits}-bit {'per-channel' if per_channel else 'per-tensor'} {'sym' if symmetric else 'asym'} (simulated)"
    metrics = {"tflite_accuracy": accuracy, "packed_bytes": packed, "params": model.count_params()}
    entry = {}
    if record:
        entry = results.record(
            "quantization", name, metrics,
            {"bits": bits, "per_channel": per_channel, "symmetric": symmetric, "simulated": True},
            lesson=(key or "02/").split("/")[0], data=data, key=key or f"02/explorer/{name}",
        )  # fmt: skip
    return metrics, entry
