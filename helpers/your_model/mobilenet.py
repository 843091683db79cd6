"""Lesson 06, section 14: a MobileNet-class model through the lesson's recipes, and what differs from
the small CNN the lesson ships.

* ``build_mobilenet``: ``tf_keras.applications.MobileNetV2`` (alpha 0.35, no pretrained weights) on
  Fashion-MNIST, the 28 x 28 images resized inside the model; ``mobilenet_model`` trains it on the fast
  subset and caches it, like ``compress.shipped_model``.
* ``kernel_kinds``: where the parameters and the multiply-accumulates sit (depthwise 3x3, pointwise 1x1,
  full convolutions, Dense): why MobileNet reacts differently to each recipe.
* ``fake_quantized``: the model with the kernels of some kinds rounded to a b-bit grid, per channel or per
  tensor - which layers int4 or per-tensor scales hurt, measured in Keras without writing a file.
* ``zeroed``: one-shot magnitude pruning without fine-tuning (each layer's smallest weights set to zero):
  how sensitive the trained weights are, before any recovery.

Sandler et al. 2018, *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (arXiv:1801.04381): the
architecture. Yun & Wong 2021, *Do All MobileNets Quantize Poorly?* (arXiv:2104.11849): the mismatch
between per-channel and per-layer weight ranges in depthwise-separable networks behind their losses under
post-training quantization. Krishnamoorthi 2018, *Quantizing deep convolutional networks for efficient
inference: A whitepaper* (arXiv:1806.08342): per-channel int8 weights within 2 % of float.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tf_keras as keras

from .. import data, measure, models
from ..low_bit import sizes
from . import compress

IMAGE_SIZE = 48  # px: Fashion-MNIST's 28 x 28 resized inside the model (MobileNetV2 needs at least 32)
ALPHA = 0.35  # width multiplier: the smallest MobileNetV2 Keras ships
MOBILENET_EPOCHS = 8
KINDS = ("depthwise 3x3", "pointwise 1x1", "full conv", "dense")


def build_mobilenet(num_classes: int = 10, size: int = IMAGE_SIZE, alpha: float = ALPHA,
                    name: str = "mobilenet_v2") -> keras.Model:  # fmt: skip
    """Input (28, 28) -> Reshape (28, 28, 1) -> Resizing (size, size) -> MobileNetV2 (``alpha``, one input
    channel, ``weights=None``, logits for ``num_classes``): one functional graph, 422,730 parameters at the
    defaults. BatchNormalization momentum 0.9 instead of Keras' 0.999: after 8 short epochs the running
    statistics at 0.999 still describe the initial weights (10 % test accuracy here, chance)."""
    inputs = keras.Input((28, 28), name="image")
    x = keras.layers.Reshape((28, 28, 1), name="reshape")(inputs)
    x = keras.layers.Resizing(size, size, name="resize")(x)
    body = keras.applications.MobileNetV2(alpha=alpha, input_tensor=x, weights=None, classes=num_classes,
                                          classifier_activation=None)  # fmt: skip
    model = keras.Model(inputs, body.output, name=name)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def mobilenet_model(seed: int = models.DEFAULT_SEED) -> tuple[keras.Model, data.Dataset]:
    """``build_mobilenet()`` trained ``MOBILENET_EPOCHS`` epochs on the fast subset (cached under
    ``data/cache/models/mobilenet-…``), and that subset."""
    return compress.cached_training(build_mobilenet, MOBILENET_EPOCHS, seed, prefix="mobilenet")


def kind(layer) -> str | None:
    """Which of ``KINDS`` a kernel layer is (None for a layer without a kernel)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise 3x3" if tuple(layer.kernel_size) == (3, 3) else "depthwise"
    if isinstance(layer, keras.layers.Conv2D):
        return "pointwise 1x1" if tuple(layer.kernel_size) == (1, 1) else "full conv"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    return None


@dataclasses.dataclass
class KindShare:
    """One kind of kernel layer in a model: how many layers, kernel weights and MACs per image."""

    kind: str
    layers: int
    weights: int
    macs: int


def kernel_kinds(model) -> list[KindShare]:
    """Per kind of kernel layer (``KINDS`` order, kinds the model has), the kernel weights (biases and
    BatchNorm vectors not counted) and the MACs per image (``measure.count_macs``' formulas)."""
    out = {}
    for layer in model.layers:
        k = kind(layer)
        if k is None:
            continue
        n = int(np.prod(layer.get_weights()[0].shape))  # kernel, or a depthwise layer's depthwise_kernel
        macs = n * (int(np.prod(layer.output_shape[1:3])) if len(layer.output_shape) == 4 else 1)
        share = out.setdefault(k, KindShare(k, 0, 0, 0))
        share.layers, share.weights, share.macs = share.layers + 1, share.weights + n, share.macs + macs
    return [out[k] for k in (*KINDS, "depthwise") if k in out]


