"""Lesson 05, "Design for the budget": a CNN built for a device's flash and arena, sized before training.

A design is a short spec string, e.g. ``"c16s2 c32s2 c64s1 gap"``: ``cNsS`` is a 3×3 convolution
with N filters and stride S (batch normalization + ReLU after it, folded into the convolution at
conversion), ``dNsS`` a depthwise-separable block (3×3 depthwise with stride S, then a 1×1
convolution to N channels), then a head: ``gap`` (global average pooling) or ``flat`` (flatten),
always followed by a 10-way dense layer. Input: 28×28×1 int8 images.

* ``parse`` / ``graph``: the design as the int8 TFLite graph the converter writes (ops, tensor
  shapes, weights, per-channel quantization), computed without TensorFlow.
* ``estimate``: flash (.tflite bytes) and TFLM arena predicted from that graph; the constants are
  fitted to TFLM measurements (``FLASH_*`` / ``ARENA_*`` below, and ``tests/test_microcontroller_design.py``).
* ``build`` / ``train`` / ``to_int8``: the Keras model, the training recipe, the int8 flatbuffer.
* ``search``: enumerate widths/depths/strides, keep what the estimator says fits.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re

import numpy as np

from .. import config

ALIGN = 16  # TFLM aligns every arena buffer to 16 bytes (MicroArenaBufferAlignment())
INPUT = (28, 28, 1)
CLASSES = 10

# --- flash: the flatbuffer beyond the weights. Fitted (least squares) to the converter's output for 12
# designs of this family (tests/test_microcontroller_design.py re-measures them); per channel: a float32 scale and
# an int64 zero point for the weights and again for the int32 bias (TFLite schema, QuantizationParameters).
FLASH_PER_CHANNEL = 24
FLASH_PER_TENSOR = 264  # name (the converter's fused names are long), shape, quantization table, buffer entry,
# and the operator table's share (about three tensors per operator)
FLASH_FIXED = -464  # the fit's intercept: header, operator codes, signature and metadata, less what the slope over-counts

# --- arena (TFLM host build, 64-bit): head = activations planned by the greedy memory planner;
# tail = what TFLM keeps for the model's lifetime (RecordingMicroAllocator's categories).
ARENA_EVAL_TENSOR = 24  # one TfLiteEvalTensor per tensor of the graph (weights included)
ARENA_NODE = 64  # one NodeAndRegistration per operator
ARENA_PER_CHANNEL = 8  # int32 output multiplier + int32 shift per output channel of CONV/DEPTHWISE/FC
ARENA_OP_DATA = {"CONV_2D": 96, "DEPTHWISE_CONV_2D": 96, "FULLY_CONNECTED": 64, "MEAN": 64, "RESHAPE": 0}
ARENA_FIXED = 848  # persistent I/O TfLiteTensors + their quantization, subgraph and planner bookkeeping


class DesignError(config.WorkbookError, ValueError):
    """A design spec that cannot be built; the message says which token is wrong and what is allowed."""


_TOKEN = re.compile(r"^([cd])(\d+)s([12])$")


@dataclasses.dataclass(frozen=True)
class Design:
    blocks: tuple[tuple[str, int, int], ...]  # (kind "c"/"d", filters, stride)
    head: str  # "gap" or "flat"

    @property
    def spec(self) -> str:
        return " ".join(f"{k}{f}s{s}" for k, f, s in self.blocks) + f" {self.head}"

    def __str__(self) -> str:
        return self.spec


def parse(spec: str | Design) -> Design:
    """``"c16s2 c32s2 c64s1 gap"`` -> Design. Raises DesignError naming a bad token."""
    if isinstance(spec, Design):
        return spec
    tokens = str(spec).replace(",", " ").split()
    if not tokens or tokens[-1] not in ("gap", "flat"):
        raise DesignError(f"A design ends with its head, 'gap' or 'flat' (got {spec!r}), e.g. 'c16s2 c32s2 c64s1 gap'.")
    blocks = []
    for tok in tokens[:-1]:
        m = _TOKEN.match(tok)
        if not m or not 1 <= int(m.group(2)) <= 512:
            raise DesignError(f"{tok!r} is not a block: write cNsS (3×3 conv, N filters 1-512, stride 1 or 2) or dNsS "
                              "(depthwise-separable), e.g. c16s2.")
        blocks.append((m.group(1), int(m.group(2)), int(m.group(3))))
    if not blocks:
        raise DesignError("A design needs at least one convolution block before its head.")
    return Design(tuple(blocks), tokens[-1])


# ----------------------------------------------------------------------------- the int8 graph


@dataclasses.dataclass(frozen=True)
class Op:
    kind: str  # TFLite builtin operator name
    out: tuple[int, ...]  # output shape (no batch)
    weights: int = 0  # int8 weight values
    biases: int = 0  # int32 bias values
    channels: int = 0  # per-channel quantization entries (output channels)
    consts: int = 0  # other constant tensors (MEAN axes, RESHAPE shape)

    @property
    def out_bytes(self) -> int:
        return int(np.prod(self.out))


def graph(design) -> list[Op]:
    """The operators the int8 converter writes for ``design`` (BatchNorm folded, ReLU fused), in order."""
    d = parse(design)
    h, w, c = INPUT
    ops = []
    for kind, f, s in d.blocks:
        h, w = math.ceil(h / s), math.ceil(w / s)  # 'same' padding
        if kind == "c":
            ops.append(Op("CONV_2D", (h, w, f), 9 * c * f, f, f))
        else:
            ops.append(Op("DEPTHWISE_CONV_2D", (h, w, c), 9 * c, c, c))
            ops.append(Op("CONV_2D", (h, w, f), c * f, f, f))
        c = f
    if d.head == "gap":
        ops.append(Op("MEAN", (c,), consts=1))
        n = c
    else:
        ops.append(Op("RESHAPE", (h * w * c,), consts=1))
        n = h * w * c
    ops.append(Op("FULLY_CONNECTED", (CLASSES,), n * CLASSES, CLASSES, CLASSES))
    return ops


def parameters(design) -> int:
    """Trainable parameters after BatchNorm folding (= int8 weights + int32 biases of the TFLite file)."""
    return sum(op.weights + op.biases for op in graph(design))


def _aligned(n: int) -> int:
    return -(-int(n) // ALIGN) * ALIGN


def plan_activations(sizes: list[int], lifetimes: list[tuple[int, int]]) -> int:
    """Bytes of arena that TFLM's GreedyMemoryPlanner needs for buffers of ``sizes`` alive over
    ``lifetimes`` (first, last op index, inclusive): largest first, each at the lowest offset that
    does not overlap a placed buffer alive at the same time (tensorflow/lite/micro/memory_planner/
    greedy_memory_planner.cc). Sizes are rounded up to 16 B."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    high = 0
    for i in order:
        size, (first, last) = _aligned(sizes[i]), lifetimes[i]
        clashes = sorted((o, s) for o, s, f, la in placed if not (la < first or f > last))
        offset = 0
        for o, s in clashes:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed.append((offset, size, first, last))
        high = max(high, offset + size)
    return high


