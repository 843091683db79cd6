"""Lesson 06, "your own model": check a reader's model and data, run the recipes that apply,
measure each the workbook's way, and say why the others cannot apply.

* ``shipped_model``: what the lesson runs as shipped - a small residual CNN with
  BatchNormalization and a skip connection (an architecture none of the lessons uses), trained
  on the fast subset and cached under ``data/cache/models/``.
* ``load_data`` (from ``reader_data``): a reader's data - an ``.npz`` or an image folder - checked
  on the way in, as a ``helpers.data.Dataset``; ``below_chance`` flags a baseline no better than guessing.
* ``check``: Keras 2 or 3, Sequential/functional/subclassed, input shape vs data, logits vs
  probabilities, labels vs outputs, and which layers each technique takes (found by asking
  TF-MOT itself on a copy, not from a list): a ``Checks`` table plus, per recipe, whether it
  applies and why not.
* ``recipes``: int8 PTQ, LiteRT Quantizer int4 weights, pruning + fine-tune, structured pruning of
  channels through the layer graph (``helpers.structured_pruning.graph``), clustering,
  distillation into a smaller student; each returns what to measure and log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import warnings

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from .. import config, conversion_check, data, keras_compat, measure, models
from ..distillation import distiller
from ..pruning import magnitude
from ..structured_pruning import graph as channel_graph
from . import reader_data

SHIPPED_EPOCHS = 12
RECIPES = ("int8 PTQ", "int4 weights (LiteRT Quantizer)", "pruning + fine-tune", "structured pruning (channels)",
           "clustering", "distillation")


CapstoneError = reader_data.CapstoneError  # data or settings lesson 06 cannot work with
load_data, below_chance = reader_data.load_data, reader_data.below_chance  # a reader's data, checked on the way in


# ----------------------------------------------------------------------------- the shipped model


def _bn(name: str):
    return keras.layers.BatchNormalization(momentum=0.9, name=name)


def build_shipped(num_classes: int = 10, width: int = 24, name: str = "small_resnet") -> keras.Model:
    """Reshape -> conv 3x3/2 + BN + ReLU -> residual block (2 x conv 3x3 + BN, skip, add) ->
    conv 3x3/2 + BN + ReLU -> global average pooling -> Dense logits (functional, 21,922 params).
    BatchNormalization momentum 0.9: with 0.99 its running statistics lag behind weights that move
    fast in a short training (52 % test accuracy at 79 % training accuracy after 6 epochs)."""
    inputs = keras.Input((28, 28), name="image")
    x = keras.layers.Reshape((28, 28, 1), name="reshape")(inputs)
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = keras.layers.ReLU(name="stem_relu")(_bn(name="stem_bn")(x))
    y = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="block_conv_0")(x)
    y = keras.layers.ReLU(name="block_relu_0")(_bn(name="block_bn_0")(y))
    y = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="block_conv_1")(y)
    y = _bn(name="block_bn_1")(y)
    x = keras.layers.ReLU(name="block_relu_1")(keras.layers.Add(name="skip_add")([x, y]))
    x = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", use_bias=False, name="down")(x)
    x = keras.layers.ReLU(name="down_relu")(_bn(name="down_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x), name=name)


def shipped_model(seed: int = models.DEFAULT_SEED) -> tuple[keras.Model, data.Dataset]:
    """The shipped model trained on the fast subset (cached), and that subset."""
    return cached_training(build_shipped, SHIPPED_EPOCHS, seed, prefix="capstone")


def cached_training(build, epochs: int, seed: int, prefix: str) -> tuple[keras.Model, data.Dataset]:
    """``build()`` compiled and trained ``epochs`` epochs on the fast subset, or its weights loaded from
    ``data/cache/models/<prefix>-<architecture hash>-<data fingerprint>-e<epochs>-s<seed>.weights.h5``;
    and that subset. A cache that cannot be written keeps the model in memory for this session."""
    train_data = data.load(config.FAST_MODE)
    recipe = json.dumps(build().get_config(), sort_keys=True, default=str)
    key = f"{prefix}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}-{train_data.fingerprint}-e{epochs}-s{seed}"
    path = config.cache_dir() / "models" / f"{key}.weights.h5"
    keras.utils.set_random_seed(seed)
    model = models.compile_model(build())
    try:
        model.load_weights(path)
        print(f"{model.name}: trained weights loaded from the cache ({path.name})")
    except (OSError, ValueError):
        print(f"Training {model.name}: {epochs} epochs on {len(train_data.x_train):,} images (fast subset)")
        models.train(model, train_data, epochs, label=f"{model.name} ")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save_weights(path)
        except OSError:
            pass  # stays in memory for this session
    keras.utils.set_random_seed(seed)
    return model, train_data


# ----------------------------------------------------------------------------- the checks


@dataclasses.dataclass
class Checks:
    """What ``check`` found: rows of (check, finding, ok) and, per recipe, None (applies) or the
    reason it cannot."""

    rows: list[tuple[str, str, bool]]
    blocked: dict[str, str | None]
    probabilities: bool

    def applies(self, recipe: str) -> bool:
        return self.blocked.get(recipe) is None

    def _lines(self):
        lines = list(self.rows)  # (check, finding, ok): a row that reports a problem shows ✗
        lines += [(f"recipe: {r}", "applies" if why is None else f"cannot apply: {why}", why is None)
                  for r, why in self.blocked.items()]  # fmt: skip
        return lines

    def __repr__(self) -> str:
        return "\n".join(f"{'✓' if ok else '✗'} {c:<34} {f}" for c, f, ok in self._lines())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✓' if ok else '✗'}</td><td>{html.escape(c)}</td><td style='text-align:left'>{html.escape(f)}</td></tr>"
            for c, f, ok in self._lines()
        )
        return f"<table><thead><tr><th></th><th>check</th><th>finding</th></tr></thead><tbody>{rows}</tbody></table>"


def _try(call, model=None) -> str | None:
    """None if ``call()`` works, else the workbook's message for why it did not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        return None
    except config.WorkbookError as exc:
        return str(exc)
    except keras_compat.TFMOT_ERRORS as exc:
        return str(keras_compat.tfmot_error(exc, "TF-MOT", model))


