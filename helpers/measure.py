"""How every lesson measures a model: one record, one table.

* size: parameters, nonzero weights, bytes of the Keras file and of the TFLite flatbuffer,
  each raw and gzipped (``gzip -9``). Pruned zeros are stored like any other number, so only
  the gzipped size shows what pruning buys (lesson 01).
* accuracy: through Keras and through the LiteRT interpreter (``ai_edge_litert``; the old
  ``tf.lite.Interpreter`` is deprecated), which runs the very .tflite file you would ship.
* latency: the LiteRT interpreter's median over many runs, one image at a time and in
  batches of 256, including setting the input and reading the output. Never time Keras'
  ``predict`` on one image: its per-call overhead (~60 ms) swamps the model. A speed-up a lesson
  asserts is timed side by side (``tflite_speedup``), not from two latencies taken apart.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import html
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tf_keras as keras

from . import conversion_check, keras_compat, litert_run

LATENCY_THREADS = 1  # one thread: steadier numbers, and what a small device has
BATCH_LATENCY = 256

# Weights TF-MOT adds for its own bookkeeping; they are not model parameters.
_BOOKKEEPING = (
    "mask", "threshold", "pruning_step", "optimizer_step", "_min", "_max",  # pruning, quantization
    "cluster_centroids", "pulling_indices",  # clustering
)  # fmt: skip
# Wrappers that must be removed (strip_*) or converted before a model is measured.
_WRAPPERS = {
    "PruneLowMagnitude": "strip it first: tfmot.sparsity.keras.strip_pruning(model)",
    "ClusterWeights": "strip it first: tfmot.clustering.keras.strip_clustering(model)",
    "QuantizeWrapper": "convert it to a quantized .tflite first and pass it as tflite=",
    "QuantizeWrapperV2": "convert it to a quantized .tflite first and pass it as tflite=",
}


def _is_parameter(weight) -> bool:
    name = weight.name.split("/")[-1]
    return not any(tag in name for tag in _BOOKKEEPING)


def count_params(model) -> int:
    """Number of model parameters (weights and biases), TF-MOT bookkeeping excluded."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights if _is_parameter(w)))


def count_nonzeros(model) -> int:
    """Parameters that are not exactly zero (what pruning reduces)."""
    return int(sum(np.count_nonzero(w.numpy()) for w in model.weights if _is_parameter(w)))


@dataclasses.dataclass(frozen=True)
class LayerSparsity:
    layer: str
    weights: int
    nonzeros: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.weights if self.weights else 0.0


def layer_sparsity(model) -> list[LayerSparsity]:
    """Per-layer kernel sparsity (biases are never pruned, so only kernels are counted)."""
    rows = []
    for layer in model.layers:
        kernels = [w for w in layer.weights if "kernel" in w.name and _is_parameter(w)]
        if kernels:
            values = np.concatenate([k.numpy().ravel() for k in kernels])
            rows.append(LayerSparsity(layer.name, int(values.size), int(np.count_nonzero(values))))
    return rows


def gzipped_size(data: bytes) -> int:
    """Size after ``gzip -9``: what a download or an app bundle would roughly cost."""
    return len(gzip.compress(data, compresslevel=9))


def is_kernel_layer(layer) -> bool:
    """Dense and Conv2D: the layers whose kernels pruning, quantization and clustering act on."""
    return isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))


def kernel_layers(model) -> list:
    return [layer for layer in model.layers if is_kernel_layer(layer)]


