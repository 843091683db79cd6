"""Readers' data in lesson 06 (issue 24): class names as labels, NaN/inf pixels, negative labels,
splits scaled differently, a class-sorted file, and a baseline below chance. Every file is made here."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import config
from helpers.your_model import compress, reader_data
from helpers.your_model.reader_data import DataError


def arrays(n_train=200, n_test=60, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    y_train, y_test = np.sort(np.arange(n_train) % classes), np.arange(n_test) % classes  # y_train sorted by class
    return rng.random((n_train, 8, 8), dtype=np.float32), y_train, rng.random((n_test, 8, 8), dtype=np.float32), y_test


def save(tmp_path, name="d.npz", **overrides):
    x_train, y_train, x_test, y_test = arrays()
    values = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, **overrides}
    np.savez(tmp_path / name, **values)
    return tmp_path / name


def test_class_names_as_labels_become_numbers_and_the_names_are_kept(tmp_path):
    """Wrong behaviour rejected: numpy's raw UFuncTypeError on string labels."""
    names = np.array(["cat", "dog", "eel", "fox", "gnu"])
    _, y_train, _, y_test = arrays()
    loaded = compress.load_data(save(tmp_path, y_train=names[y_train], y_test=names[y_test]), mode=config.FULL_MODE)
    assert loaded.class_names == tuple(names)
    assert loaded.y_test.dtype == np.int32 and np.array_equal(loaded.y_test, y_test)


@pytest.mark.parametrize("split", ["x_train", "x_test"])
def test_nan_or_infinite_pixels_are_refused(tmp_path, split):
    x = arrays()[0 if split == "x_train" else 2].copy()
    x[3, 0, 0] = np.inf
    with pytest.raises(DataError, match=rf"{split} has 1 example.*NaN or infinite.*index 3"):
        compress.load_data(save(tmp_path, **{split: x}), mode=config.FULL_MODE)


def test_negative_labels_are_refused_with_the_way_out(tmp_path):
    y = arrays()[1].copy()
    y[0] = -1
    with pytest.raises(DataError, match="negative labels.*keep = y >= 0"):
        compress.load_data(save(tmp_path, y_train=y), mode=config.FULL_MODE)


def test_splits_scaled_differently_or_shaped_differently_are_refused(tmp_path):
    x_test = arrays()[2] * 255
    with pytest.raises(DataError, match="scaled differently"):
        compress.load_data(save(tmp_path, x_test=x_test), mode=config.FULL_MODE)
    with pytest.raises(DataError, match="different shapes"):
        compress.load_data(save(tmp_path, x_test=arrays()[2][:, :7]), mode=config.FULL_MODE)


def test_a_class_sorted_file_keeps_every_class_in_training_and_validation(tmp_path):
    """Wrong behaviour rejected: validation = the last tenth of a class-sorted x_train, i.e. one
    class that training never sees."""
    loaded = compress.load_data(save(tmp_path), mode=config.FULL_MODE)
    assert set(np.unique(loaded.y_train)) == set(range(5)) == set(np.unique(loaded.y_val))
    assert np.bincount(loaded.y_val).tolist() == [4] * 5 and len(loaded.x_train) == 180
    again = compress.load_data(save(tmp_path, "again.npz"), mode=config.FULL_MODE)
    assert np.array_equal(again.x_val, loaded.x_val)  # seeded


def test_a_baseline_below_chance_is_flagged_and_pick_refuses_to_export_against_it():
    """Wrong behaviour rejected: a 3.3 % baseline on ten classes raising no flag, and pick then
    exporting a 28 % student as the best model."""
    assert reader_data.below_chance(0.033, 10, 2000) and "another convention" in reader_data.below_chance(0.033, 10, 2000)
    assert reader_data.below_chance(0.11, 10, 2000)  # within noise of guessing (10 % +- 1.3 pp)
    assert reader_data.below_chance(0.80, 10, 2000) is None
    entry = lambda name, acc, size: {"name": name, "metrics": {"tflite_accuracy": acc, "tflite_bytes": size, "tflite_gz": size}}  # noqa: E731
    base = entry("float", 0.033, 80_000)
    with pytest.raises(config.WorkbookError, match="no better than guessing"):
        compress.pick([entry("student", 0.28, 5_000)], base, classes=10, examples=2000)
