"""Lesson 06: a reader's data, checked on the way in.

``load_data`` reads an ``.npz`` (``x_train, y_train, x_test, y_test``, optionally ``x_val, y_val``
and ``class_names``) or an image folder (one subfolder per class, read by Keras'
``image_dataset_from_directory``) and refuses, with what to do, what would otherwise give a raw
numpy error or a quietly wrong number:

* labels given as class names (``"cat"``, ``"dog"``): mapped to class numbers in sorted order, the
  names kept as ``Dataset.class_names`` (and so in the model card); negative or fractional labels
  and one-hot rows are refused;
* NaN or infinite pixels, splits whose images have different shapes, and a test set scaled
  differently from the training set (0-255 vs 0-1);
* a test class the training set never shows;
* the validation split: stratified and seeded (``validation_split``), so a file sorted by class
  does not lose a whole class to validation, as "the last tenth" would.

``below_chance`` flags a float baseline that is no better than guessing (the reader's data in
another convention than the model's, most often).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tf_keras as keras

from .. import config, data, keras_compat

VALIDATION_FRACTION = 0.1
FAST_LIMITS = {"train": 10_000, "test": 2_000}


class CapstoneError(config.WorkbookError, ValueError):
    """Data or settings lesson 06 cannot work with; the message says what to change."""


class DataError(CapstoneError):
    """A reader's data the lesson cannot use as it is; the message says what to change."""


def _labels_as_numbers(arrays: dict, names: tuple[str, ...] | None) -> tuple[str, ...]:
    """Turn every ``y_*`` into int32 class numbers in place; return the class names."""
    splits = [k for k in ("y_train", "y_val", "y_test") if k in arrays]
    raw = {k: np.asarray(arrays[k]) for k in splits}
    if any(v.dtype.kind in "USO" for v in raw.values()):  # class names as labels
        flat = {k: v.reshape(len(v), -1)[:, 0] if v.ndim > 1 and v.shape[1:] == (1,) else v for k, v in raw.items()}
        if any(v.ndim != 1 for v in flat.values()):
            raise DataError("The labels hold text in more than one column; give one class name (or number) per example.")
        found = sorted({str(s) for v in flat.values() for s in v})
        names = tuple(names) if names is not None else tuple(found)
        unknown = sorted(set(found) - set(names))
        if unknown:
            raise DataError(f"Labels {unknown[:5]} are not among class_names {list(names)[:10]}.")
        index = {n: i for i, n in enumerate(names)}
        for k, v in flat.items():
            arrays[k] = np.array([index[str(s)] for s in v], dtype=np.int32)
        print(f"Labels are class names: mapped to numbers 0..{len(names) - 1} in sorted order ({', '.join(names[:10])}"
              + (", ..." if len(names) > 10 else "") + ").")  # fmt: skip
        return names
    for k, v in raw.items():
        try:
            arrays[k] = keras_compat.check_labels(v)
        except keras_compat.ModelError as exc:
            raise DataError(f"{k}: {exc}") from None
        if v.size and float(np.min(v)) < 0:
            raise DataError(
                f"{k} holds negative labels (down to {np.min(v):g}); the helpers take class numbers 0..classes-1. "
                "If -1 marks 'unlabelled', drop those examples first: `keep = y >= 0; x, y = x[keep], y[keep]`."
            )
    top = max(int(arrays[k].max()) for k in splits if arrays[k].size)
    return tuple(names) if names is not None else tuple(str(c) for c in range(top + 1))


def _check_images(arrays: dict) -> None:
    splits = [s for s in ("train", "val", "test") if f"x_{s}" in arrays]
    for s in splits:
        x = np.asarray(arrays[f"x_{s}"])
        if x.dtype.kind not in "biuf":
            raise DataError(f"x_{s} holds {x.dtype} values; give numbers (images as float or integer arrays).")
        x = x.astype(np.float32)
        bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1) if len(x) else np.zeros(0, bool)
        if bad.any():
            raise DataError(
                f"x_{s} has {int(bad.sum())} example(s) with NaN or infinite values (the first at index "
                f"{int(np.argmax(bad))}): training and every measurement would quietly turn to NaN. Drop or repair them: "
                "`keep = np.isfinite(x).reshape(len(x), -1).all(axis=1); x, y = x[keep], y[keep]`."
            )
        if len(x) != len(arrays[f"y_{s}"]):
            raise DataError(f"x_{s} holds {len(x):,} examples but y_{s} {len(arrays[f'y_{s}']):,} labels.")
        arrays[f"x_{s}"] = x
    shapes = {s: tuple(arrays[f"x_{s}"].shape[1:]) for s in splits}
    if len(set(shapes.values())) > 1:
        raise DataError(f"The splits' examples have different shapes {shapes}: give every split the same shape.")
    spans = {s: (float(arrays[f"x_{s}"].min()), float(arrays[f"x_{s}"].max())) for s in splits if arrays[f"x_{s}"].size}
    tops = [hi for _, hi in spans.values()]
    if tops and max(tops) > 1.5 and min(tops) > 0 and max(tops) > 10 * min(tops):
        raise DataError(
            "The splits are scaled differently: " + ", ".join(f"x_{s} spans [{lo:g}, {hi:g}]" for s, (lo, hi) in spans.items())
            + ". Scale them all the same way (e.g. every split divided by 255)."
        )