@dataclasses.dataclass(frozen=True)
class Estimate:
    design: str
    parameters: int
    flash: int  # predicted .tflite bytes
    arena: int  # predicted smallest TFLM arena (bytes)
    head: int  # of which activations (planned)
    tail: int  # of which persistent TFLM data
    peak_pair: tuple[int, int]  # the two activations (bytes) live together at the peak

    def fits(self, flash_budget: int, arena_budget: int) -> bool:
        return self.flash <= flash_budget and self.arena <= arena_budget


def estimate(design) -> Estimate:
    """Flash and arena of ``design`` as an int8 .tflite on TFLM, predicted from its graph alone.

    flash = int8 weights + 4 B per int32 bias + 24 B per quantization channel + per-tensor,
    per-op and fixed flatbuffer overhead (constants above). arena = the greedy plan of the
    activations (the input, then every op's output, each alive from the op that writes it to the
    last op that reads it) + TFLM's persistent data: 24 B per tensor, 64 B per operator, 8 B per
    output channel of each CONV/DEPTHWISE/FC (requantization multipliers and shifts), operator
    data, and a fixed part. Checked against ``micro.smallest_arena`` in tests/test_microcontroller_design.py.
    """
    ops = graph(design)
    acts = [int(np.prod(INPUT))] + [op.out_bytes for op in ops]
    lifetimes = [(0, 0)] + [(i, i + 1) for i in range(len(ops))]  # op i reads act i, writes act i+1
    head = plan_activations(acts, lifetimes)
    tensors = 1 + sum(1 + (op.weights > 0) + (op.biases > 0) + op.consts for op in ops)
    weights = sum(op.weights for op in ops)
    flash = (weights + 4 * sum(op.biases for op in ops) + FLASH_PER_CHANNEL * sum(op.channels for op in ops)
             + FLASH_PER_TENSOR * tensors + FLASH_FIXED)
    tail = (ARENA_EVAL_TENSOR * tensors + ARENA_NODE * len(ops) + ARENA_FIXED
            + sum(ARENA_PER_CHANNEL * op.channels + ARENA_OP_DATA[op.kind] for op in ops))
    pair = max(((acts[i], acts[i + 1]) for i in range(len(ops))), key=sum)
    return Estimate(parse(design).spec, parameters(design), int(flash), int(head + _aligned(tail)), int(head),
                    int(_aligned(tail)), pair)


# ----------------------------------------------------------------------------- Keras model and int8 file


