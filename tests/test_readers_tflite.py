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


def test_a_file_that_crashes_litert_gives_a_message_and_the_kernel_survives(lstm, monkeypatch):
    """A file with state tensors (or unfamiliar operators) runs once in a child process first: a crash there
    (here made certain: the child aborts) is a ModelError, not the death of the reader's kernel."""
    _, blob = lstm
    monkeypatch.setattr(litert_run, "_TRIAL", "import os; os.abort()")
    monkeypatch.setattr(litert_run, "_trials", {})
    with pytest.raises(litert_run.keras_compat.ModelError, match="LiteRT crashed .* this\\s+kernel survived"):
        litert_run.tflite_predict(blob, np.zeros((2, 10, 4), np.float32))
    monkeypatch.setattr(litert_run, "_TRIAL", "raise SystemExit(0)")  # the same file, when LiteRT copes: no error
    monkeypatch.setattr(litert_run, "_trials", {})
    assert litert_run.tflite_predict(blob, np.zeros((2, 10, 4), np.float32)).shape == (2, 3)


def test_the_workbooks_own_models_need_no_trial_run(monkeypatch):
    from helpers import models

    monkeypatch.setattr(litert_run, "_TRIAL", "import os; os.abort()")  # a trial would fail: none must start
    monkeypatch.setattr(litert_run, "_trials", {})
    for model in (models.build_mlp(), models.build_cnn()):
        blob = measure.to_tflite(model)
        assert litert_run.operators(blob) <= litert_run.FAMILIAR_OPS
        assert litert_run.tflite_predict(blob, np.zeros((3, 28, 28), np.float32)).shape == (3, 10)


def test_tflms_keyword_model_that_aborts_litert_is_measured_on_tflm():
    """TFLM's own keyword_scrambled_8bit.tflite (tests/data/README.md): LiteRT 2.3.0 aborts on it in-process.
    Lesson 05's footprint call measures it on TFLM; the LiteRT column says 'not compared' (or, should a later
    LiteRT run it, holds a number) - the point is that this test's own process is still alive to check."""
    from pathlib import Path

    blob = (Path(__file__).parent / "data" / "keyword_scrambled_8bit.tflite").read_bytes()
    assert "SVDF" in litert_run.operators(blob) and litert_run.variable_tensors(blob) > 0
    x, y = np.random.default_rng(0).random((8, 96)).astype(np.float32), np.zeros(8, int)
    if not tflm.available():  # LiteRT alone: a message (where it crashes, as on Linux x86-64) or an accuracy
        try:
            assert 0 <= measure.tflite_accuracy(blob, x, y) <= 1
        except litert_run.keras_compat.ModelError as exc:
            assert "LiteRT crashed" in str(exc)
        return
    found = tflm_run.footprint("keyword_scrambled_8bit", blob, x, y)
    assert found.arena > 0 and found.flash == len(blob) and 0 <= found.tflm_accuracy <= 1
    if found.litert_accuracy is None:
        assert "not compared" in found.row()["LiteRT acc"] and found.agreement_pp is None
