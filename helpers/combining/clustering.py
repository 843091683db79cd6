"""Weight clustering and the collaborative pipelines of lesson 04 (TF-MOT 0.8 on tf_keras).

* ``cluster``: ``cluster_weights`` on a copy, fine-tune, ``strip_clustering``: every kernel then
  holds at most ``n_clusters`` distinct values (``preserve_sparsity=True`` keeps zeros as zeros).
* ``unique_values``: distinct values per kernel - what clustering is about.
* ``preserving_qat``: QAT that keeps what earlier stages made: plain QAT (``quantize_model``),
  PQAT (sparsity), CQAT (clusters) or PCQAT (both), through ``quantize_apply`` with TF-MOT's
  collaborative schemes.
* ``Stage`` / ``stage``: one measured step of a pipeline, for the stage table and waterfall.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from .. import config, keras_compat, measure, models
from ..pruning import magnitude
from ..quantization import quantize

clustering_api = tfmot.clustering.keras
CLUSTER_LEARNING_RATE = 1e-4
QAT_KINDS = ("qat", "pqat", "cqat", "pcqat")


class ClusteringSettingsError(config.WorkbookError, ValueError):
    """A cluster count or pipeline setting that cannot work; the message says what to change."""


def check_clusters(n_clusters) -> int:
    try:
        n = int(n_clusters)
    except (TypeError, ValueError):
        raise ClusteringSettingsError(f"The number of clusters must be a whole number, not {n_clusters!r}.") from None
    if n != n_clusters or n < 2:
        raise ClusteringSettingsError(
            f"The number of clusters must be a whole number of at least 2 (got {n_clusters!r}); 8, 16 or 32 are usual."
        )
    if n > 256:
        raise ClusteringSettingsError(
            f"{n} clusters is more than int8 can tell apart (256 levels): clustering would change nothing. Use 2-256."
        )
    return n


def cluster(
    base: keras.Model,
    data,
    n_clusters: int,
    epochs: int = 1,
    *,
    preserve_sparsity: bool = False,
    learning_rate: float = CLUSTER_LEARNING_RATE,
    label: str = "",
) -> keras.Model:
    """Cluster every Dense/Conv2D kernel of a copy of ``base`` into ``n_clusters`` shared values
    (k-means++ centroids), fine-tune on ``data`` for ``epochs``, strip the wrappers."""
    n = check_clusters(n_clusters)
    keras_compat.require_graph_model(base, "Clustering")
    keras_compat.check_inputs(base, data.x_train, "the training images")
    try:
        wrapped = clustering_api.cluster_weights(
            models.copy_model(base),
            number_of_clusters=n,
            cluster_centroids_init=clustering_api.CentroidInitialization.KMEANS_PLUS_PLUS,
            preserve_sparsity=preserve_sparsity,
        )
    except keras_compat.TFMOT_ERRORS as exc:
        raise keras_compat.tfmot_error(exc, "Clustering", base) from None
    models.compile_model(wrapped, learning_rate)
    if epochs:
        models.train(wrapped, data, epochs, label=label)
    try:
        stripped = clustering_api.strip_clustering(wrapped)
    except keras_compat.TFMOT_ERRORS as exc:  # stripping clones the model again (e.g. a TFOpLambda stops it)
        raise keras_compat.tfmot_error(exc, "Clustering", base) from None
    return models.compile_model(stripped, learning_rate)


def unique_values(model) -> dict[str, int]:
    """Distinct values in each Dense/Conv2D kernel."""
    return {layer.name: int(np.unique(layer.kernel.numpy()).size) for layer in measure.kernel_layers(model)}


def preserving_qat(model: keras.Model, data, kind: str, epochs: int = 1, learning_rate: float = 1e-4, label: str = ""):
    """Quantization-aware fine-tuning of a copy of ``model`` that keeps sparsity and/or clusters.

    ``qat``: plain ``quantize_model`` (destroys both, for comparison); ``pqat``: keeps zeros
    (``Default8BitPrunePreserveQuantizeScheme``); ``cqat``: keeps the cluster values;
    ``pcqat``: keeps both (``Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)``).
    Returns the QAT model; convert it with ``helpers.quantization.qat.convert_qat``.
    """
    q = tfmot.quantization.keras
    if kind not in QAT_KINDS:
        raise ClusteringSettingsError(f"kind must be one of {QAT_KINDS}, not {kind!r}.")
    keras_compat.require_graph_model(model, kind.upper())
    copy = models.copy_model(model)
    try:
        qat = _quantize(q, copy, kind)
    except keras_compat.TFMOT_ERRORS as exc:
        raise keras_compat.tfmot_error(exc, kind.upper(), model) from None
    models.compile_model(qat, learning_rate)
    models.train(qat, data, epochs, label=label)
    return qat


def _quantize(q, copy, kind):
    if kind == "qat":
        qat = q.quantize_model(copy)
    elif kind in ("pqat", "cqat", "pcqat"):
        scheme = {
            "pqat": lambda: tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme(),
            "cqat": lambda: tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(
                preserve_sparsity=False
            ),
            "pcqat": lambda: tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(
                preserve_sparsity=True
            ),
        }[kind]()
        qat = q.quantize_apply(q.quantize_annotate_model(copy), scheme)
    return qat


# ----------------------------------------------------------------------------- pipeline stages


@dataclasses.dataclass
class Stage:
    """One step of a pipeline, measured: the Keras model it produced and the flatbuffer shipped."""

    pipeline: str
    step: str
    measurement: measure.Measurement
    unique: dict[str, int]
    sparsity: float  # fraction of zero weights in what ships (the int8 tensors when quantized)
    tflite: bytes

    @property
    def max_unique(self) -> int:
        return max(self.unique.values()) if self.unique else 0


def stage(pipeline: str, step: str, data, model, tflite: bytes | None = None) -> Stage:
    """Measure one pipeline step (``tflite``: what would ship; default float32 conversion).

    Distinct values are counted per kernel in the Keras model; for an int8 flatbuffer, per output
    channel of the stored tensors (each channel has its own scale, so a 16-cluster kernel holds
    up to 16 values per channel but many more across the tensor)."""
    flat = tflite if tflite is not None else measure.to_tflite(model)
    m = measure.measure(f"{pipeline}: {step}", data, model, tflite=flat)
    stored = quantize.stored_weights(flat)
    if stored and all(t.dtype == "int8" for t in stored):
        unique = {t.name: t.distinct_per_channel for t in stored}
        sparsity = sum(t.zeros for t in stored) / sum(int(np.prod(t.shape)) for t in stored)
    else:
        unique = unique_values(model)
        sparsity = magnitude.kernel_sparsity(model)
    return Stage(pipeline, step, m, unique, sparsity, flat)


def stage_table(stages: list[Stage], baseline: measure.Measurement, reference: measure.Measurement | None = None) -> str:
    """The stage table as text: accuracy, share of zero weights, distinct values (per kernel, or per
    output channel once int8), bytes raw / gz, how many times smaller than ``baseline``, latency.
    The accuracy change is against ``reference`` when given (a dense model fine-tuned as long: the
    fair reference for a loss), else against ``baseline``; the column header says which."""
    against = reference if reference is not None else baseline
    label = "Δ ctrl" if reference is not None else "Δ pp"
    head = (
        f"{'pipeline / step':<44} {'accuracy':>9} {label:>6} {'zeros':>6} {'values':>7} "
        f"{'.tflite':>10} {'gz':>9} {'x smaller':>9} {'b=1 µs':>7}"
    )
    lines = [head, "-" * len(head)]
    for s in stages:
        m = s.measurement
        lines.append(
            f"{m.name[:44]:<44} {m.tflite_accuracy:>9.2%} {(m.tflite_accuracy - against.tflite_accuracy) * 100:>+6.2f} "
            f"{s.sparsity:>6.1%} {s.max_unique:>7,} {m.tflite_bytes:>10,} {m.tflite_gz:>9,} "
            f"{baseline.tflite_gz / m.tflite_gz:>8.1f}x {m.latency_b1_us:>7.1f}"
        )
    if reference is not None:
        lines.append(f"Δ ctrl: pp against {reference.name} ({reference.tflite_accuracy:.2%}); x smaller: against {baseline.name}")
    return "\n".join(lines)


def recipe_epochs(data, at_least: int = 10, min_steps: int = 800) -> int:
    """Fine-tuning epochs for the long pruning schedule: at least ``at_least`` epochs and
    ``min_steps`` steps (the fast subset has 79 steps per epoch, the digits fallback 11)."""
    return max(at_least, math.ceil(min_steps / models.steps_per_epoch(len(data.x_train))))
