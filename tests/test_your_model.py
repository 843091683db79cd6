"""helpers.your_model.compress (lesson 06): a reader's data, the checks per technique, the recipes' pieces."""

from __future__ import annotations

import keras as keras3
import numpy as np
import pytest
import tf_keras as keras
from PIL import Image

from helpers import config, data
from helpers.your_model import compress
from helpers.your_model.compress import CapstoneError


def tiny_data(n=200, n_test=60, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.int32)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.3
    x[np.arange(n), y, y] += 1.0
    yt = (np.arange(n_test) % 10).astype(np.int32)
    xt = rng.random((n_test, 28, 28), dtype=np.float32) * 0.3
    xt[np.arange(n_test), yt, yt] += 1.0
    return data.Dataset("fashion_mnist", "test", "fast", x, y, xt, yt, data.FASHION_CLASSES, xt[:20], yt[:20])


def test_shipped_architecture_has_batchnorm_and_a_skip_connection():
    model = compress.build_shipped()
    kinds = {type(la).__name__ for la in model.layers}
    assert {"BatchNormalization", "Add", "GlobalAveragePooling2D"} <= kinds
    assert model.count_params() == 21_922 and model.output_shape == (None, 10)


def test_check_passes_the_shipped_model_and_names_what_2_4_cannot_group():
    checks = compress.check(compress.build_shipped(), tiny_data())
    assert all(checks.applies(r) for r in compress.RECIPES)
    assert "stem" in dict((c, f) for c, f, _ in checks.rows)["2:4 sparsity"]
    assert "✓ recipe: int8 PTQ" in repr(checks) and "<table>" in checks._repr_html_()


def test_check_says_why_recipes_cannot_apply():
    keras3_model = keras3.Sequential([keras3.Input((28, 28)), keras3.layers.Flatten(), keras3.layers.Dense(10)])
    blocked = compress.check(keras3_model, tiny_data()).blocked
    assert all("tf_keras" in why for why in blocked.values())

    wrong_shape = keras.Sequential([keras.Input((32, 32)), keras.layers.Flatten(), keras.layers.Dense(10)])
    checks = compress.check(wrong_shape, tiny_data())
    assert not any(checks.applies(r) for r in compress.RECIPES)
    assert "takes (32, 32)" in dict((c, f) for c, f, _ in checks.rows)["input shape vs data"]

    layernorm = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.LayerNormalization(name="ln"),
                                  keras.layers.Dense(10, activation="softmax")])  # fmt: skip
    checks = compress.check(layernorm, tiny_data(), distil=False)
    rows = dict((c, f) for c, f, _ in checks.rows)
    assert "ln" in rows["8-bit QAT (quantize_model)"] and checks.probabilities
    assert checks.applies("pruning + fine-tune") and not checks.applies("distillation")


def test_npz_data_is_read_checked_and_split(tmp_path, monkeypatch):
    d = tiny_data()
    np.savez(tmp_path / "mine.npz", x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    loaded = compress.load_data(tmp_path / "mine.npz", mode=config.FULL_MODE)
    assert loaded.name == "your data" and len(loaded.x_val) == 20 and len(loaded.x_train) == 180
    np.savez(tmp_path / "onehot.npz", x_train=d.x_train, y_train=np.eye(10)[d.y_train], x_test=d.x_test, y_test=d.y_test)
    with pytest.raises(Exception, match="one-hot"):
        compress.load_data(tmp_path / "onehot.npz")
    np.savez(tmp_path / "partial.npz", x_train=d.x_train)
    with pytest.raises(CapstoneError, match="lacks"):
        compress.load_data(tmp_path / "partial.npz")


def test_image_folder_is_read_through_keras(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    loaded = compress.load_data(tmp_path, mode=config.FULL_MODE)
    assert loaded.class_names == ("cat", "dog") and loaded.x_train.shape[1:] == (28, 28)
    assert len(loaded.x_train) + len(loaded.x_val) + len(loaded.x_test) == 20
    assert 0 <= loaded.x_test.min() and loaded.x_test.max() <= 1


def test_student_is_smaller_and_pick_takes_the_smallest_within_the_drop():
    teacher = compress.build_shipped()
    assert teacher.count_params() / compress.build_student(teacher).count_params() > 4
    entry = lambda name, acc, size: {"name": name, "metrics": {"tflite_accuracy": acc, "tflite_bytes": size}}  # noqa: E731
    base = entry("float", 0.85, 80_000)
    picked = compress.pick([entry("a", 0.845, 20_000), entry("b", 0.80, 5_000), entry("c", 0.86, 30_000)], base)
    assert picked["name"] == "a"
    assert compress.pick([entry("b", 0.80, 5_000)], base)["name"] == "float"


def test_small_layers_and_probabilities_as_teacher_logits():
    model = compress.build_shipped()
    assert compress.small_layers(model) == ("stem", "logits")
    probs_teacher = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    logits = compress.teacher_logits(probs_teacher, x, probabilities=True)
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, rtol=1e-5)  # log-probabilities


def test_distil_chooses_t_and_alpha_on_validation_and_trains_a_control_per_seed(monkeypatch):
    """Wrong behaviour rejected: T and alpha fixed (or chosen on the test set), one seed deciding."""
    d = tiny_data()
    teacher = compress.build_shipped()
    scored = []
    real = compress.measure.keras_accuracy
    monkeypatch.setattr(compress.measure, "keras_accuracy", lambda m, x, y: scored.append(len(x)) or real(m, x, y))
    run = compress.distil(teacher, d, epochs=1, temperatures=(1.0, 4.0), alphas=(0.5,), seeds=(0, 1))
    assert set(run.grid) == {(1.0, 0.5), (4.0, 0.5)} and (run.temperature, run.alpha) in run.grid
    assert scored == [len(d.x_val)] * 2  # every choice looked at validation only
    assert len(run.students) == len(run.scratches) == 2 and run.students[0] is not run.students[1]
    assert run.students[0].count_params() == run.scratches[0].count_params()


def test_check_offers_channel_pruning_or_names_the_layer_that_stops_it():
    checks = compress.check(compress.build_shipped(), tiny_data())
    assert checks.applies("structured pruning (channels)")  # BatchNorm and the residual Add are no obstacle

    class Scale(keras.layers.Layer):  # a custom layer on prunable channels: the graph pruner cannot see inside
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((28, 28))
    x = keras.layers.Reshape((28, 28, 1))(inputs)
    x = keras.layers.Conv2D(8, 3, name="conv")(x)
    x = Scale(name="doubler")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    custom = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))
    why = compress.check(custom, tiny_data()).blocked["structured pruning (channels)"]
    assert why is not None and "'doubler'" in why and "keep=" in why

    linear = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    why = compress.check(linear, tiny_data()).blocked["structured pruning (channels)"]
    assert why is not None and "no channel group" in why  # the only layer's outputs are the classes
