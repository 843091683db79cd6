"""Models readers bring (issue 24): architectures nobody on this project wrote get a recipe that
works or a ``WorkbookError`` naming the layer (name and type) and the way out - never a raw error.
Every model is built here, small (weights=None, small inputs)."""

from __future__ import annotations

import pickle
import sys
import zipfile

import keras as keras3
import numpy as np
import pytest
import tf_keras as keras

from helpers import config, data, keras_compat
from helpers.combining import clustering
from helpers.your_model import compress, model_files
from helpers.your_model.model_files import ModelFileError


def rgb_data(n=20, size=32, classes=10):
    rng = np.random.default_rng(0)
    x, y = rng.random((n, size, size, 3), dtype=np.float32), (np.arange(n) % classes).astype(np.int32)
    return data.Dataset("t", "t", "fast", x, y, x, y, tuple(map(str, range(classes))), x, y)


@pytest.fixture(scope="module")
def mobilenet_v3():
    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10)


def test_mobilenet_v3_check_says_which_layer_stops_clustering_and_shows_a_cross(mobilenet_v3):
    """Wrong behaviour rejected: a raw AttributeError from tf_keras' clone_model ("'list' object has
    no attribute 'dtype'"), or a ✓ in front of a row that reports a problem."""
    found = compress.check(mobilenet_v3, rgb_data())
    why = found.blocked["clustering"]
    assert why and "tf.__operators__.add (type TFOpLambda)" in why and "Ways out" in why
    assert found.applies("int8 PTQ") and found.applies("pruning + fine-tune")
    qat_row = next(line for line in repr(found).splitlines() if "8-bit QAT" in line)
    assert qat_row.startswith("✗"), qat_row


def test_clustering_a_model_with_a_tfoplambda_raises_a_workbook_error(mobilenet_v3):
    with pytest.raises(config.WorkbookError, match=r"layer tf\.__operators__\.add \(type TFOpLambda\).*built-in layer"):
        clustering.cluster(mobilenet_v3, rgb_data(), 4, epochs=0)


def _keras3_attention(vit: bool):
    if vit:
        inputs = keras3.Input((16, 16, 1))
        x = keras3.layers.Reshape((16, 8))(keras3.layers.Conv2D(8, 4, strides=4)(inputs))
        x = keras3.layers.LayerNormalization()(x)
    else:
        inputs = keras3.Input((12,), dtype="int32")
        x = keras3.layers.Embedding(50, 8)(inputs)
    x = keras3.layers.Add()([x, keras3.layers.MultiHeadAttention(2, 4)(x, x)])
    return keras3.Model(inputs, keras3.layers.Dense(3)(keras3.layers.GlobalAveragePooling1D()(x)))


