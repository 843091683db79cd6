"""Below 8 bits for real: LiteRT Quantizer recipes, real int8/int4/int2 files (their size predicted: ``sizes``).

LiteRT offers a second path besides the converter: convert a model to float32, then quantize the ``.tflite`` with
LiteRT Quantizer (``litert-quantizer``, import name ``litert_quantizer``):
``Quantizer(float_tflite, recipe).quantize().quantized_model``. Unlike the converter it stores
int4 and int2 weights packed (two or four per byte), per output channel or in blocks along the
input dimension, and ``ai-edge-litert`` runs them. Lesson 02b.

A *plan* says, per Dense/Conv2D layer (by its Keras name), what to store: a :class:`Choice` of
bits (32 = leave float32, 8, 4, 2) and granularity (``block=0``: one scale per output channel;
``block=32/64/128/256``: one scale per block of that many inputs). The *mode* applies to the
whole file:

* ``weight_only``: integer weights, dequantized to float before the op (float compute);
* ``dynamic``: integer weights, activations quantized on the fly (integer compute);
* ``static``: integer weights and activations, activation ranges calibrated on sample images.

What LiteRT Quantizer 0.11.0 accepts is its default policy (``litert_quantizer/default_policy.py``,
copied into :data:`SUPPORTED`); anything else it silently leaves in float32, so :func:`check_plan`
refuses it first with a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import warnings

import numpy as np
import tf_keras as keras

from .. import config, conversion_check, measure

MODES = ("weight_only", "dynamic", "static")
BITS = (32, 8, 4, 2)
BLOCK_SIZES = (32, 64, 128, 256)
CALIBRATION_SAMPLES = 200

# LiteRT Quantizer 0.11.0's default policy: (mode, bits) -> {op: granularities}; "channel" or "block".
_FC, _CONV = "FULLY_CONNECTED", "CONV_2D"
SUPPORTED = {
    ("weight_only", 8): {_FC: {"channel"}, _CONV: {"channel"}},
    ("weight_only", 4): {_FC: {"channel"}, _CONV: {"channel"}},
    ("dynamic", 8): {_FC: {"channel"}, _CONV: {"channel"}},
    ("dynamic", 4): {_FC: {"channel", "block"}, _CONV: {"channel"}},
    ("dynamic", 2): {_FC: {"channel"}, _CONV: {"channel"}},  # int2 blockwise: written, but XNNPACK refuses it
    ("static", 8): {_FC: {"channel"}, _CONV: {"channel"}},
    ("static", 4): {_FC: {"channel"}, _CONV: {"channel"}},
}

class LowBitSettingsError(config.WorkbookError, ValueError):
    """A plan LiteRT Quantizer cannot produce; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """How one layer is stored: ``bits`` 32 (float32), 8, 4 or 2; ``block`` 0 = per-channel scales,
    else one scale per ``block`` consecutive inputs of each output channel."""

    bits: int = 8
    block: int = 0

    def label(self) -> str:
        if self.bits == 32:
            return "float32"
        return f"int{self.bits} " + (f"block-{self.block}" if self.block else "per-channel")


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """A Dense or Conv2D layer as LiteRT stores it: ``op``, weights ``n`` = inputs x outputs,
    ``inputs`` per output channel (the blockwise dimension), ``outputs`` (channels)."""

    name: str
    op: str
    n: int
    inputs: int
    outputs: int


def layers(model) -> list[LayerInfo]:
    """The model's quantizable layers (Dense -> FULLY_CONNECTED, Conv2D -> CONV_2D)."""
    found = []
    for layer in measure.kernel_layers(model):
        shape = tuple(int(s) for s in layer.kernel.shape)
        op = _CONV if isinstance(layer, keras.layers.Conv2D) else _FC
        found.append(LayerInfo(layer.name, op, int(np.prod(shape)), int(np.prod(shape[:-1])), shape[-1]))
    return found


def uniform_plan(model, bits: int = 8, block: int = 0) -> dict[str, Choice]:
    """Every layer the same choice."""
    return {info.name: Choice(bits, block) for info in layers(model)}


def _as_choice(value) -> Choice:
    if isinstance(value, Choice):
        return value
    if isinstance(value, (tuple, list)):
        return Choice(*value)
    return Choice(value)


