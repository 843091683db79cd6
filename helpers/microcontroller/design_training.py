"""Lesson 05, "Design for the budget": training a device-sized CNN well, and the width search.

* ``Recipe``: what the lesson's research found worth its time (cosine learning-rate schedule with a
  one-epoch warm-up, BatchNorm folded at conversion, light augmentation: random shifts of one
  pixel); ``train`` runs it with one printed line per epoch.
* ``trained``: the winner's weights from ``data/cache/models`` (keyed by design, recipe, data and
  seed) or trained now, as ``models.baseline`` does for the baselines.
* ``search``: every candidate of a space whose *estimated* flash and arena fit, each trained briefly
  and measured (opt-in: minutes per candidate); the lesson shows the precomputed run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings

import numpy as np

from .. import config, keras, models
from . import designs


@dataclasses.dataclass(frozen=True)
class Recipe:
    epochs: int = 15
    learning_rate: float = 3e-3  # peak, reached after ``warmup_epochs``; cosine decay to 0 afterwards
    schedule: str = "cosine"  # or "constant"
    warmup_epochs: int = 1
    shift: int = 1  # random translation by up to this many pixels (0: no augmentation)
    flip: bool = False  # random horizontal flips
    batch_norm: bool = True
    batch_size: int = 128

    def __post_init__(self):
        if self.schedule not in ("cosine", "constant"):
            raise designs.DesignError(f"schedule must be 'cosine' or 'constant', not {self.schedule!r}.")
        if self.epochs < 1 or self.warmup_epochs < 0 or self.shift < 0 or self.learning_rate <= 0:
            raise designs.DesignError(f"Recipe needs epochs ≥ 1, warm-up ≥ 0, shift ≥ 0, learning rate > 0: {self}.")

    def short(self) -> str:
        parts = [f"{self.epochs} ep", f"{self.schedule} lr {self.learning_rate:g}"]
        parts += ["BN" if self.batch_norm else "no BN", f"shift ±{self.shift}px" if self.shift else "no shift"]
        return ", ".join(parts + (["flips"] if self.flip else []))


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """A constant rate, or a linear warm-up from a tenth of the peak followed by cosine decay to 0
    (Loshchilov & Hutter, SGDR, ICLR 2017; warm-up: Goyal et al. 2017)."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
    warm = recipe.warmup_epochs * steps_per_epoch
    total = recipe.epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate / 10 if warm else recipe.learning_rate, max(1, total - warm),
        warmup_target=recipe.learning_rate if warm else None, warmup_steps=warm)