def build(design, batch_norm: bool = True, seed: int = 0):
    """The Keras (tf_keras) model of ``design``: input (28, 28, 1) in [0, 1], 10 logits.
    Convolutions carry no bias when ``batch_norm`` (BatchNorm's shift is the bias once folded)."""
    from .. import keras
    d = parse(design)
    L = keras.layers
    init = keras.initializers.HeNormal(seed)
    x = inp = keras.Input(INPUT, name="image")
    for i, (kind, f, s) in enumerate(d.blocks):
        if kind == "d":
            x = L.DepthwiseConv2D(3, s, "same", use_bias=not batch_norm, depthwise_initializer=init, name=f"dw{i}")(x)
            if batch_norm:
                x = L.BatchNormalization(name=f"dw{i}_bn")(x)
            x = L.ReLU(name=f"dw{i}_relu")(x)
            x = L.Conv2D(f, 1, use_bias=not batch_norm, kernel_initializer=init, name=f"pw{i}")(x)
        else:
            x = L.Conv2D(f, 3, s, "same", use_bias=not batch_norm, kernel_initializer=init, name=f"conv{i}")(x)
        if batch_norm:
            x = L.BatchNormalization(name=f"bn{i}")(x)
        x = L.ReLU(name=f"relu{i}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x) if d.head == "gap" else L.Flatten(name="flat")(x)
    out = L.Dense(CLASSES, name="logits")(x)
    return keras.Model(inp, out, name=re.sub(r"\W", "_", d.spec))


def images(x: np.ndarray) -> np.ndarray:
    """(n, 28, 28) images as the (n, 28, 28, 1) float32 batch these models take."""
    x = np.asarray(x, np.float32)
    return x[..., None] if x.ndim == 3 else x


def to_int8(model, representative: np.ndarray) -> bytes:
    """Full-integer int8 .tflite (int8 input and output), calibrated on ``representative`` images;
    BatchNormalization is folded into the convolutions by the converter."""
    from ..quantization import quantize
    return quantize.convert(model, "int8", representative=images(representative))


# ----------------------------------------------------------------------------- the search space

#: widths of the three 3×3 convolutions (each stride 2 except where noted) and the head: 3 × 3 × 4 × 2 × 2 designs
SPACE = {"first": (8, 12, 16), "second": (16, 24, 32), "third": (24, 32, 40, 48), "first_stride": (1, 2),
         "head": ("gap", "flat")}


def candidates(space: dict | None = None) -> list[str]:
    """Every design of ``space`` (default ``SPACE``): conv ``first`` (stride ``first_stride``), conv
    ``second`` (stride 2), conv ``third`` (stride 1 before ``gap``, 2 before ``flat``: a 7×7 map averaged,
    or a 4×4 map kept whole), then the head."""
    space = {**SPACE, **(space or {})}
    found = []
    for a, b, c, s, head in itertools.product(space["first"], space["second"], space["third"], space["first_stride"],
                                              space["head"]):
        found.append(f"c{a}s{s} c{b}s2 c{c}s{1 if head == 'gap' else 2} {head}")
    return found


def screen(flash_budget: int, arena_budget: int, space: dict | None = None) -> list[Estimate]:
    """The estimates of every candidate, those that fit both budgets first, then by parameters
    (more parameters: more capacity to learn with), largest first. Nothing is trained."""
    if flash_budget <= 0 or arena_budget <= 0:
        raise DesignError(f"Budgets must be positive byte counts (flash {flash_budget!r}, arena {arena_budget!r}).")
    found = [estimate(spec) for spec in candidates(space)]
    return sorted(found, key=lambda e: (not e.fits(flash_budget, arena_budget), -e.parameters))


def check_within(design, flash: int, arena: int, tolerance: float = 0.05) -> tuple[float, float]:
    """Relative errors (estimate − measured) / measured of flash and arena for ``design``; raises
    DesignError when either is beyond ``tolerance`` (the estimator then needs re-fitting)."""
    e = estimate(design)
    errors = ((e.flash - flash) / flash, (e.arena - arena) / arena)
    if max(abs(x) for x in errors) > tolerance:
        raise DesignError(f"The estimate for {e.design} is off by {errors[0]:+.1%} (flash) / {errors[1]:+.1%} (arena), "
                          f"beyond ±{tolerance:.0%}: re-fit FLASH_*/ARENA_* in helpers/microcontroller/designs.py.")
    return errors


def untrained_int8(design, images_: np.ndarray, seed: int = 0) -> bytes:
    """``design`` as an int8 .tflite without training: sizes (flash, arena) do not depend on the weights'
    values, so this is what the estimator is checked against. Biases and BatchNorm shifts are set to
    small non-zero values, as after training (the converter drops an all-zero bias tensor)."""
    model = build(design, seed=seed)
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) if w.ndim == 1 else w
                       for w in model.get_weights()])
    return to_int8(model, images_)
