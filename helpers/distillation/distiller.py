"""Knowledge distillation (Hinton, Vinyals & Dean 2015) on the Keras 2 stack TF-MOT uses.

Lesson 03 shows and explains each piece; the functions here let the seeds loop, the grid and the
explorer widget reuse them instead of copying.

* ``soft_targets``: softmax(logits / T), the teacher's "dark knowledge" made visible.
* ``distillation_loss``: alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(p_T || q_T), with
  labels optional per example (label -1 = "no label": only the teacher's soft target counts).
* ``Distiller``: a ``keras.Model`` that trains its student with that loss against a frozen
  teacher; the teacher's logits can be passed with the data (computed once with
  ``teacher_logits``) instead of running the teacher at every step.
* ``fit_student``: the one training loop both the from-scratch and the distilled students use,
  budgeted in steps, keeping the weights of the best validation epoch.
* ``student_epochs``: the training budget every student gets.

Beside it: helpers/distillation/studies.py (``compare``: scratch vs distilled over seeds;
``grid_search`` over T and alpha) and helpers/distillation/explorer.py (lesson 03's explorer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from .. import config, keras_compat, measure, models
from ..data import balanced_subset

DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.1
STUDENT_HIDDEN = (28,)  # 784-28-10: 22,270 parameters, 10.1x fewer than the CNN teacher
UNLABELED = -1


class DistillationSettingsError(config.WorkbookError, ValueError):
    """Temperature / alpha values that cannot work; the message says what to change."""


def problems(temperature, alpha) -> list[str]:
    """What is wrong with a (temperature, alpha) pair, as sentences a reader can act on."""
    found = []
    try:
        temperature = float(temperature)
    except (TypeError, ValueError):
        return [f"Temperature {temperature!r} is not a number; try 4."]
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        return [f"alpha {alpha!r} is not a number; use a value from 0 to 1."]
    if not math.isfinite(temperature) or temperature <= 0:
        found.append(
            f"Temperature must be above 0 (got {temperature:g}): softmax(z / T) divides by T. "
            "T = 1 is the ordinary softmax; 2-8 softens it."
        )
    if not math.isfinite(alpha) or not 0 <= alpha <= 1:
        found.append(
            f"alpha must lie in [0, 1] (got {alpha:g}): it weighs the label loss against the teacher's "
            "(alpha = 1: labels only, alpha = 0: teacher only)."
        )
    return found


def check(temperature, alpha) -> tuple[float, float]:
    found = problems(temperature, alpha)
    if found:
        raise DistillationSettingsError(" ".join(found))
    return float(temperature), float(alpha)


# ----------------------------------------------------------------------------- soft targets


def soft_targets(logits, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) along the last axis, computed stably (NumPy)."""
    temperature, _ = check(temperature, 0.0)
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def confusion_of_soft_targets(logits: np.ndarray, labels: np.ndarray, temperature: float) -> np.ndarray:
    """Mean soft target per (true class, class): row c is what the teacher says, on average,
    about images of class c. The off-diagonal mass is the "dark knowledge"."""
    probs = soft_targets(logits, temperature)
    rows = np.full((probs.shape[1], probs.shape[1]), np.nan)  # a class without images stays NaN
    for c in range(probs.shape[1]):
        if (labels == c).any():
            rows[c] = probs[labels == c].mean(axis=0)
    return rows


# ----------------------------------------------------------------------------- the loss


def distillation_loss(labels, student_logits, teacher_logits, alpha: float, temperature: float):
    """(total, hard, soft) for one batch, as TensorFlow scalars.

    hard = mean cross-entropy of the student against the labels, over the examples that have a
           label (label -1 = unlabeled; 0 when the batch has none);
    soft = mean KL(softmax(teacher / T) || softmax(student / T)) over all examples, times T^2
           (Hinton et al.: the soft gradients scale as 1 / T^2; multiplying by T^2 keeps them
           comparable to the hard ones when T changes);
    total = alpha * hard + (1 - alpha) * soft.

    Raises ``keras_compat.ModelError`` when the teacher's outputs are probabilities (non-negative,
    rows summing to 1) rather than logits - checked whenever the values are at hand (eagerly;
    inside ``fit`` the ``Distiller`` and ``teacher_logits`` check before training starts).
    """
    if tf.executing_eagerly() and not isinstance(teacher_logits, tf.Variable):
        keras_compat.check_logits(np.asarray(teacher_logits))
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    student_logits = tf.cast(student_logits, tf.float32)
    teacher_logits = tf.cast(teacher_logits, tf.float32)
    has_label = labels >= 0
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=student_logits)
    mask = tf.cast(has_label, tf.float32)
    hard = tf.math.divide_no_nan(tf.reduce_sum(ce * mask), tf.reduce_sum(mask))
    p_teacher = tf.nn.softmax(teacher_logits / temperature)
    kl = tf.reduce_sum(
        p_teacher * (tf.nn.log_softmax(teacher_logits / temperature) - tf.nn.log_softmax(student_logits / temperature)),
        axis=-1,
    )
    soft = tf.reduce_mean(kl) * temperature**2
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


