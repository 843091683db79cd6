"""Structured pruning for speed (lesson 01b): fine-tune, the scratch control, gradual pruning, the
per-layer width scan, a per-layer latency table, and the sparse-kernel experiment.

Latency here is always LiteRT's (``ai_edge_litert``), one image, one thread (``measure``'s
convention), median over many invokes: what a single-core device would feel.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import tf_keras as keras

from .. import measure, models
from ..quantization import quantize
from . import units
from .units import StructuredPruningError

FINETUNE_EPOCHS = {"fast": 6, "full": 4}  # after pruning: fast mode ~470 steps on 10k images, full ~1,700 on 54k
MLP_WIDTHS = {"dense_0": 100, "dense_1": 50}  # the lesson's MLP setting: 250 of the 400 hidden units removed
MLP_TIGHT_WIDTHS = {"dense_0": 24, "dense_1": 12}  # a harsh cut, where gradual pruning might help
CNN_WIDTHS = {"conv_0": 16, "conv_1": 32, "dense_0": 64}  # half the filters, half the dense units
REPEATS = 3  # latency: median of REPEATS medians (each over ``runs`` invokes) - this machine jitters


def latency_us(tflite: bytes, x: np.ndarray, runs: int = 300, threads: int = 1, repeats: int = REPEATS) -> float:
    """LiteRT latency, one image, ``threads`` threads: the median of ``repeats`` medians of
    ``runs`` invokes (set input + invoke + read output), in microseconds."""
    return 1e6 * statistics.median(
        measure.tflite_latency(tflite, x, batch=1, runs=runs, threads=threads) for _ in range(repeats)
    )


@dataclasses.dataclass
class SeedGap:
    """Mean of ``a`` minus mean of ``b`` (percentage points) over seeds, with its standard error."""

    gap_pp: float
    se_pp: float

    @property
    def within_noise(self) -> bool:
        """|gap| under two standard errors: no sign may be claimed."""
        return abs(self.gap_pp) < 2 * self.se_pp

    def verdict(self, a: str, b: str) -> str:
        """'pruned minus scratch: +0.15 pp ± 0.12 (SE): within noise (|gap| < 2 SE)' and the like."""
        text = f"{a} minus {b}: {self.gap_pp:+.2f} pp ± {self.se_pp:.2f} (SE)"
        if self.within_noise:
            return text + ": within noise (|gap| < 2 SE)"
        return text + f": {a if self.gap_pp > 0 else b} ahead beyond noise (|gap| >= 2 SE)"


def seed_gap(a, b) -> SeedGap:
    """The gap between two arms' accuracies (fractions, one per seed; at least 2 each) in pp, and
    its standard error sqrt(var_a/n_a + var_b/n_b) (Welch's, sample variances, ddof=1)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"seed_gap needs at least 2 seeds per arm, got {len(a)} and {len(b)}.")
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return SeedGap(100 * float(a.mean() - b.mean()), 100 * se)


def label(widths: dict) -> str:
    """'dense_0 100 · dense_1 50': the widths as a short label."""
    return " · ".join(f"{name} {units}" for name, units in widths.items())


def convert(model, int8: bool, data) -> bytes:
    """Float32 .tflite, or full-integer int8 calibrated on 200 training images."""
    return quantize.convert(model, "int8", data.x_train[:200]) if int8 else measure.to_tflite(model)


def finetune(model, data, epochs: int, seed: int = models.DEFAULT_SEED, label: str = "", callbacks=()):
    """Compile (Adam 1e-3, the baselines' recipe) and train ``model`` in place for ``epochs``
    on ``data``'s training set with ``seed`` fixing the shuffling; returns the model."""
    keras.utils.set_random_seed(seed)
    models.compile_model(model)
    models.train(model, data, epochs, label=label, callbacks=callbacks)
    return model


def prune_and_finetune(base, widths: dict, data, epochs: int, seed: int = models.DEFAULT_SEED, label: str = ""):
    """One-shot structured pruning: ``units.rebuild`` to ``widths``, then fine-tune."""
    return finetune(units.rebuild(base, widths), data, epochs, seed, label)


def from_scratch(base, widths: dict, data, epochs: int, seed: int, label: str = ""):
    """The control: the same narrow architecture, freshly initialised (``seed``), trained ``epochs``."""
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(units.rebuild(base, widths))  # clone_model re-initialises the weights
    return finetune(fresh, data, epochs, seed, label)


def gradual_widths(base, widths: dict, steps: int) -> list[dict]:
    """``steps`` width settings from the full widths to ``widths``, each layer shrinking by the
    same factor per step (geometric), the last exactly ``widths``."""
    if steps < 1:
        raise StructuredPruningError(f"steps must be at least 1, got {steps}.")
    target, full = units.check_widths(base, widths), units.full_widths(base)
    return [
        {n: max(target[n], round(full[n] * (target[n] / full[n]) ** ((i + 1) / steps))) for n in full}
        for i in range(steps)
    ]


def gradual_prune(base, widths: dict, data, steps: int, epochs_per_step: int, seed: int = models.DEFAULT_SEED):
    """Gradual structured pruning: remove units in ``steps`` rounds (``gradual_widths``), fine-tuning
    ``epochs_per_step`` after each. Re-ranks the units by L1 norm every round."""
    model = base
    for i, step in enumerate(gradual_widths(base, widths, steps)):
        model = finetune(units.rebuild(model, step), data, epochs_per_step, seed + i,
                         label=f"step {i + 1}/{steps} ({units.describe_widths(base, step)}) ")  # fmt: skip
    return model


def width_scan(base, x, y, fractions=(0.75, 0.5, 0.3, 0.2, 0.1, 0.05)) -> dict[str, list[float]]:
    """Validation accuracy with **one** layer narrowed to each fraction of its units (the others
    full), no fine-tuning: how sensitive each layer is to losing units (lesson 01's scan, per unit)."""
    full = units.full_widths(base)
    scan = {}
    for name, width in full.items():
        scan[name] = []
        for f in fractions:
            narrow = units.rebuild(base, {name: max(1, round(width * f))})
            scan[name].append(measure.keras_accuracy(narrow, x, y))
    return scan


# ----------------------------------------------------------------------------- latency table


@dataclasses.dataclass
class LatencyTable:
    """Per-layer LiteRT times measured once, for a cheap latency estimate of any widths.

    ``layer_us[kind][layer]``: the layer alone at full width (a one-layer model of the layer's
    input shape), minus ``overhead_us[kind]`` (a model of one tiny Dense layer: the per-call cost
    of set input + invoke + read output). ``rest_us[kind]``: what the whole model takes beyond
    overhead + its kernel layers (pooling, reshapes). ``kind`` is "float32" or "int8".

    Estimate (a model, not a measurement): overhead + rest + sum over layers of
    layer time x (layer's MACs at these widths / at full width) - the assumption that a layer's
    time scales with its multiply-accumulates, which fails for very narrow layers (fixed costs).
    """

    model_name: str
    macs_full: dict[str, int]
    layer_us: dict[str, dict[str, float]]
    overhead_us: dict[str, float]
    rest_us: dict[str, float]
    measured_full_us: dict[str, float]

    def layer_estimates(self, base, widths: dict | None = None, int8: bool = False) -> dict[str, float]:
        """Estimated µs per kernel layer, plus "overhead" (per call + pooling, reshapes)."""
        kind = "int8" if int8 else "float32"
        if base.name != self.model_name:
            raise StructuredPruningError(f"This timing table was measured on {self.model_name!r}, not {base.name!r}.")
        parts = {"overhead": self.overhead_us[kind] + self.rest_us[kind]}
        for c in units.layer_costs(base, widths or {}):
            parts[c.layer] = self.layer_us[kind][c.layer] * c.macs / self.macs_full[c.layer]
        return parts

    def estimate_us(self, base, widths: dict | None = None, int8: bool = False) -> float:
        """Estimated LiteRT µs (1 image, 1 thread) of ``base`` pruned to ``widths``."""
        return sum(self.layer_estimates(base, widths, int8).values())

    def rows(self) -> list[tuple[str, int, float, float]]:
        """(layer, MACs, float32 µs, int8 µs) per kernel layer, for printing."""
        return [(n, self.macs_full[n], self.layer_us["float32"][n], self.layer_us["int8"][n]) for n in self.macs_full]


def _one_layer(layer) -> keras.Model:
    clone = type(layer).from_config(layer.get_config())
    inputs = keras.Input(shape=layer.input_shape[1:])
    model = keras.Model(inputs, clone(inputs))
    clone.set_weights(layer.get_weights())
    return model


def _calibrated_int8(model, rng) -> bytes:
    import tensorflow as tf

    shape = (1, *model.input_shape[1:])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random(shape, dtype=np.float32)] for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def latency_table(base, data, runs: int = 300) -> LatencyTable:
    """Measure ``base``'s kernel layers one by one (float32 and int8) and the per-call overhead."""
    rng = np.random.default_rng(0)
    kinds = ("float32", "int8")
    convert_kind = {"float32": lambda m: measure.to_tflite(m), "int8": lambda m: _calibrated_int8(m, rng)}
    layers = measure.kernel_layers(base)
    macs_full = {c.layer: c.macs for c in units.layer_costs(base)}
    tiny = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    overhead, layer_us, rest, full = {}, {}, {}, {}
    for kind in kinds:
        overhead[kind] = latency_us(convert_kind[kind](tiny), rng.random((1, 8), dtype=np.float32), runs)
        layer_us[kind] = {}
        for layer in layers:
            x = rng.random((1, *layer.input_shape[1:]), dtype=np.float32)
            t = latency_us(convert_kind[kind](_one_layer(layer)), x, runs)
            layer_us[kind][layer.name] = max(0.0, t - overhead[kind])
        whole = convert(base, kind == "int8", data)
        full[kind] = latency_us(whole, data.x_test, runs)
        rest[kind] = max(0.0, full[kind] - overhead[kind] - sum(layer_us[kind].values()))
    return LatencyTable(base.name, macs_full, layer_us, overhead, rest, full)


