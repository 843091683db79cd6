"""Every conversion is checked where it happens (issue 24): ``quantize.convert`` and LiteRT
Quantizer warn at conversion time about NaN calibration images and raw 0-255 calibration of a 0-1
model - a reader who converts and evaluates on their own never calls ``measure``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tf_keras as keras
from test_pruning import tiny_data

from helpers import config, conversion_check, measure, models
from helpers.low_bit import quantizer, sizes
from helpers.quantization import quantize


@pytest.fixture(scope="module")
def trained():
    d = tiny_data(600, 200)
    keras.utils.set_random_seed(0)
    model = models.compile_model(keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                                   keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]))  # fmt: skip
    model.fit(d.x_train, d.y_train, epochs=5, verbose=0)
    return model, d


def conversion_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, conversion_check.ConversionWarning)]


def test_good_calibration_converts_without_a_word(trained):
    model, d = trained
    _, said = conversion_warnings(lambda: quantize.convert(model, "int8", d.x_train[:200]))
    assert said == []


def test_nan_calibration_images_are_flagged_at_conversion(trained):
    """Wrong behaviour rejected: a model returned "without a word" from NaN calibration images."""
    model, d = trained
    x = d.x_train[:200].copy()
    x[:5, 0, 0] = np.nan
    _, said = conversion_warnings(lambda: quantize.convert(model, "int8", x))
    assert any("5 of 200 calibration images hold NaN" in s and "np.isfinite" in s for s in said), said


def test_0_255_calibration_of_a_0_1_model_is_flagged_at_conversion_for_both_paths(trained):
    """Wrong behaviour rejected: an 11.8 %-accurate file returned silently; the warning only in measure."""
    model, d = trained
    pixels = (np.round(d.x_train[:200] * 255) / 255).astype(np.float32)  # images scaled 0-1, as x / 255 gives
    raw = pixels * 255  # as a reader writes it: whole numbers only up to float32 rounding
    tflite, said = conversion_warnings(lambda: quantize.convert(model, "int8", raw))
    assert any("x / 255" in s and "no Rescaling layer" in s for s in said), said
    assert measure.tflite_accuracy(tflite, d.x_test, d.y_test) < 0.3  # the warning is about a real collapse
    tflite, said = conversion_warnings(lambda: quantize.convert(model, "int8", raw, check_on=d.x_test))
    assert any("disagree" in s for s in said), said  # the same check measure runs, on the reader's images
    float_tflite = measure.to_tflite(model)
    recipe = quantizer.build_recipe(model, float_tflite, quantizer.uniform_plan(model, 8), "static")
    _, said = conversion_warnings(lambda: quantizer.quantize(float_tflite, recipe, raw[:100]))
    assert any("LiteRT Quantizer calibration" in s and "x / 255" in s for s in said), said


def test_a_negative_float_size_is_not_predicted(trained):
    model, _ = trained
    with pytest.raises(config.WorkbookError, match="float32 .tflite's size"):
        sizes.predict_bytes(model, quantizer.uniform_plan(model, 4), "dynamic", -5)


def test_token_id_models_convert_to_int8_with_integer_inputs():
    """Wrong behaviour rejected: float32 calibration for an int32 input (the converter's raw error)."""
    inputs = keras.Input((12,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    ids = np.random.default_rng(0).integers(0, 50, (100, 12))
    tflite, said = conversion_warnings(lambda: quantize.convert(model, "int8", ids))
    assert said == []
    assert np.mean(measure.tflite_predict(tflite, ids).argmax(1) == model.predict(ids, verbose=0).argmax(1)) > 0.9