def check(model, d: data.Dataset, distil: bool = True) -> Checks:
    """Check ``model`` against ``d`` and against each technique; never trains, never raises for
    a model the recipes cannot take (it says so per recipe)."""
    rows, blocked = [], {}
    kind, shape = keras_compat.flavour(model), keras_compat.structure(model) if keras_compat.flavour(model) != "other" else "?"
    rows.append(("Keras version", {"tf_keras": "Keras 2 (tf_keras): what TF-MOT needs", "keras3": "Keras 3 (import keras)",
                                   "other": f"not a Keras model ({type(model).__name__})"}[kind], kind == "tf_keras"))  # fmt: skip
    rows.append(("structure", shape, shape != "subclassed"))
    if kind != "tf_keras":
        why = keras_compat.REBUILD_HINT if kind == "keras3" else "load a Keras model (helpers.your_model.model_files.load)."
        return Checks(rows, {r: why for r in RECIPES}, False)
    problem = _try(lambda: keras_compat.check_inputs(model, d.x_test[:2], "the test images"))
    rows.append(("input shape vs data", problem or f"{tuple(model.input_shape[1:])} = the data's", problem is None))
    outputs = model.output_shape[-1] if problem is None else None
    label_problem = problem or _try(lambda: keras_compat.check_labels(d.y_test, outputs))
    rows.append(("labels vs outputs", label_problem or f"{outputs} outputs, labels 0..{d.y_test.max()}", label_problem is None))
    if problem or label_problem:
        return Checks(rows, {r: "the model and the data do not fit (see above)." for r in RECIPES}, False)
    probabilities = keras_compat.outputs_probabilities(model)
    rows.append(("outputs", "probabilities (ends in a softmax): fine-tuning uses from_logits=False; distillation "
                 "uses log-probabilities as the teacher's logits" if probabilities else "logits", True))  # fmt: skip
    kernels = measure.kernel_layers(model)
    others = [la.name for la in model.layers if la.weights and not measure.is_kernel_layer(la) and
              not isinstance(la, keras.layers.BatchNormalization)]  # fmt: skip
    rows.append(("prunable / clusterable layers", f"{len(kernels)} Dense/Conv2D: {', '.join(la.name for la in kernels)}"
                 + (f"; left as they are: {', '.join(others)}" if others else ""), bool(kernels)))  # fmt: skip
    narrow = [la.name for la in kernels if magnitude.m_by_n_problem(la.kernel.shape)]
    rows.append(("2:4 sparsity", f"cannot group {', '.join(narrow)} (fewer or not a multiple of 4 inputs)" if narrow
                 else "every kernel can be grouped", not narrow))  # fmt: skip
    graph = _try(lambda: keras_compat.require_graph_model(model, "TF-MOT"))
    qat = graph or _try(lambda: tfmot.quantization.keras.quantize_model(models.copy_model(model)), model)
    rows.append(("8-bit QAT (quantize_model)", "supported" if qat is None else qat, qat is None))
    cluster = graph or _try(lambda: tfmot.clustering.keras.strip_clustering(
        tfmot.clustering.keras.cluster_weights(models.copy_model(model), number_of_clusters=4)), model)
    prune = graph or _try(lambda: _prune_and_strip(model), model)
    blocked["int8 PTQ"] = None
    blocked["int4 weights (LiteRT Quantizer)"] = None if _litert_quantizer() else "litert-quantizer is not installed."
    blocked["pruning + fine-tune"] = prune or (None if kernels else "the model has no Dense or Conv2D layer to prune.")
    blocked["structured pruning (channels)"] = _channels_problem(model)
    blocked["clustering"] = cluster or (None if kernels else "the model has no Dense or Conv2D layer to cluster.")
    blocked["distillation"] = None if distil else "not asked for (DISTIL = False)."
    return Checks(rows, blocked, probabilities)