def kinds_table(*named_models) -> str:
    """Text table: per model and kind, layers, share of kernel weights, share of MACs."""
    lines = [f"{'model':<14}{'kind':<16}{'layers':>7}{'weights':>10}{'of weights':>12}{'MACs':>12}{'of MACs':>9}"]
    for model in named_models:
        shares = kernel_kinds(model)
        weights, macs = sum(s.weights for s in shares), sum(s.macs for s in shares)
        for s in shares:
            lines.append(f"{model.name:<14}{s.kind:<16}{s.layers:>7}{s.weights:>10,}{s.weights / weights:>12.1%}"
                         f"{s.macs:>12,}{s.macs / macs:>9.1%}")  # fmt: skip
    return "\n".join(lines)


def _channels_last(layer, kernel: np.ndarray) -> np.ndarray:
    """The kernel with its output channels on the last axis: a depthwise kernel (k, k, C, multiplier)
    has them on axis 2 (multiplier 1), as LiteRT's per-channel scales do (quantized dimension 3 of its
    (1, k, k, C) filter)."""
    return np.moveaxis(kernel, 2, -1) if isinstance(layer, keras.layers.DepthwiseConv2D) else kernel


def _rounded(layer, kernel: np.ndarray, bits: int, per_channel: bool) -> np.ndarray:
    w = _channels_last(layer, kernel)
    # per tensor: the whole kernel as one "channel", so one scale, max |w| over every weight
    q = sizes.fake_quantize(w, bits) if per_channel else sizes.fake_quantize(w.reshape(-1, 1), bits).reshape(w.shape)
    return np.moveaxis(q, -1, 2) if isinstance(layer, keras.layers.DepthwiseConv2D) else q


def _bn_factor(layer) -> np.ndarray | None:
    """gamma / sqrt(variance + epsilon) of the BatchNormalization that alone consumes ``layer``'s output: the
    per-channel factor the converter folds into the kernel (None without such a layer)."""
    consumers = [node.outbound_layer for node in layer._outbound_nodes]
    if len(consumers) != 1 or not isinstance(consumers[0], keras.layers.BatchNormalization):
        return None
    bn = consumers[0]
    gamma = bn.gamma.numpy() if bn.gamma is not None else 1.0
    return (gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)).astype(np.float32)


def fake_quantized(model, bits: int, kinds=KINDS, per_channel: bool = True) -> keras.Model:
    """A copy of ``model`` whose kernels of the given ``kinds`` are rounded to a symmetric ``bits``-bit grid
    (``low_bit.sizes.fake_quantize``'s: scale = max|w| / (2^(b-1) - 1), per output channel or, with
    ``per_channel=False``, one per tensor) and stored back as float32; other weights unchanged. A kernel
    followed by BatchNormalization is rounded as the converter stores it, with the BatchNorm's scale folded
    in (rounded, then unfolded), since folding is what makes channel ranges differ. The accuracy of the copy
    is the weight rounding's cost, without activations quantized or a file written.
    Raises ValueError for bits outside 2..8 or a kind not in ``KINDS``."""
    if not 2 <= int(bits) <= 8:
        raise ValueError(f"bits must be from 2 to 8, got {bits}")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kernel kinds {sorted(unknown)}: use some of {KINDS}")
    copy = models.copy_model(model)
    for layer in copy.layers:
        if kind(layer) in kinds:
            weights = layer.get_weights()
            factor = _bn_factor(layer)
            if factor is None or np.any(factor == 0):
                weights[0] = _rounded(layer, weights[0], int(bits), per_channel)
            else:  # output channels: the last axis of a kernel, axis 2 of a depthwise one
                shape = (1, 1, -1, 1) if isinstance(layer, keras.layers.DepthwiseConv2D) else (1,) * (weights[0].ndim - 1) + (-1,)
                f = factor.reshape(shape)
                weights[0] = _rounded(layer, weights[0] * f, int(bits), per_channel) / f
            layer.set_weights(weights)
    return copy


def zeroed(model, sparsity: float, kinds=KINDS, keep_dense=()) -> keras.Model:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest-magnitude weights of each kernel of the
    given ``kinds`` set to zero (layers named in ``keep_dense`` untouched), no fine-tuning: one-shot
    magnitude pruning, the starting point every pruning schedule recovers from.
    Raises ValueError for sparsity outside [0, 1)."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    copy = models.copy_model(model)
    for layer in copy.layers:
        if kind(layer) not in kinds or layer.name in keep_dense:
            continue
        weights = layer.get_weights()
        w = weights[0]
        cut = int(sparsity * w.size)
        if cut:
            threshold = np.partition(np.abs(w).ravel(), cut - 1)[cut - 1]
            weights[0] = np.where(np.abs(w) <= threshold, 0.0, w).astype(w.dtype)
            layer.set_weights(weights)
    return copy