class Distiller(keras.Model):
    """Trains ``student`` to match a frozen ``teacher`` (and the labels, where there are any).

    Args:
        student: a Keras model that outputs logits. It is the model you keep, measure and ship;
            the Distiller is only the training harness (``distiller.student``).
        teacher: a trained Keras model that outputs logits. It is frozen (``trainable = False``)
            and never updated. May be ``None`` when every batch brings the teacher's logits.
        alpha: weight of the hard-label loss, in [0, 1]. 1 = ordinary training on labels (the
            teacher is ignored); 0 = the teacher's soft targets alone.
        temperature: T > 0 that softens both softmaxes in the soft loss. 1 = ordinary softmax.

    Data for ``fit``: ``x`` = images, ``y`` = the labels (the teacher then runs on every batch),
    or ``y = {"labels": labels, "teacher_logits": logits}`` with the logits computed once by
    ``teacher_logits`` (several times faster: the teacher's forward pass dominates a step).
    A label of -1 marks an image without a label.
    """

    def __init__(self, student, teacher=None, alpha: float = DEFAULT_ALPHA, temperature: float = DEFAULT_TEMPERATURE):
        super().__init__(name="distiller")
        self.temperature, self.alpha = check(temperature, alpha)
        self.student = student
        self.teacher = teacher
        if teacher is not None:
            if keras_compat.outputs_probabilities(teacher):
                keras_compat.check_logits(np.full((1, 2), 0.5), f"the teacher {teacher.name} (it ends in a softmax)")
            teacher.trainable = False
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.hard_tracker = keras.metrics.Mean(name="hard_loss")
        self.soft_tracker = keras.metrics.Mean(name="soft_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.hard_tracker, self.soft_tracker, self.accuracy_tracker]

    def compile(self, optimizer="adam", **kwargs):
        """Only the optimizer is needed: the loss is the distillation loss above."""
        super().compile(optimizer=optimizer, **kwargs)

    def call(self, x, training=False):
        return self.student(x, training=training)

    def _split(self, data):
        x, y = data[0], data[1]
        if isinstance(y, dict):
            return x, y["labels"], y["teacher_logits"]
        if self.teacher is None:
            raise ValueError("This Distiller has no teacher: pass y={'labels': ..., 'teacher_logits': ...}.")
        return x, y, self.teacher(x, training=False)

    def train_step(self, data):
        x, labels, teacher = self._split(data)
        with tf.GradientTape() as tape:
            student = self.student(x, training=True)
            total, hard, soft = distillation_loss(labels, student, teacher, self.alpha, self.temperature)
        variables = self.student.trainable_variables  # never the teacher's
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return self._update(labels, student, total, hard, soft)

    def test_step(self, data):
        x, labels, teacher = self._split(data)
        student = self.student(x, training=False)
        total, hard, soft = distillation_loss(labels, student, teacher, self.alpha, self.temperature)
        return self._update(labels, student, total, hard, soft)

    def _update(self, labels, student, total, hard, soft):
        self.loss_tracker.update_state(total)
        self.hard_tracker.update_state(hard)
        self.soft_tracker.update_state(soft)
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        mask = labels >= 0
        self.accuracy_tracker.update_state(tf.boolean_mask(labels, mask), tf.boolean_mask(student, mask))
        return {m.name: m.result() for m in self.metrics}


# ----------------------------------------------------------------------------- teacher logits

_logits_memo: dict[str, np.ndarray] = {}


def clear_memo() -> None:
    _logits_memo.clear()


def _weights_hash(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:12]


def teacher_logits(teacher, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The teacher's logits for every image of ``x``, computed once and kept in memory and in
    ``data/cache/logits/`` (keyed by the teacher's weights and the images)."""
    keras_compat.check_inputs(teacher, x)
    key = f"{_weights_hash(teacher)}-{hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:12]}"
    if key in _logits_memo:
        return _logits_memo[key]
    path = config.cache_dir() / "logits" / f"{key}.npy"
    logits = None
    if path.is_file():
        try:
            logits = np.load(path)
            if logits.shape[0] != len(x):
                logits = None
        except (OSError, ValueError):
            logits = None  # a damaged file: compute again and overwrite
    if logits is None:
        logits = np.concatenate(
            [teacher(x[i : i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)]
        ).astype(np.float32)
        keras_compat.check_logits(logits, f"the teacher {getattr(teacher, 'name', '')}".rstrip())
        buffer = io.BytesIO()
        np.save(buffer, logits)
        try:
            config.write_atomic(path, buffer.getvalue())
        except OSError:
            pass  # stays in memory for this session
    logits.setflags(write=False)
    _logits_memo[key] = logits
    return logits


# ----------------------------------------------------------------------------- training


def build_student(hidden=STUDENT_HIDDEN, name: str = "student") -> keras.Sequential:
    """The student: a one-hidden-layer MLP, 784-28-10 by default (22,270 parameters)."""
    return models.build_mlp(hidden=hidden, name=name)


def few_labels(y: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """A copy of ``y`` where only ``per_class`` images of each class keep their label; the
    rest become -1 (unlabeled). ``None`` keeps every label."""
    if per_class is None:
        return np.asarray(y, dtype=np.int32).copy()
    keep = balanced_subset(y, per_class, seed=seed)
    out = np.full(len(y), UNLABELED, dtype=np.int32)
    out[keep] = y[keep]
    return out


class _KeepBest(keras.callbacks.Callback):
    """Remembers the weights of the epoch with the best validation accuracy and restores them."""

    def __init__(self, model_to_keep, x_val, y_val):
        super().__init__()
        self.keep, self.x_val, self.y_val = model_to_keep, x_val, y_val
        self.best, self.best_epoch, self.weights, self.curve = -1.0, 0, None, []

    def on_epoch_end(self, epoch, logs=None):
        acc = measure.keras_accuracy(self.keep, self.x_val, self.y_val)
        self.curve.append(acc)
        if acc > self.best:
            self.best, self.best_epoch, self.weights = acc, epoch + 1, self.keep.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.keep.set_weights(self.weights)


@dataclasses.dataclass
class StudentRun:
    """One trained student and how it got there."""

    model: keras.Model
    method: str  # "scratch" or "distilled"
    seed: int
    steps: int
    val_accuracy: float
    best_epoch: int
    val_curve: list[float]
    seconds: float
    test_accuracy: float | None = None


def fit_student(
    data,
    method: str,
    seed: int,
    epochs: int,
    labels_per_class: int | None = None,
    teacher_logits_train: np.ndarray | None = None,
    alpha: float = DEFAULT_ALPHA,
    temperature: float = DEFAULT_TEMPERATURE,
    hidden=STUDENT_HIDDEN,
    batch_size: int = models.BATCH_SIZE,
    learning_rate: float = models.LEARNING_RATE,
    callbacks=(),
) -> StudentRun:
    """Train one student, the same way for both methods except for the loss.

    An epoch is one pass over *all* training images' worth of steps, for both methods, so they
    get the same number of gradient steps. ``scratch`` draws its batches from the labelled
    images only (cross-entropy); ``distilled`` from all images, with the Distiller's loss
    (labels where there are any, the teacher's soft targets everywhere). Both keep the weights
    of their best epoch on the validation split (never the test set).
    """
    if method not in ("scratch", "distilled"):
        raise ValueError(f"method must be 'scratch' or 'distilled', not {method!r}")
    temperature, alpha = check(temperature, alpha)
    labels = few_labels(data.y_train, labels_per_class)
    labelled = labels >= 0
    steps = models.steps_per_epoch(len(data.x_train), batch_size)
    keras.utils.set_random_seed(seed)
    student = build_student(hidden)
    if method == "scratch":
        x, y = data.x_train[labelled], labels[labelled]
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        trainer = models.compile_model(student, learning_rate)
    else:
        if teacher_logits_train is None:
            raise ValueError("distilled needs the teacher's logits for the training images (teacher_logits).")
        keras_compat.check_logits(teacher_logits_train[:1000])
        ds = tf.data.Dataset.from_tensor_slices(
            (data.x_train, {"labels": labels, "teacher_logits": teacher_logits_train})
        )
        trainer = Distiller(student, alpha=alpha, temperature=temperature)
        trainer.compile(keras.optimizers.Adam(learning_rate))
    n = int(labelled.sum()) if method == "scratch" else len(data.x_train)
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat().batch(batch_size)
    keep = _KeepBest(student, data.x_val, data.y_val)
    start = time.perf_counter()
    trainer.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[keep, *callbacks])
    return StudentRun(
        model=student,
        method=method,
        seed=seed,
        steps=steps * epochs,
        val_accuracy=keep.best,
        best_epoch=keep.best_epoch,
        val_curve=keep.curve,
        seconds=time.perf_counter() - start,
    )


def student_epochs(data, min_steps: int = 600, at_least: int = 8) -> int:
    """Epochs for a student run: at least ``at_least`` and ``min_steps`` gradient steps (the
    digits fallback has 11 steps per epoch, Fashion-MNIST 430)."""
    return max(at_least, math.ceil(min_steps / models.steps_per_epoch(len(data.x_train))))