def _channels_problem(model) -> str | None:
    """Why ``structured_pruning.graph`` cannot narrow ``model`` (its message names the layer), or None."""
    try:
        plan = channel_graph.plan(model, 0.5)
    except config.WorkbookError as exc:
        return str(exc)
    if not plan.prunable:
        return ("no channel group can be removed: every Conv2D/Dense output reaches the model's output (the classes) "
                "or is frozen.")
    return None


def _prune_and_strip(model):
    """What the pruning recipe does to the graph, without training: wrap each Dense/Conv2D layer of a
    copy (``clone_model`` with a clone function, as ``pruning.magnitude.prune``), then strip the wrappers."""
    sparsity = tfmot.sparsity.keras

    def wrap(layer):
        return sparsity.prune_low_magnitude(layer) if measure.is_kernel_layer(layer) else layer

    return sparsity.strip_pruning(keras.models.clone_model(models.copy_model(model), clone_function=wrap))


def _litert_quantizer():
    try:
        import litert_quantizer

        return litert_quantizer
    except ImportError:
        return None


# ----------------------------------------------------------------------------- the recipes


def pruned_name(pruned) -> tuple[str, str]:
    """(name, note) for a pruned model, by what was measured: the share of zeros among all its
    kernel weights (``measure.layer_sparsity``), the kernels left dense and the parameters not pruned."""
    rows = {r.layer: r for r in measure.layer_sparsity(pruned)}
    total = sum(r.weights for r in rows.values())
    zeros = sum(r.weights - r.nonzeros for r in rows.values())
    share = zeros / total if total else 0.0
    dense = [name for name, r in rows.items() if r.nonzeros == r.weights]
    others = measure.count_params(pruned) - total
    note = (f"{share:.1%} of the {total:,} Dense/Conv2D kernel weights are zero (measured); kernels left dense: "
            f"{', '.join(dense) or 'none'}; {others:,} other parameters (biases, BatchNormalization ...) not pruned")  # fmt: skip
    return f"pruned ({share:.0%} of kernel weights zero) + int8", note


def measure_and_log(name: str, technique: str, d, model, tflite: bytes | None, settings: dict):
    """``measure.measure`` on ``d``'s test set (which includes the .tflite-vs-Keras check), logged
    for the board and export with the .tflite kept. Returns (Measurement, log entry)."""
    from .. import results
    tflite = tflite if tflite is not None else measure.to_tflite(model)
    m = measure.measure(name, d, model, tflite=tflite, runs=100, batch_runs=5)
    entry = results.record(technique, name, m, settings, lesson="06", key=f"06/{name}", data=d, artifact=tflite)
    return m, entry


def int4_weights(model) -> bytes:
    """The float32 .tflite of ``model`` with int4 weights (per channel) and float activations,
    quantized dynamically at run time: LiteRT Quantizer's ``dynamic_wi4_afp32`` recipe."""
    lq = _litert_quantizer()
    if lq is None:
        raise CapstoneError("litert-quantizer is not installed: `pip install -r requirements.txt` adds it.")
    from litert_quantizer import recipe

    quantized = lq.Quantizer(measure.to_tflite(model), recipe.dynamic_wi4_afp32())
    return bytes(quantized.quantize(enable_progress_report=False).quantized_model)


