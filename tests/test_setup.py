"""helpers.setup(): the first cell of every lesson, and the Keras 2 switch it relies on."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf
import tf_keras

import helpers
from helpers import data
from helpers.config import WorkbookConfigError


@pytest.fixture(autouse=True)
def undo_determinism():
    """setup() turns on op determinism process-wide; turn it back off for later tests."""
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    yield
    if not was_on:
        tf_config.disable_op_determinism()


def test_import_selects_keras_2():
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    assert tf.keras.Sequential is tf_keras.Sequential
    assert helpers.keras is tf_keras


def test_setup_prints_mode_versions_and_data(capsys, debian_copy, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    mode = helpers.setup()
    out = capsys.readouterr().out
    assert mode is helpers.config.FAST_MODE
    assert "mode: FAST (WORKBOOK_FAST=1)" in out and "seed 42" in out
    assert "tensorflow 2.21" in out and "tf_keras 2.21" in out
    assert "tfmot 0.8" in out and "ai-edge-litert" in out and "not installed" not in out
    assert "data: Fashion-MNIST from the Debian package dataset-fashion-mnist" in out


def test_setup_in_full_mode_with_another_seed(capsys, monkeypatch):
    monkeypatch.setenv("WORKBOOK_FAST", "0")
    mode = helpers.setup(seed=7)
    out = capsys.readouterr().out
    assert mode is helpers.config.FULL_MODE
    assert "mode: FULL (WORKBOOK_FAST=0)" in out and "all data" in out and "seed 7" in out


def test_setup_announces_the_offline_fallback(capsys, no_local_data):
    helpers.setup()
    out = capsys.readouterr().out
    assert "data: scikit-learn digits (offline fallback" in out


def test_setup_turns_on_op_determinism(capsys):
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()
    helpers.setup()
    assert tf_config.is_op_determinism_enabled()


def test_setup_fixes_the_seeds(capsys):
    helpers.setup(seed=3)
    a = tf.random.uniform((4,)).numpy()
    helpers.setup(seed=3)
    b = tf.random.uniform((4,)).numpy()
    assert (a == b).all()


def test_setup_rejects_an_unknown_mode(monkeypatch):
    monkeypatch.setenv("WORKBOOK_FAST", "maybe")
    with pytest.raises(WorkbookConfigError) as info:
        helpers.setup()
    assert "WORKBOOK_FAST='maybe'" in str(info.value) and "WORKBOOK_FAST=1" in str(info.value)