def count_macs(model) -> int:
    """Multiply-accumulates for one image through the Dense, Conv2D and DepthwiseConv2D layers: the
    arithmetic a runtime performs (zeros included, unless it skips them). Conv2D: H_out W_out k_h k_w
    C_in C_out; DepthwiseConv2D: H_out W_out k_h k_w C multiplier (its kernel's size, per output
    position); Dense: inputs x units. ``ModelError`` for a subclassed model, whose layers record no
    output shapes."""
    if keras_compat.structure(model) == "subclassed":
        raise keras_compat.ModelError(
            f"count_macs needs each layer's output shape, which a subclassed model ({model.name}) does not record. "
            "Rebuild it as a Sequential or functional model."
        )
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            _, h, w_, _ = layer.output_shape
            kernel = layer.depthwise_kernel if isinstance(layer, keras.layers.DepthwiseConv2D) else layer.kernel
            total += h * w_ * int(np.prod(kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def _wrapper_problem(model, tflite) -> str | None:
    for layer in model.layers:
        advice = _WRAPPERS.get(type(layer).__name__)
        if advice and not (tflite is not None and type(layer).__name__.startswith("Quantize")):
            return f"{model.name} still has a TF-MOT {type(layer).__name__} layer ({layer.name}): {advice}."
    return None


def keras_file_bytes(model) -> bytes:
    """The model saved as TF-MOT's tutorials save it (HDF5, no optimizer state), as bytes.

    HDF5 stores weights uncompressed, like the native ``.keras`` zip (which cannot leave the
    optimizer out), so raw vs gzipped shows the same story.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.h5"
        model.save(path, include_optimizer=False)
        return path.read_bytes()


def to_tflite(model) -> bytes:
    """Plain float32 conversion (no optimization) - the reference every ratio is taken against."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


# ----------------------------------------------------------------------------- LiteRT


# The prediction path lives in litert_run (readers' files: fixed batches, state tensors, integer ids).
interpreter = functools.partial(litert_run.interpreter, num_threads=LATENCY_THREADS)
interpreter.__doc__ = litert_run.interpreter.__doc__
tflite_predict = litert_run.tflite_predict
_ready, _quantize_input, _dequantize_output = litert_run.ready, litert_run.quantize_input, litert_run.dequantize_output
_as_model_input = litert_run.as_model_input


def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``outputs`` (one row of logits or probabilities per image) against class
    numbers ``y``. ``ModelError`` for one-hot labels or a single output, which would otherwise
    broadcast into a meaningless number."""
    y = keras_compat.check_labels(y, outputs.shape[-1] if outputs.ndim == 2 else None)
    return float(np.mean(np.argmax(outputs, axis=-1) == y))


def tflite_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray) -> float:
    return accuracy(tflite_predict(tflite, x), y)


def keras_predict(model, x: np.ndarray) -> np.ndarray:
    """The model's outputs for ``x``; ``ModelError`` when ``x`` has another shape than it takes."""
    keras_compat.check_inputs(model, x)
    return model.predict(x, batch_size=1000, verbose=0)


def keras_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return accuracy(keras_predict(model, x), y)


def _timer(tflite: bytes, x: np.ndarray, batch: int, threads: int | None):
    """A function ``time(runs) -> median seconds`` of ``runs`` calls (set input + invoke + read
    output) of ``tflite`` on a batch of ``batch`` images from ``x``."""
    fixed = litert_run.fixed_batch(tflite)
    if fixed is not None and fixed != batch:
        raise keras_compat.ModelError(f"This .tflite takes batches of {fixed} only (fixed in the file); time it at batch={fixed}.")
    x = _as_model_input(tflite, x[:batch])
    sample = np.resize(x, (batch, *x.shape[1:]))
    interp = _ready(tflite, sample.shape, threads)
    detail = interp.get_input_details()[0]
    inp, out, ready = detail["index"], interp.get_output_details()[0]["index"], _quantize_input(sample, detail)

    def median_of(runs: int) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interp.set_tensor(inp, ready)
            interp.invoke()
            interp.get_tensor(out)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return median_of


def tflite_latency(
    tflite: bytes,
    x: np.ndarray,
    batch: int = 1,
    runs: int = 200,
    warmup: int = 10,
    threads: int | None = LATENCY_THREADS,
) -> float:
    """Median seconds per call (set input + invoke + read output) over ``runs`` calls, after
    ``warmup`` calls. ``ValueError`` for ``runs`` < 1; ``ModelError`` for a file whose batch is
    fixed at another size."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    median_of = _timer(tflite, x, batch, threads)
    if warmup:
        median_of(warmup)
    return median_of(runs)


def tflite_speedup(reference: bytes, candidate: bytes, x: np.ndarray, blocks: int = 9, runs: int = 100,
                   threads: int | None = LATENCY_THREADS) -> float:  # fmt: skip
    """How many times faster ``candidate`` answers one image than ``reference``, timed side by side.

    Two latencies taken minutes apart also compare the machine with itself: on a shared 2-core
    machine a neighbour can slow every call by 1.5x for a while (seen in CI: the same widths timed
    2.3 and then 3.9 µs a minute later). Here the two files are timed in turn, ``blocks`` times,
    each block the median of ``runs`` calls of each file in the order ABBA; the result is the
    median over blocks of reference time / candidate time, so a slowdown that lasts longer than a
    block divides out. ``ValueError`` for fewer than one block or run.
    """
    if blocks < 1 or runs < 1:
        raise ValueError(f"blocks and runs must be at least 1, got blocks={blocks}, runs={runs}")
    ref, cand = _timer(reference, x, 1, threads), _timer(candidate, x, 1, threads)
    ref(10), cand(10)  # warm-up: the first calls allocate
    ratios = []
    for _ in range(blocks):
        a1, b1, b2, a2 = ref(runs), cand(runs), cand(runs), ref(runs)
        ratios.append((a1 + a2) / (b1 + b2))
    return statistics.median(ratios)


# ----------------------------------------------------------------------------- the record


@dataclasses.dataclass
class Measurement:
    """Everything a lesson reports about one model; the same columns in every lesson."""

    name: str
    params: int
    nonzeros: int
    tflite_bytes: int
    tflite_gz: int
    tflite_accuracy: float
    latency_b1_us: float | None
    latency_b256_ms: float | None
    keras_accuracy: float | None = None
    keras_bytes: int | None = None
    keras_gz: int | None = None
    sparsity_per_layer: dict[str, float] = dataclasses.field(default_factory=dict)
    agreement: float | None = None  # top-1 agreement of the .tflite with the Keras model (fidelity)
    causes: tuple[str, ...] = ()  # when that agreement was flagged: the likely causes conversion_check named

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def measure(
    name: str,
    data,
    model,
    tflite: bytes | None = None,
    runs: int = 200,
    batch_runs: int = 20,
) -> Measurement:
    """Measure ``model`` on ``data``'s test set.

    ``tflite`` is the flatbuffer you would ship (a quantized one, say); without it the model
    is converted to plain float32 here. Parameters, nonzeros and the Keras columns always come
    from the Keras ``model``; the .tflite columns from the flatbuffer.

    The check after every conversion: the .tflite's outputs are compared with the Keras model's
    on the first ``conversion_check.SAMPLES`` test images (outputs both runs compute anyway); a large
    disagreement or NaN is flagged with a ``conversion_check.ConversionWarning`` naming likely causes.
    Raises ``keras_compat.ModelError`` for a Keras 3 model, or test images of another shape.
    """
    if model is None:
        raise keras_compat.ModelError("measure() needs the Keras model (parameters and nonzeros come from it).")
    keras_compat.require_tf_keras(model, "measure()", why="runs on")
    problem = _wrapper_problem(model, tflite)
    if problem:
        raise keras_compat.ModelError(problem)
    reference = keras_predict(model, data.x_test)
    if tflite is None:
        tflite = to_tflite(model)
    converted = tflite_predict(tflite, data.x_test)
    fixed = litert_run.fixed_batch(tflite)
    if fixed is not None:
        print(f"Note: {name} takes batches of {fixed} only (fixed in the .tflite): no batch-{BATCH_LATENCY} latency.")
    qat = any(type(layer).__name__.startswith("QuantizeWrapper") for layer in model.layers)
    agreement = conversion_check.compare(reference, converted, tflite, data.x_test, data.y_test, qat)
    conversion_check.warn_if_flagged(agreement, name)
    try:
        keras_blob = keras_file_bytes(model)
    except NotImplementedError:  # a subclassed model (a distiller): no HDF5 file; measure its student
        keras_blob = None
    return Measurement(
        name=name,
        params=count_params(model),
        nonzeros=count_nonzeros(model),
        tflite_bytes=len(tflite),
        tflite_gz=gzipped_size(tflite),
        tflite_accuracy=accuracy(converted, data.y_test),
        latency_b1_us=None if fixed not in (None, 1) else tflite_latency(tflite, data.x_test, batch=1, runs=runs) * 1e6,
        latency_b256_ms=None if fixed not in (None, BATCH_LATENCY) else  # a file with a fixed batch (TFLM's examples)
        tflite_latency(tflite, data.x_test, batch=BATCH_LATENCY, runs=batch_runs) * 1e3,
        keras_accuracy=accuracy(reference, data.y_test),
        keras_bytes=len(keras_blob) if keras_blob is not None else None,
        keras_gz=gzipped_size(keras_blob) if keras_blob is not None else None,
        sparsity_per_layer={row.layer: round(row.sparsity, 4) for row in layer_sparsity(model)},
        agreement=round(agreement.top1, 4) if agreement.top1 == agreement.top1 else None,
        causes=agreement.causes,
    )


# ----------------------------------------------------------------------------- the table

_COLUMNS = [
    ("model", "name", "{}"),
    ("acc Keras", "keras_accuracy", "{:.2%}"),
    ("acc LiteRT", "tflite_accuracy", "{:.2%}"),
    ("params", "params", "{:,}"),
    ("nonzeros", "nonzeros", "{:,}"),
    ("Keras .h5", "keras_bytes", "{:,} B"),
    (".h5 gz", "keras_gz", "{:,} B"),
    (".tflite", "tflite_bytes", "{:,} B"),
    (".tflite gz", "tflite_gz", "{:,} B"),
    ("latency b=1", "latency_b1_us", "{:.0f} µs"),
    ("latency b=256", "latency_b256_ms", "{:.2f} ms"),
]


class Table:
    """Measurements as one table: HTML in JupyterLab, aligned text elsewhere."""

    def __init__(self, rows: list[Measurement], note: str = ""):
        self.rows = list(rows)
        self.note = note or (
            f"Accuracy on the test set. Bytes raw and gzip -9. Latency: LiteRT, median, "
            f"{LATENCY_THREADS} thread, input set + invoke + output read."
        )

    def _cells(self) -> list[list[str]]:
        cells = []
        for row in self.rows:
            values = row.as_dict()
            cells.append(["–" if values[key] is None else fmt.format(values[key]) for _, key, fmt in _COLUMNS])
        return cells

    def __repr__(self) -> str:
        header = [title for title, _, _ in _COLUMNS]
        body = self._cells()
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in [header, *body]
        ]
        return "\n".join([*lines, self.note])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(t)}</th>" for t, _, _ in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        return (
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p><small>{html.escape(self.note)}</small></p>"
        )


def table(*rows: Measurement, note: str = "") -> Table:
    return Table(list(rows), note)
