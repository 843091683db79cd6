"""Lesson 05's recipe ablation: every row of the table is trained by :func:`run` (no constants).

Each variant is the lesson's recipe with one ingredient removed or changed (or all of them, the
"starting point"), trained on the same design (or the GAP-head design), converted to int8 and
measured like the winner: TFLM's accuracy where TFLM is installed, else LiteRT's (they agree on
int8 models within 0.1 pp, section 3). :func:`run` logs each as ``05/ablation/<name>``;
``tools/precompute.py 05`` commits them, and the lesson shows those rows, marked, unless you run
them yourself (``RUN_ABLATION = True``, about a minute per variant in full mode).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import design_training, designs, tflm, tflm_run

GAP_DESIGN = "c16s2 c32s2 c64s1 gap"


def variants(recipe: design_training.Recipe, design: str) -> dict[str, tuple[str, str, design_training.Recipe]]:
    """``{name: (what changed, design, recipe)}``: the recipe itself first, then each change.
    The epochs follow ``recipe`` (15 in full mode); "starting point" trains 4/5 as long, as the
    plain training it stands for (constant Adam 2e-3, 12 epochs, no BatchNorm, no shifts: none of the
    training tricks this lesson adds)."""
    r = recipe
    replace = dataclasses.replace
    return {
        "recipe": ("the recipe above", design, r),
        "constant learning rate": (f"constant {r.learning_rate:g}: no warm-up, no cosine decay", design,
                                   replace(r, schedule="constant", warmup_epochs=0)),
        "no BatchNorm": ("no BatchNorm (convolutions with biases)", design, replace(r, batch_norm=False)),
        "no augmentation": ("no random shifts", design, replace(r, shift=0)),
        "GAP head": (f"design {GAP_DESIGN} (7×7 map averaged) instead of flatten", GAP_DESIGN, r),
        "GAP head, more augmentation": (f"design {GAP_DESIGN}, shifts ±2 px + horizontal flips", GAP_DESIGN,
                                        replace(r, shift=2, flip=True)),
        "starting point": ("none of it: no BatchNorm, no shifts, constant Adam 2e-3, 4/5 of the epochs "
                           "(plain training)", design,
                           replace(r, batch_norm=False, shift=0, schedule="constant", warmup_epochs=0,
                                   learning_rate=2e-3, epochs=max(1, round(r.epochs * 0.8)))),
    }


def measure_int8(model, data) -> tuple[float, str]:
    """(int8 accuracy on the whole test set, runtime): TFLM's where installed, else LiteRT's."""
    from .. import measure
    blob = designs.to_int8(model, data.x_train[:1000])
    x = designs.images(data.x_test)
    if tflm.available():
        predicted = tflm_run.tflm_predict(blob, x, tflm.smallest_arena(blob).bytes)
        return float(np.mean(np.argmax(predicted, 1) == data.y_test)), "TFLM"
    return float(measure.tflite_accuracy(blob, x, data.y_test)), "LiteRT"


def run(data, recipe: design_training.Recipe, design: str, names=None, record: bool = True) -> list[dict]:
    """Train every variant (or those in ``names``), measure it in int8 and log it (``record``).
    Returns rows ``{name, change, epochs, accuracy, runtime, train_accuracy}``. Raises DesignError
    for a name that is not a variant."""
    table = variants(recipe, design)
    unknown = set(names or ()) - set(table)
    if unknown:
        raise designs.DesignError(f"No ablation variant {sorted(unknown)}: choose from {list(table)}.")
    rows = []
    for name in names or table:
        change, d, r = table[name]
        t = design_training.trained(d, data, r)
        accuracy, runtime = measure_int8(t.model, data)
        train_accuracy = float(t.history["accuracy"][-1])
        if record:
            design_training.record_ablation(name, change, r, d, accuracy, train_accuracy, data, runtime=runtime)
        rows.append({"name": name, "change": change, "epochs": r.epochs, "accuracy": accuracy, "runtime": runtime,
                     "train_accuracy": train_accuracy})
    return rows
