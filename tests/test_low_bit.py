"""LiteRT Quantizer over small models: recipes, refused combinations, size prediction, allocation."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import keras, measure
from helpers.low_bit import mixed_precision, quantizer, sizes
from helpers.low_bit.quantizer import Choice, LowBitSettingsError


def _with_biases(model):
    """Trained layers have nonzero biases (the converter drops all-zero ones)."""
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    return model


def _mlp(inputs=64):
    keras.utils.set_random_seed(0)
    return _with_biases(
        keras.Sequential(
            [
                keras.Input((inputs,)),
                keras.layers.Dense(96, activation="relu", name="dense_0"),
                keras.layers.Dense(48, activation="relu", name="dense_1"),
                keras.layers.Dense(10, name="logits"),
            ],
            name="mlp",
        )
    )


def _cnn():
    keras.utils.set_random_seed(0)
    return _with_biases(
        keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_0"),
                keras.layers.MaxPooling2D(name="pool_0"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(32, activation="relu", name="dense_0"),
                keras.layers.Dense(10, name="logits"),
            ],
            name="cnn",
        )
    )


@pytest.fixture(scope="module")
def mlp():
    model = _mlp()
    return model, measure.to_tflite(model)


@pytest.fixture(scope="module")
def cnn():
    model = _cnn()
    return model, measure.to_tflite(model)


def _stored(tflite):
    """{layer: (dtype, number of scales)} of the quantized weight tensors in a file."""
    interp = measure.interpreter(tflite, num_threads=None)
    interp.allocate_tensors()
    found = {}
    for d in interp.get_tensor_details():
        scales = d["quantization_parameters"]["scales"]
        for name in ("dense_0", "dense_1", "logits", "conv_0"):
            if f"/{name}/" in d["name"] and len(scales) and len(d["shape"]) >= 2:
                found[name] = (np.dtype(d["dtype"]).name, len(scales))
    return found


def test_layers_are_read_as_litert_stores_them(cnn):
    infos = {i.name: i for i in quantizer.layers(cnn[0])}
    assert infos["conv_0"] == quantizer.LayerInfo("conv_0", "CONV_2D", 72, 9, 8)
    assert infos["dense_0"] == quantizer.LayerInfo("dense_0", "FULLY_CONNECTED", 128 * 32, 128, 32)


def test_per_layer_recipe_quantizes_exactly_the_layers_named(mlp):
    model, flat = mlp
    plan = {"dense_0": Choice(4), "dense_1": Choice(32), "logits": Choice(8)}
    recipe = quantizer.build_recipe(model, flat, plan, "dynamic")
    bits = sorted(
        r["op_config"]["weight_tensor_config"]["num_bits"] for r in recipe if "weight_tensor_config" in r["op_config"]
    )
    assert bits == [4, 8]
    stored = _stored(quantizer.quantize(flat, recipe)[0])
    assert set(stored) == {"dense_0", "logits"}, (
        "dense_1 stays float, the output layer (named after the model output) is found"
    )
    assert stored["dense_0"][1] == 96 and stored["logits"][1] == 10, "one scale per output channel"


def test_blockwise_stores_a_scale_per_block(mlp):
    model, flat = mlp
    tflite = quantizer.quantize_plan(model, flat, {"dense_0": Choice(4, 32)}, "dynamic")
    assert _stored(tflite)["dense_0"][1] == 96 * 64 // 32


def test_static_int8_is_calibrated_and_runs_with_int8_io(mlp):
    model, flat = mlp
    x = np.random.default_rng(0).random((50, 64), dtype=np.float32)
    tflite = quantizer.quantize_plan(model, flat, quantizer.uniform_plan(model, 8), "static", x)
    assert [d["dtype"] for d in measure.interpreter(tflite).get_input_details()] == [np.int8]
    agree = np.mean(measure.tflite_predict(tflite, x).argmax(1) == model.predict(x, verbose=0).argmax(1))
    assert agree > 0.7, "an untrained net has close logits; a broken calibration scores ~0.1"


@pytest.mark.parametrize(
    ("plan", "mode", "words"),
    [
        ({"dense_0": Choice(4, 128)}, "dynamic", "64 inputs per output channel are not divisible by block size 128"),
        ({"dense_0": Choice(4, 48)}, "dynamic", "block size 48"),
        ({"dense_0": Choice(2)}, "weight_only", "use mode ['dynamic']"),
        ({"dense_0": Choice(2, 32)}, "dynamic", "int2 blockwise"),
        ({"dense_0": Choice(4, 32)}, "weight_only", "blockwise"),
        ({"dense_0": Choice(3)}, "dynamic", "32 (float), 8, 4 or 2"),
        ({"dense_9": Choice(8)}, "dynamic", "No quantizable layer named ['dense_9']"),
        ({"dense_0": Choice(8)}, "static", "float32 layers ['dense_1', 'logits']"),
        ({"dense_0": Choice(8)}, "fast", "mode must be one of"),
        ({}, "dynamic", "nothing to quantize"),
    ],
)
def test_bad_combinations_get_a_message_instead_of_a_silent_float_file(mlp, plan, mode, words):
    model, flat = mlp
    with pytest.raises(
        LowBitSettingsError, match=words.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        quantizer.build_recipe(model, flat, plan, mode)


def test_conv_blockwise_is_refused(cnn):
    with pytest.raises(LowBitSettingsError, match="conv_0 .CONV_2D.: dynamic int4 blockwise"):
        quantizer.check_plan(cnn[0], {"conv_0": Choice(4, 32)}, "dynamic")


def test_static_needs_calibration_images(mlp):
    model, flat = mlp
    with pytest.raises(LowBitSettingsError, match="calibration images"):
        quantizer.quantize_plan(model, flat, quantizer.uniform_plan(model, 8), "static", None)


@pytest.mark.parametrize(
    ("arch", "plan", "mode"),
    [
        ("mlp", {"dense_0": 8, "dense_1": 8, "logits": 8}, "dynamic"),
        ("mlp", {"dense_0": 4, "dense_1": 4, "logits": 4}, "dynamic"),
        ("mlp", {"dense_0": 2, "dense_1": 2, "logits": 2}, "dynamic"),
        ("mlp", {"dense_0": 4, "dense_1": 8}, "weight_only"),
        ("mlp", {"dense_0": (4, 32), "logits": 8}, "dynamic"),
        ("mlp", {"dense_0": 4, "dense_1": 4, "logits": 8}, "static"),
        ("cnn", {"conv_0": 4, "dense_0": (4, 64), "logits": 2}, "dynamic"),
        ("cnn", {"conv_0": 8, "dense_0": 8, "logits": 8}, "static"),
    ],
)
def test_predicted_size_matches_the_real_file(request, arch, plan, mode):
    model, flat = request.getfixturevalue(arch)
    x = np.random.default_rng(0).random((20, *model.input_shape[1:]), dtype=np.float32)
    real = len(quantizer.quantize_plan(model, flat, plan, mode, x))
    predicted = sizes.predict_bytes(model, plan, mode, len(flat))
    # 150 B: far below one layer's scales (12 B x 96 channels) or a 4-bit vs 2-bit layer (>= 1.5 KB)
    assert abs(predicted - real) <= 150, (predicted, real)


def test_fake_quantize_uses_the_symmetric_narrow_grid_per_channel_and_block():
    w = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    for bits, block in ((4, 0), (2, 0), (4, 32)):
        q = sizes.fake_quantize(w, bits, block)
        groups = w.T.reshape(6, -1, block or 64)
        scale = np.abs(groups).max(-1, keepdims=True) / (2 ** (bits - 1) - 1)
        levels = q.T.reshape(groups.shape) / scale
        assert np.allclose(levels, np.round(levels), atol=1e-4)
        assert np.abs(np.round(levels)).max() == 2 ** (bits - 1) - 1, "narrow range: +-(2^(b-1)-1)"
    errors = [sizes.weight_error(w, Choice(b)) for b in (32, 8, 4, 2)]
    assert errors[0] == 0 and errors == sorted(errors)
    assert sizes.weight_error(w, Choice(4, 32)) < sizes.weight_error(w, Choice(4))


def _table():
    return {
        "dense_0": {32: 0.0, 8: 0.0, 4: 0.002, 2: 0.2},
        "dense_1": {32: 0.0, 8: 0.0, 4: 0.004, 2: 0.1},
        "logits": {32: 0.0, 8: 0.001, 4: 0.05, 2: 0.3},
    }


def test_allocator_picks_the_least_damage_that_fits(mlp):
    model, flat = mlp
    table = _table()
    loose = mixed_precision.allocate(model, table, len(flat), len(flat))
    # no loss is needed; among lossless plans the smallest: int8 where it costs nothing, logits float
    assert loose.predicted_drop == 0
    assert {n: c.bits for n, c in loose.plan.items()} == {"dense_0": 8, "dense_1": 8, "logits": 32}
    all4 = sizes.predict_bytes(model, quantizer.uniform_plan(model, 4), "dynamic", len(flat))
    tight = mixed_precision.allocate(model, table, all4 + 200, len(flat))
    assert tight.predicted_bytes <= all4 + 200
    # exhaustive: no other plan under the budget has a smaller summed drop
    drops = {}
    for b0 in (32, 8, 4, 2):
        for b1 in (32, 8, 4, 2):
            for b2 in (32, 8, 4, 2):
                plan = {"dense_0": Choice(b0), "dense_1": Choice(b1), "logits": Choice(b2)}
                if b0 == b1 == b2 == 32:
                    continue
                size = sizes.predict_bytes(model, plan, "dynamic", len(flat))
                if size <= all4 + 200:
                    drops[(b0, b1, b2)] = table["dense_0"][b0] + table["dense_1"][b1] + table["logits"][b2]
    assert tight.predicted_drop == pytest.approx(min(drops.values()))
    assert tight.plan["logits"].bits != 2, "the sensitive output layer is not pushed to 2 bits"


@pytest.mark.parametrize(
    ("budget", "words"), [(0, "positive"), (-5, "positive"), (None, "number of bytes"), (1000, "smallest")]
)
def test_allocator_refuses_an_impossible_budget(mlp, budget, words):
    model, flat = mlp
    with pytest.raises(LowBitSettingsError, match=words):
        mixed_precision.allocate(model, _table(), budget, len(flat))


def test_sensitivity_measures_every_layer_and_width(mlp):
    model, flat = mlp
    rng = np.random.default_rng(2)
    x = rng.random((100, 64), dtype=np.float32)
    y = model.predict(x, verbose=0).argmax(1)  # the float model is 100 % right on its own labels
    table = mixed_precision.sensitivity(model, flat, x, y)
    assert set(table) == {"dense_0", "dense_1", "logits"}
    assert all(set(row) == {32, 8, 4, 2} for row in table.values())
    assert all(row[8] <= row[2] for row in table.values())


def test_allocator_respects_the_widths_allowed_per_layer(mlp):
    model, flat = mlp
    plan = {"dense_0": Choice(8), "dense_1": Choice(4), "logits": Choice(4)}
    budget = sizes.predict_bytes(model, plan, "dynamic", len(flat)) + 100
    free = mixed_precision.allocate(model, _table(), budget, len(flat))
    limited = mixed_precision.allocate(model, _table(), budget, len(flat), options={"dense_0": (32, 8)})
    assert free.plan["dense_0"].bits == 4, "unrestricted, the cheap-to-quantize big layer goes to 4 bits"
    assert limited.plan["dense_0"].bits == 8
    assert limited.predicted_bytes <= budget and limited.predicted_drop > free.predicted_drop
    with pytest.raises(LowBitSettingsError, match="No width left"):
        mixed_precision.allocate(model, _table(), budget, len(flat), options={"logits": (16,)})


def test_allocator_only_proposes_what_the_mode_can_store(mlp):
    model, flat = mlp
    budget = sizes.predict_bytes(model, quantizer.uniform_plan(model, 4), "weight_only", len(flat)) + 100
    found = mixed_precision.allocate(model, _table(), budget, len(flat), mode="weight_only")
    assert all(c.bits in (32, 8, 4) for c in found.plan.values()), "weight-only has no int2"
    static = mixed_precision.allocate(model, _table(), len(flat), len(flat), mode="static")
    assert all(c.bits in (8, 4) for c in static.plan.values()), "static files have no float32 layers"
    real = quantizer.quantize_plan(model, flat, found.plan, "weight_only")
    assert abs(len(real) - found.predicted_bytes) <= 150


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_stored_kernel_reads_the_files_own_weights(mlp, bits):
    """The kernel read back from the packed int4/int2 bytes equals LiteRT's per-channel grid of the
    float kernel; a reader that forgot the sign extension or the nibble order would not."""
    model, float_file = mlp
    blob = quantizer.quantize_plan(model, float_file, quantizer.uniform_plan(model, bits), "dynamic")
    for layer in ("dense_0", "logits"):
        kernel = model.get_layer(layer).kernel.numpy()
        stored = quantizer.stored_kernel(blob, model, layer)
        assert stored.shape == kernel.shape
        np.testing.assert_allclose(stored, sizes.fake_quantize(kernel, bits), atol=1e-6)
        assert not np.allclose(stored, kernel, atol=1e-6), "a quantized file does not hold the float weights"
    np.testing.assert_array_equal(quantizer.stored_kernel(float_file, model, "dense_0"), model.get_layer("dense_0").kernel.numpy())
    with pytest.raises(LowBitSettingsError, match="not a Dense layer"):
        quantizer.stored_kernel(blob, model, "nope")