def accuracy(model, d: data.Dataset) -> float:
    """Keras test accuracy on ``d``'s test set (a fraction)."""
    return measure.keras_accuracy(model, d.x_test, d.y_test)


#: (label, bits, kinds, per_channel) of the rounding study: every kernel, then the depthwise ones alone.
ROUNDINGS = (
    ("int8 per-channel, every kernel", 8, KINDS, True),
    ("int4 per-channel, every kernel", 4, KINDS, True),
    ("int4 per-tensor, every kernel", 4, KINDS, False),
    ("int4 per-channel, depthwise only", 4, ("depthwise 3x3",), True),
    ("int4 per-tensor, depthwise only", 4, ("depthwise 3x3",), False),
)
#: (label, kinds) of the one-shot pruning study.
ZEROINGS = (
    ("every kernel", KINDS),
    ("depthwise only", ("depthwise 3x3",)),
    ("all but depthwise", ("pointwise 1x1", "full conv", "dense")),
)


def _has(model, kinds) -> bool:
    return any(kind(layer) in kinds for layer in model.layers)


def rounding_study(d: data.Dataset, *studied) -> dict[str, dict[str, float | None]]:
    """Per model name: its float Keras test accuracy (``"float32"``) and, per ``ROUNDINGS`` label, the
    accuracy of ``fake_quantized`` with that setting (None where the model has no kernel of those kinds)."""
    out = {}
    for model in studied:
        row = {"float32": accuracy(model, d)}
        for label, bits, kinds, per_channel in ROUNDINGS:
            row[label] = accuracy(fake_quantized(model, bits, kinds, per_channel), d) if _has(model, kinds) else None
        out[model.name] = row
    return out


def zeroing_study(d: data.Dataset, *studied, sparsity: float = 0.5) -> dict[str, dict[str, float | None]]:
    """Per model name: float accuracy and, per ``ZEROINGS`` label, the accuracy after ``zeroed`` at
    ``sparsity`` (None where the model has no kernel of those kinds)."""
    out = {}
    for model in studied:
        row = {"float32": accuracy(model, d)}
        for label, kinds in ZEROINGS:
            row[label] = accuracy(zeroed(model, sparsity, kinds), d) if _has(model, kinds) else None
        out[model.name] = row
    return out


def study_table(study: dict[str, dict[str, float | None]], title: str) -> str:
    """Text table of a study: one column per model, accuracy and the change from float32 in pp."""
    names = list(study)
    lines = [f"{title:<36}" + "".join(f"{n:>24}" for n in names)]
    for label in study[names[0]]:
        cells = []
        for n in names:
            a, base = study[n].get(label), study[n]["float32"]
            cells.append(f"{'-':>24}" if a is None else f"{a:>13.2%}" + ("" if label == "float32" else f" {100 * (a - base):+7.2f} pp").rjust(11))
        lines.append(f"{label:<36}" + "".join(cells))
    return "\n".join(lines)