def choose_widths(base, scan: dict, fractions, table: LatencyTable, target_us: float, int8: bool = True,
                  max_drop: float = 0.05, best_effort: bool = False) -> dict[str, int]:  # fmt: skip
    """Widths whose estimated latency is at most ``target_us``: start at full width and, step by
    step, narrow the layer (to its next scanned fraction) that loses the least validation accuracy
    (in ``scan``) per microsecond saved, never past a fraction whose scan accuracy fell more than
    ``max_drop`` below the layer's full-width accuracy. When the target cannot be met that way:
    raises ``StructuredPruningError``, or with ``best_effort`` returns the narrowest widths allowed."""
    full = units.full_widths(base)
    fractions = list(fractions)
    level = {n: -1 for n in full}  # index into fractions; -1 = full width

    def widths_at(lv):
        return {n: full[n] if lv[n] < 0 else max(1, round(full[n] * fractions[lv[n]])) for n in full}

    def acc(n, i):
        return math.inf if i < 0 else scan[n][i]

    top = max(max(v) for v in scan.values())
    while table.estimate_us(base, widths_at(level), int8) > target_us:
        now = table.estimate_us(base, widths_at(level), int8)
        best, best_cost = None, math.inf
        for n in full:
            i = level[n] + 1
            if i >= len(fractions) or scan[n][i] < top - max_drop:
                continue
            trial = {**level, n: i}
            saved = now - table.estimate_us(base, widths_at(trial), int8)
            if saved <= 0:
                continue
            cost = (min(acc(n, level[n]), top) - scan[n][i]) / saved
            if cost < best_cost:
                best, best_cost = n, cost
        if best is None:
            if best_effort:
                return widths_at(level)
            raise StructuredPruningError(
                f"No widths within the scan meet {target_us:.1f} µs (estimate now {now:.1f} µs): "
                "raise the target, allow a larger accuracy drop (max_drop) or scan smaller fractions."
            )
        level[best] += 1
    return widths_at(level)


