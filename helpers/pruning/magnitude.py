"""Magnitude pruning with TF-MOT: prune-and-fine-tune, the sensitivity scan (schedules: ``schedule``).

Lesson 01 writes each TF-MOT call out once in the notebook (``prune_low_magnitude``,
``PolynomialDecay``, ``UpdatePruningStep``, ``strip_pruning``); these functions hold the same
calls so the sweep, the explorer widget and later lessons reuse them instead of copying.

* ``prune_and_finetune``: wrap (a copy of) a trained model, fine-tune with
  ``UpdatePruningStep``, ``strip_pruning``. Layers can be kept dense or pruned to their own
  sparsity.
* ``sensitivity_scan``: prune one layer at a time, no fine-tuning, accuracy per sparsity.
* ``explorer_run``: the schedule explorer's Run button as a plain function (its preview: ``schedule``).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from .. import keras_compat, measure, models, results
from .schedule import ScheduleSettings
from .sparsity import PruningSettingsError, m_by_n_fraction, m_by_n_problem, magnitude_prune  # noqa: F401 - re-exported

sparsity_api = tfmot.sparsity.keras
FINETUNE_LEARNING_RATE = 1e-3  # the baselines' training rate (helpers.models.LEARNING_RATE)


steps_per_epoch = models.steps_per_epoch  # the lesson calls it from here


MIN_FINETUNE_STEPS = 600


def finetune_epochs(data) -> int:
    """Epochs of fine-tuning after pruning: at least 6, and at least ~600 steps (a rule of thumb,
    not tuned here): on Fashion-MNIST that is 8 epochs in fast mode and 6 in full mode; the
    small digits fallback needs ~55 epochs to take as many steps. Recovery needs steps, and a
    schedule with TF-MOT's default frequency (100) never prunes in fewer than 100."""
    return max(6, math.ceil(MIN_FINETUNE_STEPS / steps_per_epoch(len(data.x_train))))


def error_summary(exc: BaseException) -> str:
    """The line of a (long) TensorFlow error that says what is wrong: for a failed graph
    assertion, the assertion's own message; otherwise the first line."""
    text = str(exc)
    marker = "assertion failed: ["
    if marker in text:
        return text.split(marker, 1)[1].split("]", 1)[0]
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


# ----------------------------------------------------------------------------- prune and fine-tune


@dataclasses.dataclass
class Pruned:
    model: keras.Model  # stripped: plain Keras layers, zeros in the kernels
    history: dict
    seconds: float
    settings: dict


def prune_and_finetune(
    base: keras.Model,
    data,
    schedule: ScheduleSettings | dict[str, ScheduleSettings],
    epochs: int,
    *,
    keep_dense: tuple[str, ...] = (),
    m_by_n: tuple[int, int] | None = None,
    learning_rate: float = FINETUNE_LEARNING_RATE,
    callbacks=(),
    label: str = "",
) -> Pruned:
    """Prune a copy of ``base`` with TF-MOT while fine-tuning it on ``data`` for ``epochs``.

    ``schedule`` is one schedule for every Dense/Conv2D layer (except ``keep_dense``), or a
    dict ``{layer name: schedule}`` pruning only those layers, each to its own sparsity.
    ``m_by_n=(2, 4)`` asks for structured 2:4 sparsity: TF-MOT then computes each mask once, at
    the first training step, whatever the schedule says (its sparsity and timing are ignored), and
    a layer whose input axis is not a multiple of 4 (the CNN's first conv: 1 input channel)
    cannot be grouped, so it is left dense and named in a printed note and in
    ``settings["m_by_n_left_dense"]``. ``base`` is never modified.

    Raises ``keras_compat.ModelError`` for a model TF-MOT cannot wrap (Keras 3, subclassed,
    unsupported layers) or training images of another shape than the model takes.
    """
    keras_compat.require_graph_model(base, "Pruning")
    keras_compat.check_inputs(base, data.x_train, "the training images")
    per_layer = schedule if isinstance(schedule, dict) else None
    built = {name: s.build() for name, s in per_layer.items()} if per_layer else {"*": schedule.build()}
    if per_layer:
        unknown = set(per_layer) - {layer.name for layer in base.layers}
        if unknown:
            raise PruningSettingsError(
                f"No layer named {sorted(unknown)} in {base.name}; its layers are {[la.name for la in base.layers]}."
            )
    extra = {"sparsity_m_by_n": m_by_n} if m_by_n else {}
    too_narrow = [la.name for la in measure.kernel_layers(base) if m_by_n and m_by_n_problem(la.kernel.shape, m_by_n[1])]
    if too_narrow:
        print(f"Note: {m_by_n[0]}:{m_by_n[1]} sparsity left {', '.join(too_narrow)} dense: " + m_by_n_problem(
            base.get_layer(too_narrow[0]).kernel.shape, m_by_n[1]))

    def wrap(layer):
        target = built.get(layer.name) if per_layer else (None if layer.name in keep_dense else built["*"])
        if target is None or not measure.is_kernel_layer(layer) or layer.name in too_narrow:
            return layer
        return sparsity_api.prune_low_magnitude(layer, pruning_schedule=target, **extra)

    try:
        pruned = keras.models.clone_model(models.copy_model(base), clone_function=wrap)
    except keras_compat.TFMOT_ERRORS as exc:
        raise keras_compat.tfmot_error(exc, "Pruning", base) from None
    models.compile_model(pruned, learning_rate)
    start = time.perf_counter()
    history = models.train(pruned, data, epochs, callbacks=[sparsity_api.UpdatePruningStep(), *callbacks], label=label)
    try:
        stripped = models.compile_model(sparsity_api.strip_pruning(pruned), learning_rate)
    except keras_compat.TFMOT_ERRORS as exc:  # stripping clones the model again (e.g. a TFOpLambda stops it)
        raise keras_compat.tfmot_error(exc, "Pruning", base) from None
    settings = {
        "schedule": {k: dataclasses.asdict(v) for k, v in per_layer.items()}
        if per_layer
        else dataclasses.asdict(schedule),
        "keep_dense": list(keep_dense),
        "m_by_n": list(m_by_n) if m_by_n else None,
        **({"m_by_n_left_dense": too_narrow} if too_narrow else {}),
        "epochs": epochs,
        "learning_rate": learning_rate,
    }
    return Pruned(stripped, history, time.perf_counter() - start, settings)