def check_plan(model, plan: dict, mode: str) -> dict[str, Choice]:
    """The plan completed (layers not named stay float32) and checked, or LowBitSettingsError."""
    if mode not in MODES:
        raise LowBitSettingsError(f"mode must be one of {MODES}, not {mode!r}.")
    infos = {info.name: info for info in layers(model)}
    unknown = sorted(set(plan) - set(infos))
    if unknown:
        raise LowBitSettingsError(f"No quantizable layer named {unknown}; the model's are {list(infos)}.")
    checked = {}
    for name, info in infos.items():
        choice = _as_choice(plan.get(name, Choice(32)))
        if choice.bits not in BITS:
            raise LowBitSettingsError(f"{name}: bits = {choice.bits!r}; LiteRT stores 32 (float), 8, 4 or 2 bits.")
        if choice.bits != 32:
            kind = "block" if choice.block else "channel"
            if choice.block and choice.block not in BLOCK_SIZES:
                raise LowBitSettingsError(f"{name}: block size {choice.block}; choose one of {BLOCK_SIZES} (or 0).")
            allowed = SUPPORTED.get((mode, choice.bits), {}).get(info.op, set())
            if kind not in allowed:
                modes = [m for m in MODES if kind in SUPPORTED.get((m, choice.bits), {}).get(info.op, set())]
                hint = f"use mode {modes}" if modes else "no mode stores it: choose other bits"
                raise LowBitSettingsError(
                    f"{name} ({info.op}): {mode} int{choice.bits} {'blockwise' if choice.block else 'per-channel'} "
                    f"is not in LiteRT Quantizer's policy (it would silently stay float32); {hint}."
                )
            if choice.block and info.inputs % choice.block:
                divisors = [b for b in BLOCK_SIZES if info.inputs % b == 0]
                raise LowBitSettingsError(
                    f"{name}: its {info.inputs} inputs per output channel are not divisible by block size "
                    f"{choice.block}; " + (f"use block {divisors}" if divisors else "use per-channel (block 0)") + "."
                )
        checked[name] = Choice(choice.bits, choice.block if choice.bits != 32 else 0)
    if mode == "static" and any(c.bits == 32 for c in checked.values()):
        floats = [n for n, c in checked.items() if c.bits == 32]
        raise LowBitSettingsError(
            f"static mode keeps activations int8 from input to output; float32 layers {floats} would need "
            "quantize/dequantize ops around them. Give every layer 8 or 4 bits, or use mode 'dynamic' to mix in float32."
        )
    return checked


def layer_regexes(float_tflite: bytes, model) -> dict[str, str]:
    """``{layer: recipe regex}``. A recipe selects an op by its *output* tensor's name, which for the
    last layer is the model output (``StatefulPartitionedCall:0``), not the layer name; so each
    FULLY_CONNECTED / CONV_2D op is found by its weight tensor (``mlp/dense_0/MatMul``) and matched
    by its exact output name."""
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.convert_bytearray_to_object(bytes(float_tflite))
    graph, found = flat.subgraphs[0], {}
    codes = {3: _CONV, 9: _FC}  # builtin operator codes of CONV_2D and FULLY_CONNECTED
    for op in graph.operators:
        if codes.get(flat.operatorCodes[op.opcodeIndex].builtinCode) is None:
            continue
        weight = graph.tensors[op.inputs[1]].name.decode()
        output = graph.tensors[op.outputs[0]].name.decode()
        for info in layers(model):
            if f"/{info.name}/" in f"/{weight}":
                found[info.name] = f"^{re.escape(output)};$"  # the scope ends with ";"
    missing = [info.name for info in layers(model) if info.name not in found]
    if missing:
        raise LowBitSettingsError(f"The .tflite has no op for layer(s) {missing}: pass the float32 file of this model.")
    return found


ALGORITHMS = ("min_max_uniform_quantize", "OCTAV", "GPTQ")  # litert_quantizer/algorithm_manager.py AlgorithmName