def widths_for_latency(base, scan: dict, fractions, table: LatencyTable, target_us: float, data,
                       int8: bool = True, attempts: int = 3, max_drop: float = 0.05) -> tuple[dict, float, float]:  # fmt: skip
    """``choose_widths`` on the estimate, then *measure* the rebuilt model (latency depends on the
    shapes, not on the weights' values, so no fine-tuning is needed to time it); while it misses
    ``target_us``, aim lower by measured/target and choose again (NetAdapt's idea: Yang et al.,
    ECCV 2018, check proposals by measurement). Returns (widths, estimate µs, measured µs) of the
    last attempt (the narrowest widths the scan allows when even they miss: check the measurement)."""
    goal = target_us
    for _ in range(attempts):
        widths = choose_widths(base, scan, fractions, table, goal, int8, max_drop, best_effort=True)
        measured = latency_us(convert(units.rebuild(base, widths), int8, data), data.x_test)
        if measured <= target_us:
            break
        goal *= target_us / measured
    return widths, table.estimate_us(base, widths, int8), measured


# ----------------------------------------------------------------------------- sparse kernels


def xnnpack_sparse_model(size: int = 56, blocks: int = 4, width: int = 64, seed: int = 0) -> keras.Model:
    """A MobileNet-style float model of the structure TF-MOT's ``PruneForLatencyOnXNNPack`` policy
    accepts: ZeroPadding2D(1) + Conv2D 3x3 stride 2 'valid' on 3 input channels, ``blocks`` x
    (DepthwiseConv2D 3x3 + ReLU, Conv2D 1x1 + ReLU), GlobalAveragePooling2D(keepdims=True),
    then a 1x1 Conv2D as classifier. Random weights: this is about kernels, not accuracy."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", activation="relu")(x)
    for _ in range(blocks):
        x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(width, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    outputs = keras.layers.Conv2D(10, 1)(x)
    return keras.Model(inputs, outputs, name=f"mobilenet_like_{size}px")


# ----------------------------------------------------------------------------- the explorer's logic


@dataclasses.dataclass
class View:
    """What the speed explorer shows for one setting, computed without training (< 1 ms)."""

    widths: dict
    int8: bool
    problems: list[str]
    macs: int = 0
    params: int = 0
    full_macs: int = 0
    full_params: int = 0
    layer_us: dict = dataclasses.field(default_factory=dict)
    full_layer_us: dict = dataclasses.field(default_factory=dict)
    estimate_us: float = 0.0
    full_estimate_us: float = 0.0

    @property
    def speedup(self) -> float:
        return self.full_estimate_us / self.estimate_us if self.estimate_us else 0.0

    def summary(self) -> str:
        if self.problems:
            return " ".join(self.problems)
        return (f"{label(self.widths)}{' + int8' if self.int8 else ''}: MACs {self.macs:,} "
                f"({self.full_macs / self.macs:.1f}x fewer), params {self.params:,} ({self.full_params / self.params:.1f}x fewer), "
                f"estimated {self.estimate_us:.1f} µs vs {self.full_estimate_us:.1f} µs float32 = {self.speedup:.1f}x faster")  # fmt: skip


def explorer_view(base, table: LatencyTable, widths: dict, int8: bool) -> View:
    """Predicted MACs, params and latency of ``base`` at ``widths``; bad widths become ``problems``."""
    try:
        widths = units.check_widths(base, widths)
    except StructuredPruningError as exc:
        return View(dict(widths), int8, [str(exc)])
    layer_us = table.layer_estimates(base, widths, int8)
    full_us = table.layer_estimates(base, {}, False)
    return View(widths, int8, [], units.predict_macs(base, widths), units.predict_params(base, widths),
                units.predict_macs(base), units.predict_params(base), layer_us, full_us,
                sum(layer_us.values()), sum(full_us.values()))  # fmt: skip


EXPLORER_EPOCHS = 3


def explorer_run(base, widths: dict, int8: bool, finetune_data, eval_data, *, callbacks=(), record: bool = True):
    """The Run button: rebuild to ``widths``, fine-tune ``EXPLORER_EPOCHS`` on ``finetune_data``
    (the fast subset), convert (int8 or float32), measure on ``eval_data``'s test set, log it.
    Raises ``StructuredPruningError`` for bad widths. Returns (Measurement, results entry)."""
    from .. import results
    widths = units.check_widths(base, widths)
    narrow = finetune(units.rebuild(base, widths), finetune_data, EXPLORER_EPOCHS, callbacks=callbacks)
    blob = convert(narrow, int8, finetune_data)
    name = f"explorer: {base.name} {label(widths)}{' + int8' if int8 else ''}, {EXPLORER_EPOCHS} ep"
    m = measure.measure(name, eval_data, narrow, tflite=blob, runs=300, batch_runs=5)
    m.latency_b1_us = latency_us(blob, eval_data.x_test)
    entry = {}
    if record:
        entry = results.record("structured", name, m, {"widths": widths, "int8": int8, "epochs": EXPLORER_EPOCHS,
                               "finetune_data": f"{finetune_data.name} {finetune_data.mode} subset"},
                               lesson="01b", key=f"01b/explorer/{name}", data=eval_data, artifact=blob)  # fmt: skip
    return m, entry