def batches(x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int = 0):
    """A shuffled tf.data pipeline of (n, 28, 28, 1) images with the recipe's augmentation."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((designs.images(x), np.asarray(y))).shuffle(len(x), seed=seed)
    pad = recipe.shift

    def augment(img, label):
        if recipe.flip:
            img = tf.image.random_flip_left_right(img)
        if pad:
            img = tf.image.pad_to_bounding_box(img, pad, pad, 28 + 2 * pad, 28 + 2 * pad)
            img = tf.image.random_crop(img, (28, 28, 1))
        return img, label

    if pad or recipe.flip:
        ds = ds.map(augment, num_parallel_calls=2)
    return ds.batch(recipe.batch_size).prefetch(2)


def train(model, data, recipe: Recipe, label: str = "") -> dict:
    """Compile ``model`` (Adam, the recipe's schedule, cross-entropy on logits) and fit it on
    ``data``'s training images; one printed line per epoch. Returns the history."""
    steps = math.ceil(len(data.x_train) / recipe.batch_size)
    model.compile(keras.optimizers.Adam(learning_rate(recipe, steps)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(batches(data.x_train, data.y_train, recipe), epochs=recipe.epochs, verbose=0,
                        callbacks=[models.EpochLine(label)])
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _key(design, recipe: Recipe, data, seed: int) -> str:
    text = json.dumps([designs.parse(design).spec, dataclasses.asdict(recipe), data.fingerprint, seed,
                       keras.__version__], sort_keys=True)
    return "device-" + hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclasses.dataclass
class Trained:
    model: object
    history: dict
    fit_seconds: float
    from_cache: bool


def trained(design, data, recipe: Recipe, seed: int = models.DEFAULT_SEED, retrain: bool = False) -> Trained:
    """``design`` trained with ``recipe`` on ``data``: from data/cache/models when it was trained
    before with exactly these settings (and this data), else trained now and kept there."""
    key = _key(design, recipe, data, seed)
    folder = config.cache_dir() / "models"
    path, meta_path = folder / f"{key}.weights.h5", folder / f"{key}.json"
    keras.utils.set_random_seed(seed)
    model = designs.build(design, recipe.batch_norm, seed)
    if not retrain and path.is_file() and meta_path.is_file():
        try:
            model.load_weights(path)
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            return Trained(model, meta.get("history", {}), float(meta.get("fit_seconds", 0.0)), True)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file costs a retrain, never the lesson
            warnings.warn(f"Could not read {config.display_path(path)} ({exc}); training again.", stacklevel=2)
            model = designs.build(design, recipe.batch_norm, seed)
    start = time.perf_counter()
    history = train(model, data, recipe, label=f"{designs.parse(design).spec}: ")
    seconds = round(time.perf_counter() - start, 1)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        model.save_weights(path)
        config.write_atomic(meta_path, json.dumps({"history": history, "fit_seconds": seconds,
                                                   "design": designs.parse(design).spec,
                                                   "recipe": dataclasses.asdict(recipe)}).encode())
    except OSError as exc:
        warnings.warn(f"Could not keep the trained model in {config.display_path(folder)} ({exc}).", stacklevel=2)
    return Trained(model, history, seconds, False)


SEARCH_RECIPE = Recipe(epochs=4)  # short: ranks candidates; the winner is then trained with Recipe()


def search(data, flash_budget: int, arena_budget: int, top: int = 6, recipe: Recipe = SEARCH_RECIPE,
           space: dict | None = None, measure_arena=None, headroom: float = 0.05) -> list[dict]:
    """Train the ``top`` candidates (most parameters first) whose *estimated* flash and arena fit
    with ``headroom`` to spare (the estimator's tolerance: a design it puts 1 % under a budget may
    be over it), each with the short ``recipe``; convert to int8 and measure what they really need. Returns one
    dict per candidate: design, parameters, estimated and measured flash/arena, LiteRT int8 accuracy
    on ``data``'s test set, seconds. ``measure_arena(blob) -> int`` defaults to TFLM's smallest arena.
    Minutes per candidate in full mode: the lesson shows a precomputed run."""
    from .. import measure
    from . import tflm
    measure_arena = measure_arena or (lambda blob: tflm.smallest_arena(blob).bytes)
    flash_cap, arena_cap = int(flash_budget * (1 - headroom)), int(arena_budget * (1 - headroom))
    fits = [e for e in designs.screen(flash_cap, arena_cap, space) if e.fits(flash_cap, arena_cap)]
    rows = []
    for e in fits[:top]:
        start = time.perf_counter()
        keras.utils.set_random_seed(models.DEFAULT_SEED)
        model = designs.build(e.design, recipe.batch_norm)
        train(model, data, recipe, label=f"{e.design}: ")
        blob = designs.to_int8(model, data.x_train[:1000])
        rows.append({"design": e.design, "parameters": e.parameters, "est_flash": e.flash, "est_arena": e.arena,
                     "flash": len(blob), "arena": int(measure_arena(blob)),
                     "accuracy": float(measure.tflite_accuracy(blob, designs.images(data.x_test), data.y_test)),
                     "seconds": round(time.perf_counter() - start, 1), "blob": blob})
    return rows


def record_search(rows: list[dict], data) -> None:
    """Log each searched candidate (key ``05/search/<design>``; no model file, so the fit explorer
    does not list these short-trained models); ``tools/precompute.py 05`` commits them."""
    from .. import results
    for r in rows:
        metrics = {**{k: v for k, v in r.items() if k not in ("design", "blob")}, "tflite_accuracy": r["accuracy"]}
        results.record("design search", f"search: {r['design']}", metrics, {"recipe": SEARCH_RECIPE.short()},
                       lesson="05", key=f"05/search/{r['design']}", data=data)


def searched(data=None) -> tuple[list[dict], bool]:
    """The search's rows, most accurate first: from your results log when you ran it (this data set
    and mode), else from the committed full-mode reference (second value True)."""
    from .. import precomputed, results
    def rows(entries):
        found = [{"design": e["name"].removeprefix("search: "), **e.get("metrics", {})} for e in entries
                 if str(e.get("key", "")).startswith("05/search/")]
        return sorted(found, key=lambda r: -r.get("accuracy", 0))

    mine = rows(results.load(data=data)) if data is not None else []
    if mine:
        return mine, False
    ref = precomputed.load("05")
    return rows(ref.entries if ref is not None else []), True


def reference_metrics(key: str) -> dict:
    """The metrics of the committed full-mode entry ``key`` of lesson 05 (data/precomputed/), for
    figures that need TFLM where it is missing. Raises DesignError when the reference lacks it."""
    from .. import precomputed
    ref = precomputed.load("05")
    entry = next((e for e in (ref.entries if ref is not None else []) if e.get("key") == key), None)
    if entry is None:
        raise designs.DesignError(f"No {key!r} in data/precomputed/05_microcontroller.json: run lesson 05 in full "
                                       "mode on Linux x86-64 (with tflite-micro), then tools/precompute.py 05.")
    return dict(entry.get("metrics", {}))


def record_ablation(name: str, change: str, recipe: Recipe, design: str, accuracy: float,
                    train_accuracy: float, data, runtime: str = "TFLM") -> None:
    """Log one run of the recipe ablation (key ``05/ablation/<name>``; committed by tools/precompute.py 05):
    ``accuracy`` is stored as ``tflm_accuracy`` when ``runtime`` is "TFLM", else as ``tflite_accuracy`` (LiteRT's)."""
    from .. import results
    field = "tflm_accuracy" if runtime == "TFLM" else "tflite_accuracy"
    results.record("design ablation", f"ablation: {name}", {field: accuracy, "train_accuracy": train_accuracy},
                   {"change": change, "design": design, "recipe": dataclasses.asdict(recipe), "runtime": runtime},
                   lesson="05", key=f"05/ablation/{name}", data=data)


def ablation_rows(data=None) -> tuple[list[dict], bool]:
    """The ablation runs, the full recipe first: the committed full-mode reference (Fashion-MNIST,
    full mode: used only when ``data`` is that too), each run replaced by yours where your results log
    (``data``'s set and mode) holds it; second value: any row is the reference's. Each row has
    ``accuracy`` (TFLM's, else LiteRT's) and ``runtime``."""
    from .. import precomputed, results
    def rows(entries):
        found = []
        for e in entries:
            if not str(e.get("key", "")).startswith("05/ablation/"):
                continue
            m, s = e.get("metrics", {}), e.get("settings", {})
            tflm_acc = m.get("tflm_accuracy")
            found.append({"name": e["name"].removeprefix("ablation: "), "change": s.get("change", ""),
                          "epochs": s.get("recipe", {}).get("epochs"), "train_accuracy": m.get("train_accuracy"),
                          "accuracy": tflm_acc if tflm_acc is not None else m.get("tflite_accuracy"),
                          "runtime": "TFLM" if tflm_acc is not None else "LiteRT"})
        return found

    ref = precomputed.load("05")
    same_data = data is None or (getattr(data, "name", None) == precomputed.DATA and getattr(data, "mode", None) == "full")
    merged = {r["name"]: {**r, "reference": True} for r in rows(ref.entries if ref is not None and same_data else [])}
    merged.update({r["name"]: r for r in (rows(results.load(data=data)) if data is not None else [])})
    found = sorted(merged.values(), key=lambda r: (r["name"] != "recipe", -(r.get("accuracy") or 0)))
    return found, any(r.get("reference") for r in found)


def estimator_arenas(design_names, images: np.ndarray) -> dict:
    """``{design: smallest TFLM arena in bytes}`` of each design as an untrained int8 file (the arena
    depends on the graph, not the weights' values): what lesson 05 checks its estimator against.
    Needs TFLM. Kept by ``tools/precompute.py 05`` as the sweep ``estimator`` - never logged as
    results-log entries (an untrained model is no experiment to put on a device)."""
    from . import tflm
    return {d: int(tflm.smallest_arena(designs.untrained_int8(d, images)).bytes) for d in design_names}


def reference_estimator_arena(design: str) -> int:
    """The TFLM arena of the untrained ``design`` from the committed reference (the ``estimator``
    sweep; an older reference kept it as the entry ``05/estimator/<design>``). Raises DesignError when absent."""
    from .. import precomputed
    ref = precomputed.load("05")
    arena = ((ref.sweeps.get("estimator") or {}).get("arena") or {}).get(design) if ref is not None else None
    if isinstance(arena, int):
        return arena
    return int(reference_metrics(f"05/estimator/{design}")["estimator_arena"])