def validation_split(y: np.ndarray, fraction: float = VALIDATION_FRACTION, seed: int = 0) -> np.ndarray:
    """Indices of a stratified, seeded validation split: about ``fraction`` of every class (at least
    one example of each class that has two or more), so a class-sorted file keeps every class in training."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        take = min(len(where) - 1, max(1, round(fraction * len(where)))) if len(where) > 1 else 0
        picked.append(rng.permutation(where)[:take])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def load_data(source, *, image_size=(28, 28), grayscale: bool = True, scale: float = 1 / 255, mode=None, seed: int = 0):
    """A reader's data as a ``helpers.data.Dataset``, checked (see the module docstring; ``DataError``
    says what to change). ``source``: an ``.npz`` file (arrays used as stored) or a folder of images
    with one subfolder per class (80/20 train/test split, seed 0, pixels times ``scale``). Without
    ``x_val``, a stratified validation split (``seed``) of a tenth of every class is held out of the
    training images. In fast mode at most 10,000 training and 2,000 test examples are used."""
    mode = mode or config.current_mode()
    path = Path(source)
    names = None
    if path.is_dir():
        arrays, names = _image_folder(path, image_size, grayscale, scale)
    elif path.suffix == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as npz:  # no pickles: an .npz from elsewhere cannot run code
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in npz]
            if missing:
                raise DataError(f"{path.name} lacks {missing}; it needs x_train, y_train, x_test, y_test.")
            arrays = {k: npz[k] for k in npz.files}
        if "class_names" in arrays:
            names = tuple(str(n) for n in arrays.pop("class_names"))
    else:
        raise DataError(
            f"{source!r}: give an .npz file (x_train, y_train, x_test, y_test) or a folder with one subfolder of "
            "images per class."
        )
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"{path.name} has only one of x_val and y_val: give both or neither.")
    names = _labels_as_numbers(arrays, names)
    _check_images(arrays)
    unseen = sorted(set(np.unique(arrays["y_test"])) - set(np.unique(arrays["y_train"])))
    if unseen:
        raise DataError(f"The test set has classes {[names[c] for c in unseen]} that the training set never shows.")
    if mode.fast:
        for split, limit in FAST_LIMITS.items():
            keep = data.balanced_subset(arrays[f"y_{split}"], max(1, limit // len(names)))
            arrays[f"x_{split}"], arrays[f"y_{split}"] = arrays[f"x_{split}"][keep], arrays[f"y_{split}"][keep]
    if "x_val" not in arrays:  # choices look at validation, never at the test set
        val = validation_split(arrays["y_train"], seed=seed)
        train = np.setdiff1d(np.arange(len(arrays["y_train"])), val)
        arrays["x_val"], arrays["y_val"] = arrays["x_train"][val], arrays["y_train"][val]
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][train], arrays["y_train"][train]
    return data.Dataset(
        "your data", str(path.name), mode.name, arrays["x_train"], arrays["y_train"], arrays["x_test"],
        arrays["y_test"], names, arrays["x_val"], arrays["y_val"],
    )  # fmt: skip


def _image_folder(path: Path, image_size, grayscale: bool, scale: float):
    kwargs = dict(image_size=tuple(image_size), color_mode="grayscale" if grayscale else "rgb", batch_size=None,
                  seed=0, validation_split=0.2, subset="both", label_mode="int")  # fmt: skip
    try:
        train, test = keras.utils.image_dataset_from_directory(path, **kwargs)
    except ValueError as exc:
        raise DataError(f"Keras could not read images from {path}: {exc}") from None
    names = tuple(train.class_names)

    def arrays(ds):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True) if ds.cardinality() else ((), ())
        x = np.stack(xs).astype(np.float32) * scale if xs else np.zeros((0, *image_size), np.float32)
        return (x[..., 0] if grayscale else x), np.asarray(ys, dtype=np.int32)

    (x_train, y_train), (x_test, y_test) = arrays(train), arrays(test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, names


def below_chance(accuracy: float, classes: int, examples: int) -> str | None:
    """A message when ``accuracy`` on ``examples`` test examples of ``classes`` classes is no better
    than guessing (at most 1/classes plus two standard errors of a guesser, sqrt(p(1-p)/n)); else None."""
    chance = 1 / classes
    line = chance + 2 * math.sqrt(chance * (1 - chance) / max(1, examples))
    if accuracy > line:
        return None
    return (
        f"The float baseline scores {accuracy:.1%} on {classes} classes: no better than guessing ({chance:.1%}, "
        f"noise up to {line:.1%}). Every compressed model measured against it means nothing. Most often the data "
        "is in another convention than the model was trained on: pixels 0-255 vs 0-1, another class order, "
        "channels first vs last. Fix the data (or the model) before compressing."
    )
