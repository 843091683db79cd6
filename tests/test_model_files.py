"""helpers.your_model.model_files: a reader's model file is loaded in safe mode; code in it is refused with
what was found and how to opt in (issue 16). Every file is made here, small."""

from __future__ import annotations

import keras as keras3
import numpy as np
import pytest
import tf_keras as keras

from helpers import keras_compat
from helpers.your_model import model_files
from helpers.your_model.model_files import ModelFileError


@keras.utils.register_keras_serializable(package="reader")
class Twice(keras.layers.Layer):
    def call(self, x):
        return 2 * x


def small(*middle):
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), *middle, keras.layers.Dense(10)])


def save(model, tmp_path, name, fmt):
    path = tmp_path / (f"{name}.{fmt}" if fmt != "savedmodel" else f"{name}_savedmodel")
    model.save(path)
    return path


FORMATS = ["keras", "h5", "savedmodel"]
X = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_plain_model_loads_with_the_same_outputs(tmp_path, fmt):
    model = small(keras.layers.Dense(8, activation="relu"))
    loaded = model_files.load(save(model, tmp_path, "plain", fmt))
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambda_layers_are_refused_with_the_opt_in(tmp_path, fmt):
    path = save(small(keras.layers.Lambda(lambda x: x * 2)), tmp_path, "lam", fmt)
    with pytest.raises(ModelFileError, match="Lambda layer.*Python code.*trust=True"):
        model_files.load(path)
    assert model_files.load(path, trust=True).count_params() == 7850


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_classes_are_refused_unless_passed_knowingly(tmp_path, fmt):
    path = save(small(Twice()), tmp_path, "custom", fmt)
    with pytest.raises(ModelFileError, match="custom classes Twice.*custom_objects"):
        model_files.load(path)
    loaded = model_files.load(path, custom_objects={"Twice": Twice})
    assert any(type(layer).__name__ == "Twice" for layer in loaded.layers)


def test_a_keras3_file_is_loaded_safely_and_rebuilt_in_tf_keras(tmp_path):
    original = keras3.Sequential([keras3.Input((28, 28)), keras3.layers.Flatten(), keras3.layers.Dense(10)])
    path = tmp_path / "k3.keras"
    original.save(path)
    assert model_files.inspect_file(path)["keras_version"].startswith("3")
    loaded = model_files.load(path)
    assert keras_compat.flavour(loaded) == "tf_keras"
    np.testing.assert_allclose(loaded.predict(X, verbose=0), original.predict(X, verbose=0), atol=1e-6)


def test_a_keras3_lambda_is_refused_too(tmp_path):
    original = keras3.Sequential([keras3.Input((28, 28)), keras3.layers.Lambda(lambda x: x + 1), keras3.layers.Flatten()])
    path = tmp_path / "k3lam.keras"
    original.save(path)
    with pytest.raises(ModelFileError, match="Lambda"):
        model_files.load(path)


def test_missing_weights_only_and_unknown_files_say_what_to_do(tmp_path):
    with pytest.raises(ModelFileError, match="No model file"):
        model_files.load(tmp_path / "nope.keras")
    weights = tmp_path / "w.weights.h5"
    small().save_weights(weights)
    with pytest.raises(ModelFileError, match="weights only"):
        model_files.load(weights)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"\0")
    with pytest.raises(ModelFileError, match=r"\.keras, \.h5 or a SavedModel"):
        model_files.load(other)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="Could not read"):
        model_files.load(broken)


def test_a_keras3_functional_file_is_rebuilt_in_tf_keras(tmp_path):
    inputs = keras3.Input((28, 28))
    x = keras3.layers.Flatten()(inputs)
    h = keras3.layers.Dense(10)(x)
    original = keras3.Model(inputs, keras3.layers.Add()([h, keras3.layers.Dense(10)(x)]))
    path = tmp_path / "k3f.keras"
    original.save(path)
    loaded = model_files.load(path)
    assert keras_compat.flavour(loaded) == "tf_keras" and keras_compat.structure(loaded) == "functional"
    np.testing.assert_allclose(loaded.predict(X, verbose=0), original.predict(X, verbose=0), atol=1e-5)
