"""Magnitude pruning with TF-MOT: validated schedules, prune-and-fine-tune, the sensitivity scan.

Lesson 01 writes each TF-MOT call out once in the notebook (``prune_low_magnitude``,
``PolynomialDecay``, ``UpdatePruningStep``, ``strip_pruning``); these functions hold the same
calls so the sweep, the explorer widget and later lessons reuse them instead of copying.

* ``ScheduleSettings``: the knobs of a schedule, checked with messages a reader can act on
  (TF-MOT itself accepts a decreasing schedule or ``end_step == begin_step`` without a word).
* ``schedule_curve``: sparsity per training step, computed by TF-MOT's own schedule object.
* ``prune_and_finetune``: wrap (a copy of) a trained model, fine-tune with
  ``UpdatePruningStep``, ``strip_pruning``. Layers can be kept dense or pruned to their own
  sparsity.
* ``sensitivity_scan``: prune one layer at a time, no fine-tuning, accuracy per sparsity.
* ``explorer_preview`` / ``explorer_run``: the schedule explorer's logic as plain functions.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from .. import keras_compat, measure, models, results
from .sparsity import PruningSettingsError, m_by_n_fraction, m_by_n_problem, magnitude_prune  # noqa: F401 - re-exported

sparsity_api = tfmot.sparsity.keras
FINETUNE_LEARNING_RATE = 1e-3  # the baselines' training rate (helpers.models.LEARNING_RATE)


# ----------------------------------------------------------------------------- schedules


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """A pruning schedule as the reader sets it.

    ``kind="polynomial"``: Zhu & Gupta's gradual schedule (2017), TF-MOT's ``PolynomialDecay``:
    sparsity rises from ``initial_sparsity`` at ``begin_step`` to ``final_sparsity`` at
    ``end_step`` as s_f + (s_i - s_f)(1 - t)^power, fast at first and gently at the end, pruning
    every ``frequency`` steps. ``kind="constant"``: ``ConstantSparsity``, ``final_sparsity`` from
    ``begin_step`` on (``initial_sparsity`` and ``power`` unused).
    """

    kind: str = "polynomial"
    initial_sparsity: float = 0.5
    final_sparsity: float = 0.9
    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 100
    power: float = 3.0

    def problems(self) -> list[str]:
        """Everything wrong with these settings, each with what to do (empty when fine)."""
        found = []
        if self.kind not in ("polynomial", "constant"):
            found.append(f"kind must be 'polynomial' or 'constant', not {self.kind!r}.")
        for name in ("initial_sparsity", "final_sparsity"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value < 1:
                found.append(f"{name} = {value!r}: a sparsity is a fraction of weights in [0, 1), e.g. 0.9 for 90 %.")
        polynomial = self.kind == "polynomial"
        if polynomial and not found and self.final_sparsity < self.initial_sparsity:
            found.append(
                f"final_sparsity {self.final_sparsity:g} < initial_sparsity {self.initial_sparsity:g}: pruned "
                "weights never come back, so sparsity can only rise. Swap them."
            )
        steps_ok = True
        for name in ("begin_step", "end_step", "frequency"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                found.append(f"{name} = {value!r}: a whole number of training steps.")
                steps_ok = False
        if steps_ok:
            if self.begin_step < 0:
                found.append(f"begin_step = {self.begin_step}: steps count from 0.")
            if polynomial and self.end_step <= self.begin_step:
                found.append(
                    f"end_step {self.end_step} <= begin_step {self.begin_step}: the schedule needs steps to rise "
                    "in. Make end_step larger."
                )
            if self.frequency <= 0:
                found.append(f"frequency = {self.frequency}: prune every 1 or more steps (TF-MOT's default is 100).")
        if polynomial and not (isinstance(self.power, (int, float)) and math.isfinite(self.power) and self.power > 0):
            found.append(f"power = {self.power!r}: a positive number (3 is Zhu & Gupta's choice).")
        return found

    def build(self):
        """The TF-MOT schedule object; raises ``PruningSettingsError`` listing every problem."""
        problems = self.problems()
        if problems:
            raise PruningSettingsError("Invalid pruning schedule: " + " ".join(problems))
        if self.kind == "constant":
            return sparsity_api.ConstantSparsity(
                target_sparsity=float(self.final_sparsity),
                begin_step=int(self.begin_step),
                frequency=int(self.frequency),
            )
        return sparsity_api.PolynomialDecay(
            initial_sparsity=float(self.initial_sparsity),
            final_sparsity=float(self.final_sparsity),
            begin_step=int(self.begin_step),
            end_step=int(self.end_step),
            power=float(self.power),
            frequency=int(self.frequency),
        )

    def describe(self) -> str:
        if self.kind == "constant":
            return f"constant {self.final_sparsity:.0%} from step {self.begin_step}, every {self.frequency} steps"
        return (
            f"polynomial {self.initial_sparsity:.0%}→{self.final_sparsity:.0%}, steps {self.begin_step}–"
            f"{self.end_step}, every {self.frequency}, power {self.power:g}"
        )


def schedule_curve(schedule, total_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, target sparsity at each step, steps where the mask is updated), from TF-MOT's
    schedule object itself, evaluated on all steps at once.

    The steps are 1..total_steps because that is what the wrapper sees: ``UpdatePruningStep``
    counts from 1, so a schedule beginning at step 0 first prunes at step ``frequency`` (and a
    fine-tune shorter than ``frequency`` steps is never pruned at all).
    """
    steps = tf.range(1, int(total_steps) + 1, dtype=tf.int64)
    should_prune, target = schedule(steps)
    target = np.broadcast_to(np.asarray(target, dtype=np.float32), (len(steps),))
    should_prune = np.broadcast_to(np.asarray(should_prune), (len(steps),))
    return steps.numpy(), target.copy(), steps.numpy()[should_prune]


