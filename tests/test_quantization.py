"""helpers.quantization.quantize: each converter really produces its kind and runs in LiteRT; the arithmetic;
fake quantization at every width; packed sizes; QAT; the bit-width explorer's logic and panel."""

from __future__ import annotations

import types

import numpy as np
import pytest
from test_pruning import tiny_data

from helpers import measure, models, results
from helpers.quantization import explorer as quantization_explorer
from helpers.quantization import qat, quantize
from helpers.quantization.quantize import QuantizationSettingsError


@pytest.fixture(scope="module")
def trained():
    d = tiny_data(n=512, n_test=100)
    model = models.compile_model(models.build_mlp())
    models.train(model, d, 4)
    return model, d


# ----------------------------------------------------------------------------- converters


def test_each_kind_is_what_it_says_and_runs(trained):
    model, d = trained
    sizes = {}
    for kind in quantize.KINDS:
        flatbuffer = quantize.convert(model, kind, representative=d.x_train)
        sizes[kind] = len(flatbuffer)
        big = [t for t in quantize.stored_weights(flatbuffer) if np.prod(t.shape) >= 1024]
        expected = {"float32": "float32", "dynamic": "int8", "float16": "float16", "int8": "int8"}[kind]
        assert {t.dtype for t in big} == {expected}, kind
        assert quantize.io_types(flatbuffer) == (("int8", "int8") if kind == "int8" else ("float32", "float32"))
        predictions = measure.tflite_predict(flatbuffer, d.x_test)
        assert predictions.shape == (len(d.x_test), 10) and np.isfinite(predictions).all()
    assert 3.5 < sizes["float32"] / sizes["int8"] < 4.2 and 1.9 < sizes["float32"] / sizes["float16"] < 2.1


def test_int8_keeps_the_float_models_predictions(trained):
    model, d = trained
    float_acc = measure.tflite_accuracy(quantize.convert(model, "float32"), d.x_test, d.y_test)
    int8_acc = measure.tflite_accuracy(quantize.convert(model, "int8", d.x_train), d.x_test, d.y_test)
    assert abs(float_acc - int8_acc) <= 0.03


def test_stored_int8_scales_are_max_abs_over_127_per_channel(trained):
    model, d = trained
    flatbuffer = quantize.convert(model, "int8", d.x_train)
    stored = {t.shape: t for t in quantize.stored_weights(flatbuffer)}[(300, 784)]
    kernel = model.get_layer("dense_0").kernel.numpy()
    np.testing.assert_allclose(stored.scales, np.abs(kernel).max(axis=0) / 127, rtol=1e-5)


@pytest.mark.parametrize(
    ("x", "words"),
    [
        (None, "empty"),
        (np.zeros((0, 28, 28)), "empty"),
        (np.zeros((5, 28)), "(28,)"),
        (np.zeros((5, 32, 32, 3)), "(32, 32, 3)"),
    ],
)
def test_bad_representative_data_gets_a_clear_message(trained, x, words):
    model, _ = trained
    with pytest.raises(QuantizationSettingsError, match="representative") as info:
        quantize.convert(model, "int8", representative=x)
    assert words in str(info.value)


def test_unknown_kind_is_refused(trained):
    with pytest.raises(QuantizationSettingsError, match="int4"):
        quantize.convert(trained[0], "int4")


# ----------------------------------------------------------------------------- arithmetic


def test_scale_and_zero_point_by_the_book():
    scale, zp = quantize.scale_zero_point(-0.5, 1.5, 8, symmetric=False)
    assert scale == pytest.approx(2 / 255) and zp == -64
    assert round(-0.5 / scale) + zp == -128 and round(1.5 / scale) + zp == 127
    scale, zp = quantize.scale_zero_point(-0.3, 0.6, 8, symmetric=True)
    assert scale == pytest.approx(0.6 / 127) and zp == 0
    assert quantize.scale_zero_point(0.2, 0.9, 8)[1] == -128  # the range is widened to hold 0
    assert quantize.scale_zero_point(0.0, 0.0, 4) == (1.0, 0)


@pytest.mark.parametrize("bits", [1, 9, 0, 4.5, "8", True])
def test_bits_outside_2_to_8_are_refused(bits):
    with pytest.raises(QuantizationSettingsError, match="2 to 8"):
        quantize.check_bits(bits)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
def test_error_falls_as_bits_rise_and_the_grid_is_respected(per_channel, symmetric):
    w = np.random.default_rng(0).normal(0, 0.05, (64, 16)).astype(np.float32) * np.linspace(0.2, 3, 16)
    errors = []
    for bits in range(2, 9):
        wq = quantize.fake_quantize(w, bits, per_channel, symmetric)
        columns = [wq[:, c] for c in range(16)] if per_channel else [wq]
        assert all(len(np.unique(col)) <= 2**bits for col in columns)
        errors.append(quantize.quantization_error(w, wq)[0])
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < errors[0] / 100


def test_per_channel_beats_per_tensor_on_uneven_channels():
    w = np.random.default_rng(1).normal(0, 1, (128, 8)).astype(np.float32) * np.array([0.01] * 7 + [1.0])
    small = slice(0, 7)  # the seven narrow channels: one shared grid is far too coarse for them
    pc = quantize.quantization_error(w[:, small], quantize.fake_quantize(w, 4, per_channel=True)[:, small])[0]
    pt = quantize.quantization_error(w[:, small], quantize.fake_quantize(w, 4, per_channel=False)[:, small])[0]
    assert pc < pt / 20  # measured: ~66x smaller


def test_snr_of_an_exact_copy_is_infinite():
    w = np.ones((3, 3))
    assert quantize.quantization_error(w, w) == (0.0, float("inf"))


