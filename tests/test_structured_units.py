"""helpers.structured_pruning.units: unit ranking, the physically narrower rebuild, MACs/params prediction, bad widths."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import measure, models
from helpers.structured_pruning import units
from helpers.structured_pruning.units import StructuredPruningError


def _with_biases(model, seed=0):
    """Random non-zero biases, so that a wrongly copied bias shows in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in measure.kernel_layers(model):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def mlp():
    return _with_biases(models.build_mlp())


@pytest.fixture(scope="module")
def cnn():
    return _with_biases(models.build_cnn(), seed=1)


X = np.random.default_rng(2).random((6, 28, 28)).astype(np.float32)
MLP_WIDTHS = {"dense_0": 37, "dense_1": 11}
CNN_WIDTHS = {"conv_0": 7, "conv_1": 13, "dense_0": 21}


def test_saliency_is_the_l1_norm_of_incoming_weights(mlp, cnn):
    kernel = mlp.get_layer("dense_1").kernel.numpy()
    assert np.allclose(units.unit_saliency(mlp.get_layer("dense_1")), np.abs(kernel).sum(axis=0))
    assert np.allclose(units.unit_saliency(mlp.get_layer("dense_1"), "l2"), np.linalg.norm(kernel, axis=0))
    conv = cnn.get_layer("conv_1").kernel.numpy()  # (3, 3, 32, 64)
    assert units.unit_saliency(cnn.get_layer("conv_1")).shape == (64,)
    assert np.isclose(units.unit_saliency(cnn.get_layer("conv_1"))[5], np.abs(conv[..., 5]).sum())


def test_keep_indices_are_the_largest(mlp):
    kept = units.keep_indices(mlp, {"dense_1": 5})
    scores = units.unit_saliency(mlp.get_layer("dense_1"))
    assert list(kept["dense_1"]) == sorted(np.argsort(-scores)[:5])
    assert len(kept["dense_0"]) == 300  # not named: full width


@pytest.mark.parametrize(("arch", "widths"), [("mlp", MLP_WIDTHS), ("cnn", CNN_WIDTHS)])
def test_rebuild_computes_what_the_silenced_model_computes(arch, widths, mlp, cnn):
    model = {"mlp": mlp, "cnn": cnn}[arch]
    narrow = units.rebuild(model, widths)
    silenced = units.zero_units(model, widths)
    assert np.allclose(narrow(X).numpy(), silenced(X).numpy(), rtol=0, atol=1e-5)
    assert not np.allclose(model(X).numpy(), silenced(X).numpy(), atol=1e-3)  # removing units did change something


def test_rebuild_keeps_the_surviving_units_outputs_exactly(cnn):
    """Pruning only the last hidden layer: its surviving units see the very same inputs."""
    import tf_keras as keras

    narrow = units.rebuild(cnn, {"dense_0": 9})
    kept = units.keep_indices(cnn, {"dense_0": 9})["dense_0"]
    full_hidden = keras.Model(cnn.inputs, cnn.get_layer("dense_0").output)(X).numpy()
    narrow_hidden = keras.Model(narrow.inputs, narrow.get_layer("dense_0").output)(X).numpy()
    assert np.array_equal(narrow_hidden, full_hidden[:, kept])


def test_conv_filters_through_flatten(cnn):
    """conv_1's surviving channels map to the right rows of dense_0 (channels-last flattening)."""
    narrow = units.rebuild(cnn, {"conv_1": 5})
    kept = units.keep_indices(cnn, {"conv_1": 5})["conv_1"]
    full_k, narrow_k = cnn.get_layer("dense_0").kernel.numpy(), narrow.get_layer("dense_0").kernel.numpy()
    assert narrow_k.shape == (25 * 5, 128)
    assert np.array_equal(narrow_k[5 * 7 + 2], full_k[64 * 7 + kept[2]])  # position 7, third kept channel


@pytest.mark.parametrize(("arch", "widths"), [("mlp", MLP_WIDTHS), ("cnn", CNN_WIDTHS), ("cnn", {"conv_0": 1})])
def test_shapes_macs_and_params_as_predicted(arch, widths, mlp, cnn):
    model = {"mlp": mlp, "cnn": cnn}[arch]
    narrow = units.rebuild(model, widths)
    assert measure.count_macs(narrow) == units.predict_macs(model, widths)
    assert measure.count_params(narrow) == units.predict_params(model, widths)
    for name, k in widths.items():
        assert narrow.get_layer(name).kernel.shape[-1] == k
    assert narrow.output_shape == model.output_shape
    assert units.predict_macs(model) == measure.count_macs(model)


def test_mlp_macs_by_hand(mlp):
    assert units.predict_macs(mlp, {"dense_0": 200}) == 784 * 200 + 200 * 100 + 100 * 10


@pytest.mark.parametrize(
    ("widths", "words"),
    [
        ({"dense_0": 0}, "at least 1 unit"),
        ({"dense_0": -3}, "at least 1 unit"),
        ({"dense_0": 301}, "has 300 units; cannot keep 301"),
        ({"dense_0": 2.5}, "whole number"),
        ({"dense_0": "ten"}, "whole number"),
        ({"logits": 5}, "output layer"),
        ({"flatten": 5}, "no units to remove"),
        ({"dense_7": 5}, "no such layer"),
    ],
)
def test_bad_widths_are_clear_errors(widths, words, mlp):
    with pytest.raises(StructuredPruningError, match=words):
        units.rebuild(mlp, widths)
    with pytest.raises(StructuredPruningError, match=words):
        units.predict_macs(mlp, widths)


def test_widths_must_be_a_dict(mlp):
    with pytest.raises(StructuredPruningError, match="must be a dict"):
        units.check_widths(mlp, [10, 20])


def test_unsupported_layers_are_named():
    import tf_keras as keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(8),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(10)])  # fmt: skip
    with pytest.raises(StructuredPruningError, match="bn is a BatchNormalization"):
        units.rebuild(model, {})
    inp = keras.Input((4,))
    a = keras.layers.Dense(4, name="a")(inp)
    out = keras.layers.Dense(2, name="b")(keras.layers.Add(name="add")([a, inp]))
    with pytest.raises(StructuredPruningError, match="add is a Add"):
        units.check_widths(keras.Model(inp, out), {"a": 2})


def test_rebuild_leaves_the_original_alone(mlp):
    before = [w.copy() for w in mlp.get_weights()]
    units.rebuild(mlp, MLP_WIDTHS)
    units.zero_units(mlp, MLP_WIDTHS)
    assert all(np.array_equal(a, b) for a, b in zip(before, mlp.get_weights(), strict=True))


def test_describe_widths(mlp):
    assert units.describe_widths(mlp, {"dense_0": 60}) == "dense_0 300->60"
    assert units.describe_widths(mlp, {}) == "full width"
