"""Readers' .tflite files through the workbook's prediction path (issue 24): files with a fixed
batch and state tensors (TFLM's LSTM/SVDF examples), integer token-id inputs, a file LiteRT cannot
open, and tensors without names. Every file is made here, small."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
import tf_keras as keras

from helpers import config, data, litert_run, measure
from helpers.microcontroller import lut, tflm, tflm_run


@pytest.fixture(scope="module")
def lstm():
    inputs = keras.Input((10, 4), batch_size=1)  # TFLM's LSTM example fixes batch 1, as here
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LSTM(8)(inputs)))
    return model, measure.to_tflite(model)


def test_a_stateful_fixed_batch_lstm_runs_one_example_at_a_time_with_its_state_reset(lstm):
    """Wrong behaviour rejected: LiteRT's raw "NumElements(output_state) != n_batch * n_output"
    from resizing the batch; or state carried from one example to the next."""
    model, blob = lstm
    assert litert_run.fixed_batch(blob) == 1 and litert_run.variable_tensors(blob) > 0
    x = np.random.default_rng(0).random((7, 10, 4), dtype=np.float32)
    np.testing.assert_allclose(measure.tflite_predict(blob, x), model.predict(x, batch_size=1, verbose=0), atol=1e-5)
    np.testing.assert_allclose(measure.tflite_predict(blob, x[::-1])[::-1], measure.tflite_predict(blob, x), atol=1e-6)
    y = np.arange(7) % 3
    m = measure.measure("lstm", data.Dataset("t", "t", "fast", x, y, x, y, ("a", "b", "c"), x, y), model, blob, 3, 2)
    assert m.agreement == 1.0 and m.latency_b256_ms is None and m.latency_b1_us > 0
    with pytest.raises(config.WorkbookError, match="batches of 1 only"):
        measure.tflite_latency(blob, x, batch=4, runs=2)


def test_integer_token_ids_are_fed_as_integers_and_fractions_are_refused():
    """Wrong behaviour rejected: ids divided by the int32 input's zero scale (gather out of bounds),
    or LiteRT's "Got value of type FLOAT32 but expected type INT32"."""
    inputs = keras.Input((12,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    blob, ids = measure.to_tflite(model), np.random.default_rng(0).integers(0, 50, (9, 12)).astype(np.float32)
    np.testing.assert_allclose(measure.tflite_predict(blob, ids), model.predict(ids, verbose=0), atol=1e-5)
    with pytest.raises(config.WorkbookError, match="whole numbers.*token"):
        measure.tflite_predict(blob, ids / 50)


def _int8_conv():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(3)])  # fmt: skip
    x = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(20))
    return converter.convert()


def _rewrite(blob: bytes, change) -> bytes:
    fb = tflm._schema()
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(blob, 0))
    change(m.subgraphs[0].tensors)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_a_file_with_person_detect_s_quantization_flaw_gets_a_message_not_a_raw_value_error():
    """Wrong behaviour rejected: the interpreter's raw "quantized_dimension must be in range"."""

    def flaw(tensors):
        bias = next(t for t in tensors if t.shape is not None and len(t.shape) == 1 and t.quantization
                    and t.quantization.scale is not None and len(t.quantization.scale) > 1)  # fmt: skip
        bias.quantization.quantizedDimension = 3

    with pytest.raises(config.WorkbookError, match="person_detect.*TFLM runs it"):
        measure.tflite_predict(_rewrite(_int8_conv(), flaw), np.zeros((1, 8, 8, 1), np.float32))


def test_weight_tensors_accepts_tensors_without_a_name():
    """Wrong behaviour rejected: AttributeError 'NoneType' object has no attribute 'decode'."""

    def unname(tensors):
        for t in tensors:
            t.name = None

    found = lut.weight_tensors(_rewrite(_int8_conv(), unname), min_size=10)
    assert found and all("no name" in t.name for t in found)


def test_a_missing_tflm_op_is_named_and_an_uncompared_footprint_says_so():
    """Wrong behaviour rejected: "could not run this model even with 64 MiB of arena" for an op TFLM
    lacks; and 0.0 pp TFLM-vs-LiteRT difference for a file LiteRT did not run (nothing compared)."""
    if not tflm.available():
        pytest.skip("TFLM (tflite-micro) is not installed here")
    import tensorflow as tf

    inputs = keras.Input((4, 4))
    prod = keras.layers.Lambda(lambda v: tf.reduce_prod(v, axis=-1))(inputs)
    blob = measure.to_tflite(keras.Model(inputs, keras.layers.Dense(3)(prod)))
    with pytest.raises(config.WorkbookError, match="TFLM has no kernel for REDUCE_PROD"):
        tflm.smallest_arena(blob, use_cache=False)
    uncompared = tflm_run.Footprint("lut", 1000, 2048, None, 0.8, None, 10.0, 100)
    assert uncompared.agreement_pp is None and "not compared" in uncompared.row()["LiteRT acc"]