def build_recipe(model, float_tflite: bytes, plan: dict, mode: str, algorithm: str = ALGORITHMS[0]) -> list[dict]:
    """A LiteRT Quantizer recipe (a list of JSON-able dicts) for ``plan`` in ``mode``, built with
    ``recipe_manager.RecipeManager``: one config per quantized layer (:func:`layer_regexes`).
    Static mode first puts every op on int8 activations; float32 layers then get ``NO_QUANTIZE``.
    ``algorithm`` (dynamic mode): how the integer weights are chosen - round-to-nearest on the
    min/max grid (the default), OCTAV (clipping range that minimises the error) or GPTQ
    (Hessian-aware rounding; needs calibration images)."""
    from litert_quantizer import qtyping
    from litert_quantizer.algorithm_manager import AlgorithmName
    from litert_quantizer.recipe_manager import RecipeManager

    plan = check_plan(model, plan, mode)
    if algorithm not in ALGORITHMS or (algorithm != ALGORITHMS[0] and mode != "dynamic"):
        raise LowBitSettingsError(f"Algorithm {algorithm!r}: use one of {ALGORITHMS} (the last two in dynamic mode only).")
    if all(c.bits == 32 for c in plan.values()):
        raise LowBitSettingsError(
            "Every layer is float32: nothing to quantize. Give at least one layer 8, 4 or 2 bits."
        )
    regexes = layer_regexes(float_tflite, model)
    manager = RecipeManager()
    if mode == "static":
        manager.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, 8)
    ops = {info.name: info.op for info in layers(model)}
    for name, choice in plan.items():
        op = getattr(qtyping.TFLOperationName, ops[name])
        if choice.bits == 32:
            manager.add_quantization_config(regexes[name], op, algorithm_key=AlgorithmName.NO_QUANTIZE)
            continue
        granularity = qtyping.QuantGranularity(f"BLOCKWISE_{choice.block}" if choice.block else "CHANNELWISE")
        if mode == "dynamic":
            manager.add_dynamic_config(regexes[name], op, choice.bits, granularity, algorithm_key=algorithm)
        elif mode == "weight_only":
            manager.add_weight_only_config(regexes[name], op, choice.bits, granularity)
        else:
            manager.add_static_config(regexes[name], op, 8, choice.bits, granularity)
    return manager.get_quantization_recipe()


def signature_input(tflite: bytes) -> tuple[str, str]:
    """(signature key, input name) of a one-input .tflite, as calibration and validation need them."""
    signatures = measure.interpreter(tflite, num_threads=None).get_signature_list()
    key = next(iter(signatures))
    return key, signatures[key]["inputs"][0]


def calibration_data(tflite: bytes, images: np.ndarray, samples: int = CALIBRATION_SAMPLES) -> dict:
    """``{signature: [{input: one image batch}, ...]}``: LiteRT Quantizer's calibration/validation format."""
    if images is None or len(images) == 0:
        raise LowBitSettingsError("Static quantization needs calibration images: pass e.g. data.x_train[:200].")
    key, name = signature_input(tflite)
    images = np.asarray(images, dtype=np.float32)
    return {key: [{name: images[i : i + 1]} for i in range(min(samples, len(images)))]}


@contextlib.contextmanager
def quiet():
    """LiteRT Quantizer's calibration prints a progress bar and a debugging-mode warning."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def quantize(float_tflite: bytes, recipe, calibration_images=None):
    """``(quantized .tflite bytes, the Quantizer)``: LiteRT Quantizer on a float32 flatbuffer.

    Calibrates first when the recipe needs it (static), on ``calibration_images``. The Quantizer is
    returned for ``.validate()``. Errors from the quantizer (a block size that does not divide a
    dimension, say) come back as LowBitSettingsError with its message.
    """
    from litert_quantizer import Quantizer

    quantizer = Quantizer(bytes(float_tflite), recipe)
    try:
        with quiet():
            result = None
            if quantizer.need_calibration:
                result = quantizer.calibrate(calibration_data(float_tflite, calibration_images), num_threads=1)
            quantized = quantizer.quantize(result, enable_progress_report=False).quantized_model
    except LowBitSettingsError:
        raise
    except (ValueError, RuntimeError) as exc:
        raise LowBitSettingsError(f"LiteRT Quantizer refused the recipe: {exc}") from None
    if calibration_images is not None:  # the check measure runs, here where the file is made
        if quantizer.need_calibration:
            conversion_check.check_calibration(calibration_images, "LiteRT Quantizer calibration")
        conversion_check.check_converted(lambda x: measure.tflite_predict(bytes(float_tflite), x), bytes(quantized),
                                         calibration_images, "the LiteRT Quantizer file (compared with the float .tflite)")  # fmt: skip
    return bytes(quantized), quantizer


def stored_tensors(tflite: bytes, model) -> list[tuple[str, str, int, int]]:
    """``(layer, stored type, weights, bytes in the file)`` of each kernel as the flatbuffer holds it:
    INT4/INT2 tensors are packed (the interpreter hands them out unpacked, as int8)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.convert_bytearray_to_object(bytes(tflite))
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    rows = []
    for info in layers(model):
        for tensor in flat.subgraphs[0].tensors:
            buffer = flat.buffers[tensor.buffer]
            # small buffers sit inside the flatbuffer, big ones after it (offset + size)
            size = len(buffer.data) if buffer.data is not None else int(getattr(buffer, "size", 0) or 0)
            if size and int(np.prod(tensor.shape)) == info.n and f"/{info.name}/" in tensor.name.decode():
                rows.append((info.name, names.get(tensor.type, str(tensor.type)), info.n, size))
                break
    return rows