def finetune_epochs(d, min_steps: int = 200, at_least: int = 2) -> int:
    """Epochs of fine-tuning for pruning and clustering: ``at_least`` and ``min_steps`` steps."""
    return max(at_least, -(-min_steps // models.steps_per_epoch(len(d.x_train))))


def small_layers(model, share: float = 0.05) -> tuple[str, ...]:
    """Kernel layers holding under ``share`` of all kernel weights: pruning them saves almost nothing
    and costs the most (REFERENCE pitfall 8: the first conv and the output layer)."""
    sizes = {la.name: la.kernel.shape.num_elements() for la in measure.kernel_layers(model)}
    total = sum(sizes.values())
    return tuple(name for name, size in sizes.items() if size < share * total)


def build_student(teacher, widths=(4, 8), name: str = "student") -> keras.Model:
    """A smaller model for ``teacher``'s inputs and classes: stride-2 3x3 convs (``widths``) +
    Flatten + Dense logits for images (4,266 parameters for 28x28x1 and 10 classes), a 32-unit MLP
    for anything else. Flatten, not global average pooling: pooling a 7x7 map leaves the logits
    only ``widths[-1]`` numbers per image, and a 5k-parameter pooled student stayed ~15 pp under
    the teacher - below a linear model - where this one can match it (lesson 06, section 10)."""
    shape, classes = tuple(teacher.input_shape[1:]), teacher.output_shape[-1]
    layers = [keras.Input(shape)]
    if len(shape) in (2, 3):
        layers.append(keras.layers.Reshape((*shape[:2], shape[2] if len(shape) == 3 else 1)))
        layers += [keras.layers.Conv2D(w, 3, strides=2, padding="same", activation="relu") for w in widths]
        layers.append(keras.layers.Flatten())
    else:
        layers += [keras.layers.Flatten(), keras.layers.Dense(32, activation="relu")]
    layers.append(keras.layers.Dense(classes, name="logits"))
    return keras.Sequential(layers, name=name)


def teacher_logits(teacher, x, probabilities: bool) -> np.ndarray:
    """The teacher's logits for ``x``; for a teacher ending in a softmax, log-probabilities
    (logits up to a constant per image, which softmax ignores)."""
    if probabilities:
        probs = teacher.predict(x, batch_size=1000, verbose=0)
        return np.log(np.clip(probs, 1e-12, None)).astype(np.float32)
    return distiller.teacher_logits(teacher, x)


@dataclasses.dataclass
class Distilled:
    """What ``distil`` trained: the (T, alpha) grid scored on validation, the choice, and per seed
    the distilled student (at the choice) and the same student trained from scratch (the control)."""

    grid: dict[tuple[float, float], float]  # (temperature, alpha) -> validation accuracy, seed 0
    temperature: float
    alpha: float
    students: list  # one per seed, distilled at (temperature, alpha)
    scratches: list  # one per seed, labels only, same steps
    seeds: tuple[int, ...]


def _distilled_student(teacher, d, logits, epochs, temperature, alpha, seed):
    keras.utils.set_random_seed(seed)
    trainer = distiller.Distiller(build_student(teacher), alpha=alpha, temperature=temperature)
    trainer.compile(keras.optimizers.Adam(models.LEARNING_RATE))
    trainer.fit(d.x_train, {"labels": d.y_train, "teacher_logits": logits}, epochs=epochs,
                batch_size=models.BATCH_SIZE, verbose=0)  # fmt: skip
    return models.compile_model(trainer.student)


def distil(teacher, d, epochs: int, probabilities: bool = False, temperatures=(1.0, 4.0), alphas=(0.1, 0.5),
           seeds=(0, 1)) -> Distilled:  # fmt: skip
    """Distillation as lesson 03 teaches it: one student per (T, alpha) on seed 0, scored on
    ``d.x_val`` (never the test set); the best is kept, trained again on the other ``seeds``, and
    each seed gets a control - the same student from scratch on the labels, same steps.
    ``alpha`` weighs the hard-label loss (``distiller.Distiller``)."""
    logits = teacher_logits(teacher, d.x_train, probabilities)
    grid, trained = {}, {}
    for temperature in temperatures:
        for alpha in alphas:
            student = _distilled_student(teacher, d, logits, epochs, temperature, alpha, seeds[0])
            grid[(temperature, alpha)] = measure.keras_accuracy(student, d.x_val, d.y_val)
            trained[(temperature, alpha)] = student
            print(f"T={temperature:g}, alpha={alpha:g}: validation accuracy {grid[(temperature, alpha)]:.2%}")
    temperature, alpha = max(grid, key=lambda k: (grid[k], -k[0], k[1]))  # ties: the lower T, the more label weight
    students = [trained[(temperature, alpha)]]
    students += [_distilled_student(teacher, d, logits, epochs, temperature, alpha, seed) for seed in seeds[1:]]
    scratches = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        scratch = models.compile_model(build_student(teacher, name="student_scratch"))
        models.train(scratch, d, epochs, label=f"scratch seed {seed} ")
        scratches.append(scratch)
    return Distilled(grid, temperature, alpha, students, scratches, tuple(seeds))


def pick(entries: list[dict], baseline: dict, max_drop: float = 0.01, size_key: str = "tflite_bytes",
         classes: int | None = None, examples: int | None = None) -> dict:  # fmt: skip
    """The smallest entry (by ``size_key``: raw ``.tflite`` bytes by default - what a device stores;
    ``"tflite_gz"`` for a download) within ``max_drop`` of ``baseline``'s accuracy, the more accurate
    on a tie; the baseline itself if nothing compressed keeps that accuracy. With ``classes`` and
    ``examples`` (the test set's size), ``CapstoneError`` when the baseline is no better than
    guessing (``reader_data.below_chance``): nothing measured against it means anything."""
    accuracy = baseline["metrics"]["tflite_accuracy"]
    flag = reader_data.below_chance(accuracy, classes, examples or 0) if classes else None
    if flag:
        raise CapstoneError(flag)
    keep = [e for e in entries if e["metrics"]["tflite_accuracy"] >= accuracy - max_drop] or [baseline]
    return min(keep, key=lambda e: (e["metrics"][size_key], -e["metrics"]["tflite_accuracy"]))


# ----------------------------------------------------------------------------- exercise self-checks


def self_check_calibration(measurement) -> bool:
    """Exercise 2: a measurement of an int8 model calibrated on images scaled differently from
    the data should show a collapsed agreement with the Keras model."""
    from ..ui.verdict import unanswered, verdict

    if unanswered(measurement):
        return False
    if not isinstance(measurement, measure.Measurement) or measurement.agreement is None:
        return verdict(False, "Pass the Measurement that measure.measure(...) returned for your converted model.")
    if measurement.agreement >= conversion_check.MIN_AGREEMENT:
        return verdict(False, f"Agreement {measurement.agreement:.0%}: this one converted fine. Scale the calibration "
                               "images differently from the data (e.g. representative / 255).")  # fmt: skip
    if not any("scaled differently" in cause for cause in getattr(measurement, "causes", ())):
        named = "; ".join(getattr(measurement, "causes", ())) or "none recorded"
        return verdict(False, f"Agreement {measurement.agreement:.0%}, but the cause measure names is not the calibration "
                               f"({named}): this file disagrees for another reason (a lossy grid, say). Convert "
                               "to int8 with calibration images scaled differently from the data.")  # fmt: skip
    return verdict(True, f"Agreement {measurement.agreement:.0%}: the int8 input range was calibrated on other values "
                          "than the model sees, and measure flagged it.")  # fmt: skip


def self_check_rebuilt(original, rebuilt) -> bool:
    """Exercise 3: the rebuilt model is tf_keras and computes what the Keras 3 original computes."""
    from ..ui.verdict import unanswered, verdict

    if unanswered(rebuilt):
        return False
    if keras_compat.flavour(rebuilt) != "tf_keras":
        return verdict(False, "The rebuilt model is not a tf_keras model: use keras_compat.to_tf_keras(original).")
    x = np.random.default_rng(0).random((4, *rebuilt.input_shape[1:]), dtype=np.float32)
    same = np.allclose(rebuilt.predict(x, verbose=0), original.predict(x, verbose=0), atol=1e-5)
    return verdict(same, "Same outputs as the Keras 3 original: TF-MOT can take it now." if same else
                    "The outputs differ: were the weights copied (rebuilt.set_weights(original.get_weights()))?")  # fmt: skip