def weight_types(tflite: bytes) -> dict[str, dict[str, int]]:
    """Per operator kind of a .tflite (``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED``), how many
    of its ops store their weights (input 1) as each tensor type (``INT8``, ``INT4``, ``FLOAT32`` …): what
    a quantizer actually rewrote. Read with ai_edge_litert's flatbuffer schema."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.convert_bytearray_to_object(bytes(tflite))
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph, out = flat.subgraphs[0], {}
    for op in graph.operators:
        name = ops.get(flat.operatorCodes[op.opcodeIndex].builtinCode)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(op.inputs) > 1:
            stored = types.get(graph.tensors[op.inputs[1]].type, "?")
            out.setdefault(name, {}).setdefault(stored, 0)
            out[name][stored] += 1
    return out


# ----------------------------------------------------------------------------- every recipe, as lesson 06 runs them

#: Where ``tools/mobilenet_recipes.py`` writes a full-mode run of ``run_recipes`` (lesson 06 shows it).
LEDGER = "06_mobilenet.json"


def run_recipes(mobile, shipped, d: data.Dataset, finetune_data: data.Dataset, distil: bool = True) -> dict:
    """Sections 6-10 of lesson 06 on ``mobile`` with the same calls and fine-tuning budget, each converted to
    int8 and measured on ``d``'s test set; the rounding and one-shot pruning studies beside ``shipped``;
    what the int4 file stores; the channel plan. One seed per recipe. A JSON-able dict:
    ``rows`` (``measure.Measurement.as_dict`` without per-layer sparsity, ``sparsity`` = measured kernel
    sparsity for the pruned row), ``rounding``, ``zeroing``, ``int4_weight_types``, ``plan``."""
    from litert_quantizer import Quantizer, recipe

    from ..combining import clustering
    from ..pruning import magnitude, schedule
    from ..quantization import quantize
    from ..structured_pruning import graph, graph_rebuild, speed

    representative = finetune_data.x_train[:200]
    epochs = compress.finetune_epochs(finetune_data)
    steps = magnitude.steps_per_epoch(len(finetune_data.x_train)) * epochs
    rows: dict[str, dict] = {}

    def row(key, name, keras_model, tflite):
        m = measure.measure(f"{mobile.name} {name}", d, keras_model, tflite).as_dict()
        m.pop("sparsity_per_layer", None)
        rows[key] = m

    float_tflite = measure.to_tflite(mobile)
    row("float32", "float32", mobile, float_tflite)
    row("int8", "int8 PTQ", mobile, quantize.convert(mobile, "int8", representative))
    int4 = bytes(Quantizer(float_tflite, recipe.dynamic_wi4_afp32()).quantize(enable_progress_report=False).quantized_model)
    row("int4", "int4 weights (LiteRT Quantizer)", mobile, int4)

    pruned = magnitude.prune_and_finetune(mobile, finetune_data, schedule.gradual_schedule(0.75, steps), epochs,
                                          keep_dense=compress.small_layers(mobile), label="mobilenet ")  # fmt: skip
    row("pruned", compress.pruned_name(pruned.model)[0], pruned.model, quantize.convert(pruned.model, "int8", representative))
    rows["pruned"]["sparsity"] = magnitude.kernel_sparsity(pruned.model)
    del pruned
    control = magnitude.finetune_dense(mobile, finetune_data, epochs, label="mobilenet control ")
    row("control", "dense control + int8", control, quantize.convert(control, "int8", representative))
    del control

    plan = graph.plan(mobile, 0.75)
    narrow = speed.finetune(graph_rebuild.prune(mobile, plan, name=f"{mobile.name}_channels75"), finetune_data, epochs, 0,
                            label="mobilenet keep 75% ")  # fmt: skip
    row("channels", f"channels kept 75% ({narrow.count_params():,} params) + int8", narrow,
        quantize.convert(narrow, "int8", representative))  # fmt: skip
    del narrow
    clustered = clustering.cluster(mobile, finetune_data, 16, epochs=2, label="mobilenet cluster ")
    row("clustered", "clustered 16 + int8", clustered, quantize.convert(clustered, "int8", representative))
    del clustered
    if distil:
        run = compress.distil(mobile, finetune_data, epochs=15, probabilities=False)
        student = run.students[0]
        row("student", f"student ({student.count_params():,} params) distilled + int8", student,
            quantize.convert(student, "int8", representative))  # fmt: skip
    return {
        "rows": rows,
        "epochs": epochs,
        "int4_weight_types": weight_types(int4),
        "plan": {"keep_fraction": 0.75, "macs_before": plan.macs_before, "macs_after": plan.macs_after,
                 "prunable_groups": len(plan.prunable), "groups": len(plan.groups)},  # fmt: skip
        "rounding": rounding_study(d, shipped, mobile),
        "zeroing": zeroing_study(d, shipped, mobile, sparsity=0.5),
    }


def ledger_path():
    from .. import precomputed

    return precomputed.DIR / LEDGER


def precomputed_run() -> dict:
    """The full-mode run ``tools/mobilenet_recipes.py`` stored (``run_recipes``' dict plus ``provenance``).
    Raises ``compress.CapstoneError`` naming the command when the file is missing or unreadable."""
    import json

    try:
        return json.loads(ledger_path().read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise compress.CapstoneError(
            f"The stored MobileNet run ({ledger_path()}) cannot be read ({error}). Recreate it with "
            "`python tools/mobilenet_recipes.py`, or set MOBILENET = True to run the recipes here."
        ) from None


def measurements(run: dict) -> list[measure.Measurement]:
    """The run's rows as ``measure.Measurement`` objects (for ``measure.table``), in recipe order."""
    fields = {f.name for f in dataclasses.fields(measure.Measurement)}
    return [measure.Measurement(**{k: (tuple(v) if k == "causes" else v) for k, v in r.items() if k in fields})
            for r in run["rows"].values()]  # fmt: skip