steps_per_epoch = models.steps_per_epoch  # the lesson calls it from here


MIN_FINETUNE_STEPS = 600


def finetune_epochs(data) -> int:
    """Epochs of fine-tuning after pruning: at least 6, and at least ~600 steps (a rule of thumb,
    not tuned here): on Fashion-MNIST that is 8 epochs in fast mode and 6 in full mode; the
    small digits fallback needs ~55 epochs to take as many steps. Recovery needs steps, and a
    schedule with TF-MOT's default frequency (100) never prunes in fewer than 100."""
    return max(6, math.ceil(MIN_FINETUNE_STEPS / steps_per_epoch(len(data.x_train))))


def gradual_schedule(target: float, total_steps: int) -> ScheduleSettings:
    """The sweep's default: 0 -> target over the first 70 % of fine-tuning, ~16 mask updates,
    then 30 % of the steps to recover at the final sparsity."""
    end = max(2, int(0.7 * total_steps))
    return ScheduleSettings("polynomial", 0.0, target, 0, end, max(1, end // 16), 3.0)


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


# ----------------------------------------------------------------------------- the explorer's logic


@dataclasses.dataclass
class Preview:
    steps: np.ndarray
    sparsity: np.ndarray
    prune_steps: np.ndarray
    epoch_steps: list[int]
    problems: list[str]  # settings that cannot run (the Run button stays off)
    notes: list[str]  # settings that run but probably not as the reader means


def no_pruning_cause(settings: ScheduleSettings, total_steps: int) -> str:
    """Why no mask update falls inside ``total_steps`` of training, naming the cause that applies.

    TF-MOT updates the mask at steps where step >= begin_step and (step - begin_step) is a
    multiple of ``frequency`` (and, for PolynomialDecay, step <= end_step); the wrapper's steps
    count from 1."""
    first = max(settings.begin_step, 1)
    offset = (first - settings.begin_step) % settings.frequency
    first += (settings.frequency - offset) % settings.frequency
    if settings.begin_step > total_steps:
        cause = (
            f"begin_step {settings.begin_step:,} comes after the last training step ({total_steps:,}). Lower begin_step "
            "or train longer."
        )
    elif settings.frequency > total_steps - settings.begin_step or first > total_steps:
        cause = (
            f"frequency {settings.frequency:,} is more than the {total_steps:,} training steps allow: the first mask update "
            f"would be at step {first:,}. Lower frequency (e.g. to {max(1, total_steps // 16)}) or train longer."
        )
    else:
        cause = f"the schedule's end_step {settings.end_step:,} comes before its first mask update at step {first:,}."
    return f"No mask update falls inside training, so the model stays dense: {cause}"


def explorer_preview(settings: ScheduleSettings, steps_in_epoch: int, epochs: int) -> Preview:
    """What the explorer draws for ``settings`` over ``epochs`` of fine-tuning: never raises."""
    total = steps_in_epoch * max(1, int(epochs)) if isinstance(epochs, (int, np.integer)) else 0
    problems = settings.problems()
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        problems.append(f"epochs = {epochs!r}: fine-tune for at least 1 epoch.")
    if problems:
        empty = np.zeros(0)
        return Preview(empty, empty, empty, [], problems, [])
    steps, target, prune_steps = schedule_curve(settings.build(), total)
    notes = []
    last = settings.end_step if settings.kind == "polynomial" else settings.begin_step
    if last > total:
        knob = "end_step" if settings.kind == "polynomial" else "begin_step"  # ConstantSparsity has no end_step
        notes.append(
            f"The schedule {'ends' if knob == 'end_step' else 'starts'} at step {last:,} but {epochs} epoch(s) of "
            f"fine-tuning are {total:,} steps: training stops at {target[-1]:.0%} sparsity, not "
            f"{settings.final_sparsity:.0%}. Lower {knob} or add epochs."
        )
    if len(prune_steps) == 0:
        notes.append(no_pruning_cause(settings, total))
    elif settings.kind == "polynomial" and settings.frequency > max(1, (settings.end_step - settings.begin_step) // 3):
        notes.append(
            f"frequency {settings.frequency} leaves only {len(prune_steps)} mask updates: sparsity jumps in few large "
            "steps, which costs accuracy. A smaller frequency prunes more gradually."
        )
    return Preview(steps, target, prune_steps, [steps_in_epoch * e for e in range(1, epochs + 1)], [], notes)


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