@pytest.mark.parametrize("vit", [False, True], ids=["text transformer", "small ViT"])
def test_keras3_multi_head_attention_files_load_and_rebuild_with_the_same_outputs(tmp_path, vit):
    """Wrong behaviour rejected: KeyError 'query_shape' (tf_keras' MultiHeadAttention.from_config)."""
    model = _keras3_attention(vit)
    model.save(tmp_path / "att.keras")
    loaded = model_files.load(tmp_path / "att.keras")
    assert keras_compat.flavour(loaded) == "tf_keras"
    rng = np.random.default_rng(0)
    x = rng.random((4, 16, 16, 1), dtype=np.float32) if vit else rng.integers(0, 50, (4, 12)).astype(np.int32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_a_keras3_lambda_with_trust_names_the_layer_not_function_type(tmp_path):
    inputs = keras3.Input((4,))
    x = keras3.layers.Lambda(lambda v: v * 2, name="double")(inputs)
    keras3.Model(inputs, keras3.layers.Dense(3)(x)).save(tmp_path / "lam3.keras")
    with pytest.raises(config.WorkbookError, match=r"Layer double \(Lambda\).*built-in layer") as err:
        model_files.load(tmp_path / "lam3.keras", trust=True)
    assert "function_type" not in str(err.value)


@pytest.mark.parametrize("loss", ["object", "function"])
def test_a_tf_keras_file_compiled_with_a_builtin_loss_loads(tmp_path, loss):
    """Wrong behaviour rejected: the built-in loss sparse_categorical_crossentropy counted as a custom class."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    if loss == "object":
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    else:
        model.compile("adam", keras.losses.sparse_categorical_crossentropy,
                      metrics=[keras.metrics.sparse_categorical_accuracy])  # fmt: skip
    model.save(tmp_path / "resaved.keras")
    assert model_files.inspect_file(tmp_path / "resaved.keras")["custom"] == []
    assert model_files.load(tmp_path / "resaved.keras").count_params() == 15


class Unregistered(keras.layers.Layer):  # defined in the reader's script, never registered with Keras
    def call(self, x):
        return 2 * x


def test_trust_with_an_unregistered_custom_layer_says_to_pass_custom_objects(tmp_path):
    """Wrong behaviour rejected: Keras' own "Cannot deserialize object of type" with no way out."""
    keras.Sequential([keras.Input((4,)), Unregistered(), keras.layers.Dense(3)]).save(tmp_path / "custom.keras")
    with pytest.raises(ModelFileError, match=r"Unregistered.*custom_objects=\{'Unregistered': Unregistered\}"):
        model_files.load(tmp_path / "custom.keras", trust=True)
    loaded = model_files.load(tmp_path / "custom.keras", custom_objects={"Unregistered": Unregistered})
    assert loaded.count_params() == 15


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # unpickling it creates the marker file


def test_a_pickle_payload_in_a_keras_file_is_not_run(tmp_path):
    path, marker = tmp_path / "carrier.keras", tmp_path / "ran"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).save(path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("assets/payload.pkl", pickle.dumps(_Payload(marker)))
    try:
        assert model_files.load(path).count_params() == 15
    except model_files.ModelFileError:
        # Python 3.13.0 + tf_keras cannot read a .keras archive with any entry added (h5py's read of
        # model.weights.h5 ends in EOFError), a refusal with a message; the point here is only that nothing ran
        assert sys.version_info >= (3, 13)
    assert not marker.exists()


def test_a_pruned_model_is_named_by_its_measured_sparsity_and_what_stayed_dense():
    """Wrong behaviour rejected: "pruned 75 %" on a model whose kernels are far less sparse."""
    model = compress.build_shipped()
    for layer in model.layers:
        if layer.name == "down":  # zero half of one kernel only
            kernel = layer.kernel.numpy()
            kernel[..., : kernel.shape[-1] // 2] = 0
            layer.kernel.assign(kernel)
    name, note = compress.pruned_name(model)
    share = 1 - sum(r.nonzeros for r in compress.measure.layer_sparsity(model)) / sum(
        r.weights for r in compress.measure.layer_sparsity(model))
    assert f"{share:.0%}" in name and "75" not in name and share < 0.5
    assert "stem" in note and "block_conv_0" in note and "not pruned" in note


def test_exercise_2_rejects_a_disagreement_caused_by_something_other_than_calibration():
    """Wrong answer rejected: any lossy conversion (e.g. int4 weights, agreement 79 %) passed as the
    calibration mistake the exercise asks for."""
    from helpers import measure

    common = dict(params=1, nonzeros=1, tflite_bytes=1, tflite_gz=1, tflite_accuracy=0.3, latency_b1_us=1.0, latency_b256_ms=1.0)
    lossy = measure.Measurement("int4", agreement=0.79, causes=("the quantization error is too large for this model",), **common)
    assert compress.self_check_calibration(lossy) is False
    miscalibrated = measure.Measurement("int8 /255", agreement=0.12, causes=(
        "the int8 input range [0, 0.004] was calibrated on representative images scaled differently from these",), **common)
    assert compress.self_check_calibration(miscalibrated) is True


def test_structured_pruning_passes_through_zero_padding_and_names_a_custom_layer():
    """Wrong behaviour rejected: ZeroPadding2D (DenseNet, MobileNet stems) stopping the rebuild, and a
    raw error for a custom layer instead of one naming it."""
    from helpers.structured_pruning import units

    def chain(middle):
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, name="c1"), middle,
                                 keras.layers.Conv2D(4, 3, name="c2"), keras.layers.Flatten(), keras.layers.Dense(3)])  # fmt: skip

    padded = chain(keras.layers.ZeroPadding2D(1))
    zeroed = units.zero_units(padded, {"c1": 4})
    narrow = units.rebuild(padded, {"c1": 4})
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(narrow.predict(x, verbose=0), zeroed.predict(x, verbose=0), atol=1e-5)

    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    with pytest.raises(config.WorkbookError, match=r"\S+ is a Twice, which structured pruning"):
        units.rebuild(chain(Twice()), {"c1": 4})