def stored_kernel(tflite: bytes, model, layer_name: str) -> np.ndarray:
    """One layer's kernel read back from the file's own bytes and dequantized (integers x scale),
    shape as the Keras kernel: Dense ``(inputs, outputs)``. INT4 tensors are unpacked two per byte
    (low nibble first, sign-extended: TFLite's packing, ``tensorflow/lite/kernels/internal/portable_tensor_utils``);
    INT2 four per byte; INT8 as is; FLOAT32 returned as stored. Raises LowBitSettingsError when the
    layer is not found or its type is not one of those (only Dense layers are supported)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    info = next((i for i in layers(model) if i.name == layer_name), None)
    if info is None or info.op != "FULLY_CONNECTED":
        raise LowBitSettingsError(f"{layer_name!r} is not a Dense layer of this model: pass one of "
                                  f"{[i.name for i in layers(model) if i.op == 'FULLY_CONNECTED']}.")
    flat = flatbuffer_utils.convert_bytearray_to_object(bytes(tflite))
    tail = bytes(tflite)
    for tensor in flat.subgraphs[0].tensors:
        if int(np.prod(tensor.shape)) != info.n or f"/{layer_name}/" not in tensor.name.decode():
            continue
        buffer = flat.buffers[tensor.buffer]
        if buffer.data is not None and len(buffer.data):
            raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
        else:  # big buffers sit after the flatbuffer: offset + size
            raw = tail[int(buffer.offset): int(buffer.offset) + int(buffer.size)]
        out_ch, in_ch = (int(d) for d in tensor.shape)
        if tensor.type == schema.TensorType.FLOAT32:
            return np.frombuffer(raw, dtype=np.float32).reshape(out_ch, in_ch).T.copy()
        packed = np.frombuffer(raw, dtype=np.uint8)
        if tensor.type == schema.TensorType.INT8:
            q = packed.view(np.int8).astype(np.int32)
        elif tensor.type in (schema.TensorType.INT4, schema.TensorType.INT2):
            width = 4 if tensor.type == schema.TensorType.INT4 else 2
            per_byte = 8 // width
            values = np.stack([(packed >> (width * k)) & ((1 << width) - 1) for k in range(per_byte)], axis=1).reshape(-1)
            q = np.where(values >= 1 << (width - 1), values.astype(np.int32) - (1 << width), values.astype(np.int32))
        else:
            raise LowBitSettingsError(f"{layer_name}: stored as tensor type {tensor.type}, not float32/int8/int4/int2.")
        q = q[: out_ch * in_ch].reshape(out_ch, in_ch)
        quant = tensor.quantization
        scale = np.asarray(quant.scale, dtype=np.float64)
        zero = np.asarray(quant.zeroPoint if quant.zeroPoint is not None else [0], dtype=np.int64)
        if len(scale) not in (1, out_ch):
            raise LowBitSettingsError(f"{layer_name}: {len(scale)} scales for {out_ch} channels (blockwise?): "
                                      "read back per-channel or per-tensor files only.")
        if len(scale) == out_ch:
            scale, zero = scale[:, None], (zero[:, None] if len(zero) == out_ch else zero)
        return ((q - zero) * scale).astype(np.float32).T.copy()
    raise LowBitSettingsError(f"No weight tensor of {layer_name!r} found in this file (was it quantized from this model?).")


def quantize_plan(model, float_tflite: bytes, plan: dict, mode: str, calibration_images=None,
                  algorithm: str = ALGORITHMS[0]) -> bytes:
    """:func:`build_recipe` + :func:`quantize`: the real file for a per-layer plan."""
    return quantize(float_tflite, build_recipe(model, float_tflite, plan, mode, algorithm), calibration_images)[0]