def test_packed_bytes_arithmetic():
    mlp = models.build_mlp()
    kernels, biases, channels = 266_200, 410, 410
    assert quantize.packed_bytes(mlp, 8, per_channel=True) == (kernels * 8 + channels * 32 + biases * 32) // 8
    assert quantize.packed_bytes(mlp, 4, per_channel=False) == (kernels * 4 + 3 * 32 + biases * 32) // 8
    asym = quantize.packed_bytes(mlp, 4, per_channel=True, symmetric=False)
    assert asym == (kernels * 4 + channels * 64 + biases * 32) // 8


def test_fake_quantized_model_leaves_the_original_alone(trained):
    model, d = trained
    before = model.get_weights()[0].copy()
    fq = quantize.fake_quantized_model(model, 3)
    assert np.array_equal(before, model.get_weights()[0])
    assert len(np.unique(fq.get_layer("dense_0").kernel.numpy()[:, 0])) <= 8


def test_bit_sweep_collapses_at_two_bits(trained):
    model, d = trained
    accs = quantize.bit_sweep(model, d.x_test, d.y_test, bits_list=(8, 2), per_channel=False)
    assert accs[0] > accs[1]


# ----------------------------------------------------------------------------- QAT


def test_qat_is_at_chance_before_fit_and_converts_to_int8_after(trained):
    import tensorflow_model_optimization as tfmot

    model, d = trained
    wrapped = tfmot.quantization.keras.quantize_model(models.build_mlp())
    models.compile_model(wrapped)
    assert measure.keras_accuracy(wrapped, d.x_test, d.y_test) <= 0.2
    trained_qat = qat.quantization_aware(model, d, epochs=1)
    flatbuffer = qat.convert_qat(trained_qat)
    assert {t.dtype for t in quantize.stored_weights(flatbuffer) if np.prod(t.shape) >= 1024} == {"int8"}
    assert measure.tflite_accuracy(flatbuffer, d.x_test, d.y_test) > 0.5


@pytest.mark.parametrize("bits", [4, 3])
def test_nbit_qat_runs_in_litert_with_few_distinct_values(trained, bits):
    model, d = trained
    flatbuffer = qat.convert_qat(qat.nbit_qat(model, d, bits, epochs=1))
    tensors = quantize.stored_weights(flatbuffer)
    assert tensors and max(t.distinct_values for t in tensors) <= 2**bits - 1  # narrow range: zero at 0
    assert measure.tflite_predict(flatbuffer, d.x_test[:10]).shape == (10, 10)


# ----------------------------------------------------------------------------- the explorer


def test_explorer_view_and_its_bad_inputs(trained):
    model, _ = trained
    view = quantize.explorer_view(model, "dense_1", 3, per_channel=True, symmetric=True)
    assert view.problems == [] and len(view.levels) == 7 and view.snr_db > 0
    bad = quantize.explorer_view(model, "dense_9", 12, True, True)
    assert len(bad.problems) == 2 and "dense_9" in bad.problems[0] and "2 to 8" in bad.problems[1]


def test_explorer_run_logs_a_simulated_point(trained, isolated_cache):
    model, d = trained
    metrics, entry = quantize.explorer_run(model, d, 4, per_channel=True, symmetric=False)
    assert entry["settings"] == {"bits": 4, "per_channel": True, "symmetric": False, "simulated": True}
    assert metrics["packed_bytes"] == quantize.packed_bytes(model, 4, True, False)
    assert results.load(data=d)[-1]["id"] == entry["id"]
    # no file was written: the packed size is not a gzipped .tflite size (issue 22: one field, one meaning)
    assert "tflite_gz" not in metrics and "tflite_gz" not in entry["metrics"]
    assert results.pareto_front(results.load(data=d)) == [], "a simulated width is no real file on the front"
    from helpers.ui import board_plots

    group = [g for g in board_plots.board_groups([entry]) if g["key"] == ("quantization", True)][0]
    assert group["x"] == [metrics["packed_bytes"] / 1024], "the hollow point sits at the packed size"
    before = len(results.load(data=d))
    quantize.explorer_run(model, d, 4, per_channel=True, symmetric=False, key="test/simulated/4")
    quantize.explorer_run(model, d, 4, per_channel=True, symmetric=False, key="test/simulated/4")
    assert len(results.load(data=d)) == before + 1, "a keyed re-run replaces its entry"


def test_bit_width_panel_headlessly(trained, isolated_cache, monkeypatch):
    model, d = trained
    explorer = quantization_explorer.BitWidthExplorer(model, d, bits=4)
    assert explorer.message.value == "" and not explorer.run_button.disabled
    explorer.bits.value = 1
    assert "2 to 8" in explorer.message.value and explorer.run_button.disabled
    assert explorer.run() is None
    explorer.bits.value = 9
    assert "2 to 8" in explorer.message.value
    explorer.bits.value = 5
    explorer.per_channel.value = False
    explorer.layer.value = "logits"
    assert explorer.last_view.layer == "logits" and explorer.message.value == ""
    first = explorer.run()
    assert "added to the board" in explorer.status.value and first["packed_bytes"] > 0

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(quantize, "explorer_run", broken)
    assert explorer.run() is first
    assert "The run failed: MemoryError" in explorer.status.value and not explorer.run_button.disabled
    assert len(results.load(data=d)) == 1


def test_qat_epochs_give_enough_steps():
    def sized(n):
        return types.SimpleNamespace(x_train=np.zeros((n, 1)))

    assert qat.qat_epochs(sized(55_000)) == 1
    assert qat.qat_epochs(sized(10_000)) == 6
    assert qat.qat_epochs(sized(1_290)) * 11 >= qat.MIN_QAT_STEPS