def finetune_dense(
    base: keras.Model, data, epochs: int, learning_rate: float = FINETUNE_LEARNING_RATE, label: str = ""
):
    """The control every pruning result needs: the same fine-tuning without pruning. (For a
    lesson baseline, ``helpers.models.dense_control`` trains the same once and caches it.)"""
    model = models.compile_model(models.copy_model(base), learning_rate)
    models.train(model, data, epochs, label=label)
    return model


def kernel_sparsity(model) -> float:
    """Fraction of zeros over all Dense/Conv2D kernels (biases are never pruned)."""
    rows = measure.layer_sparsity(model)
    total = sum(r.weights for r in rows)
    return 1 - sum(r.nonzeros for r in rows) / total if total else 0.0


# ----------------------------------------------------------------------------- sensitivity


def sensitivity_scan(model: keras.Model, x: np.ndarray, y: np.ndarray, sparsities=(0.5, 0.75, 0.9, 0.95, 0.98, 0.99)):
    """Accuracy on (x, y) with one layer's kernel magnitude-pruned at a time, no fine-tuning.

    Returns ``{layer name: [accuracy at each sparsity]}``; the model is restored afterwards.
    Run it on validation data: the choices it informs must not look at the test set.
    """
    scan = {}
    for layer in model.layers:
        if not measure.is_kernel_layer(layer):
            continue
        original = layer.kernel.numpy()
        accuracies = []
        try:
            for s in sparsities:
                layer.kernel.assign(magnitude_prune(original, s))
                accuracies.append(measure.keras_accuracy(model, x, y))
        finally:
            layer.kernel.assign(original)
        scan[layer.name] = accuracies
    return scan


def choose_sparsities(
    scan: dict, sparsities, model: keras.Model, target: float, small: float = 0.01
) -> dict[str, float]:
    """Per-layer sparsities from a sensitivity scan: every scanned layer at ``target``, except
    the layer the scan marks most sensitive at ``target`` when it holds under ``small`` of the
    kernel weights: pruning it would save almost nothing and cost the most, so it stays dense."""
    sizes = {name: model.get_layer(name).kernel.shape.num_elements() for name in scan}
    at_target = {name: accuracies[list(sparsities).index(target)] for name, accuracies in scan.items()}
    most_sensitive = min(at_target, key=at_target.get)
    chosen = {name: target for name in scan}
    if sizes[most_sensitive] < small * sum(sizes.values()):
        chosen[most_sensitive] = 0.0
    return chosen


# ----------------------------------------------------------------------------- the explorer's Run button


def explorer_run(
    settings: ScheduleSettings,
    base: keras.Model,
    finetune_data,
    eval_data,
    epochs: int,
    *,
    callbacks=(),
    record: bool = True,
) -> tuple[measure.Measurement, dict]:
    """The explorer's Run button: prune and fine-tune ``base`` with ``settings`` on
    ``finetune_data``, measure on ``eval_data``'s test set, log it. Raises
    ``PruningSettingsError`` for settings that cannot run."""
    problems = settings.problems()
    if problems:
        raise PruningSettingsError("Invalid pruning schedule: " + " ".join(problems))
    pruned = prune_and_finetune(base, finetune_data, settings, epochs, callbacks=callbacks)
    name = f"explorer: {settings.describe()}, {epochs} ep"
    m = measure.measure(name, eval_data, pruned.model, runs=100, batch_runs=5)
    entry = {}
    if record:
        entry = results.record(
            "pruning",
            name,
            m,
            {**pruned.settings, "finetune_data": f"{finetune_data.name} {finetune_data.mode} subset",
             "sparsity_reached": round(kernel_sparsity(pruned.model), 4)},
            lesson="01",
            key=f"01/explorer/{name}",
            data=eval_data,
        )  # fmt: skip
    return m, entry
