"""helpers.measure: counting, sizes, LiteRT accuracy and latency, the Measurement and Table."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from helpers import measure

# Known-harmless converter/HDF5 notices (helpers.config silences them in notebooks).
pytestmark = [
    pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file"),
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected"),
]

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def small_dense():
    """Flatten -> a (4->3) -> b (3->2), with exact zeros we can count."""
    model = keras.Sequential(
        [
            keras.Input(shape=(2, 2)),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, activation="relu", name="a"),
            keras.layers.Dense(2, name="b"),
        ]
    )
    kernel_a = np.array([[1, 0, 2], [0, 0, 3], [4, 5, 0], [0, 6, 7]], np.float32)  # 5 zeros of 12
    bias_a = np.array([0, 1, 0], np.float32)  # 2 zeros of 3
    kernel_b = np.array([[1, 2], [0, 3], [4, 5]], np.float32)  # 1 zero of 6
    bias_b = np.array([0.5, 0], np.float32)  # 1 zero of 2
    model.set_weights([kernel_a, bias_a, kernel_b, bias_b])
    return model


def make_task(n=400, signal=0.15, seed=0):
    """Ten noisy binary prototypes: hard enough that accuracy is well below 100 %."""
    rng = np.random.default_rng(seed)
    protos = (rng.random((10, 28, 28)) > 0.5).astype(np.float32)
    y = (np.arange(n) % 10).astype(np.int32)
    x = np.clip(0.5 + (protos[y] - 0.5) * signal + rng.normal(0, 0.5, (n, 28, 28)), 0, 1).astype(np.float32)
    return protos, x, y


@pytest.fixture(scope="module")
def task():
    return make_task()


@pytest.fixture
def template_model(task):
    """A 784-32-10 ReLU MLP whose weights match the prototypes (no training needed)."""
    protos, _, _ = task
    rng = np.random.default_rng(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    k = (protos.reshape(10, -1) - 0.5).T / 10
    w1 = np.concatenate([k, -k, rng.normal(0, 0.01, (784, 12))], axis=1).astype(np.float32)
    w2 = np.zeros((32, 10), np.float32)
    w2[np.arange(10), np.arange(10)] = 1
    w2[np.arange(10) + 10, np.arange(10)] = -1
    model.set_weights([w1, np.zeros(32, np.float32), w2, np.zeros(10, np.float32)])
    return model


@pytest.fixture
def float_tflite(template_model):
    return measure.to_tflite(template_model)


def int8_tflite(model, x) -> bytes:
    def representative():
        for i in range(100):
            yield [x[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


# ----------------------------------------------------------------------------- counting


def test_count_params_and_nonzeros_are_exact(small_dense):
    assert measure.count_params(small_dense) == 12 + 3 + 6 + 2
    assert measure.count_nonzeros(small_dense) == 7 + 1 + 5 + 1


def test_layer_sparsity_counts_kernels_only(small_dense):
    rows = measure.layer_sparsity(small_dense)
    assert [(r.layer, r.weights, r.nonzeros) for r in rows] == [("a", 12, 7), ("b", 6, 5)]
    assert rows[0].sparsity == pytest.approx(5 / 12)
    assert rows[1].sparsity == pytest.approx(1 / 6)
    assert measure.LayerSparsity("empty", 0, 0).sparsity == 0.0


def test_count_params_ignores_pruning_bookkeeping(small_dense):
    import tensorflow_model_optimization as tfmot

    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        small_dense, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0)
    )
    assert pruned.count_params() > 23  # Keras counts masks, thresholds and the step
    assert measure.count_params(pruned) == 23
    assert measure.count_nonzeros(pruned) == 14
    assert [(r.weights, r.nonzeros) for r in measure.layer_sparsity(pruned)] == [(12, 7), (6, 5)]


# ----------------------------------------------------------------------------- sizes


def test_gzipped_size_rewards_zeros_not_noise():
    zeros = bytes(100_000)
    noise = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    assert measure.gzipped_size(zeros) < 1_000
    assert measure.gzipped_size(noise) > 99_000
    assert measure.gzipped_size(b"") > 0  # a gzip header is never free


def test_keras_file_bytes_is_an_hdf5_file(small_dense):
    blob = measure.keras_file_bytes(small_dense)
    assert blob[:8] == b"\x89HDF\r\n\x1a\n"
    assert len(blob) > 23 * 4


# ----------------------------------------------------------------------------- LiteRT


def test_float_tflite_agrees_with_keras(template_model, float_tflite, task):
    _, x, y = task
    keras_acc = measure.keras_accuracy(template_model, x, y)
    assert 0.2 < keras_acc < 0.95  # a real test, not a trivially perfect model
    assert measure.tflite_accuracy(float_tflite, x, y) == keras_acc
    logits = measure.tflite_predict(float_tflite, x)
    assert logits.shape == (len(x), 10) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, template_model.predict(x, verbose=0), atol=1e-4)


def test_tflite_predict_batches_give_the_same_answer(float_tflite, task):
    _, x, _ = task
    x = x[:23]
    whole = measure.tflite_predict(float_tflite, x)
    in_sevens = measure.tflite_predict(float_tflite, x, batch_size=7)  # 7, 7, 7, then 2
    assert in_sevens.shape == whole.shape
    np.testing.assert_allclose(in_sevens, whole, atol=1e-5)
    assert measure.tflite_predict(float_tflite, x[:1]).shape == (1, 10)


def test_tflite_predict_rejects_empty_input(float_tflite):
    with pytest.raises(ValueError) as info:
        measure.tflite_predict(float_tflite, np.zeros((0, 28, 28), np.float32))
    assert "no images" in str(info.value) and "empty" in str(info.value)


def test_int8_model_runs_with_quantized_io(template_model, task):
    _, x, y = task
    q = int8_tflite(template_model, x)
    detail = measure.interpreter(q).get_input_details()[0]
    assert detail["dtype"] == np.int8  # really full-integer I/O
    float_acc = measure.keras_accuracy(template_model, x, y)
    int8_acc = measure.tflite_accuracy(q, x, y)
    assert abs(int8_acc - float_acc) <= 0.03
    # Outputs come back dequantized: real logits, not int8 codes.
    logits = measure.tflite_predict(q, x)
    assert logits.dtype == np.float32
    reference = template_model.predict(x, verbose=0)
    spread = reference.max() - reference.min()
    assert np.abs(logits - reference).max() < 0.1 * spread
    assert len(q) < len(measure.to_tflite(template_model)) / 2


def test_tflite_latency_is_positive_seconds(float_tflite, task):
    _, x, _ = task
    one = measure.tflite_latency(float_tflite, x, batch=1, runs=5, warmup=1)
    many = measure.tflite_latency(float_tflite, x, batch=64, runs=5, warmup=1)
    assert 0 < one < 1 and 0 < many < 1


@pytest.mark.parametrize("runs", [0, -3])
def test_tflite_latency_rejects_no_runs(float_tflite, task, runs):
    with pytest.raises(ValueError) as info:
        measure.tflite_latency(float_tflite, task[1], runs=runs)
    assert "runs must be at least 1" in str(info.value) and str(runs) in str(info.value)


@pytest.fixture(scope="module")
def slow_and_fast(task):
    """A 784-1024-1024-10 MLP (~1.8 M MACs) and a 784-4-10 one (~3 k): far apart in time."""
    blobs = []
    for hidden in ((1024, 1024), (4,)):
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                  *[keras.layers.Dense(h, activation="relu") for h in hidden], keras.layers.Dense(10)])  # fmt: skip
        blobs.append(measure.to_tflite(model))
    return blobs


def test_tflite_speedup_orders_the_files_and_finds_one_file_as_fast_as_itself(slow_and_fast, task):
    slow, fast = slow_and_fast
    x = task[1]
    assert measure.tflite_speedup(slow, fast, x, blocks=3, runs=20) > 3
    assert measure.tflite_speedup(fast, slow, x, blocks=3, runs=20) < 1 / 3
    assert 0.8 < measure.tflite_speedup(slow, slow, x, blocks=3, runs=20) < 1.25


def test_tflite_speedup_divides_out_a_slowdown_that_latencies_taken_apart_do_not(slow_and_fast, task, monkeypatch):
    """The machine 'slows down' 3x half-way (the clock runs 3x fast): two latencies taken apart
    are off by about 3x, the side-by-side ratio is not."""
    slow, fast = slow_and_fast
    x = task[1]
    true = measure.tflite_speedup(slow, fast, x, blocks=3, runs=20)
    real, calls, switch = measure.time.perf_counter, [0], [None]

    def clock():
        calls[0] += 1
        now = real()
        if calls[0] > 200 and switch[0] is None:  # after the first latency (100 runs, 2 calls each)
            switch[0] = now
        return now if switch[0] is None else switch[0] + 3 * (now - switch[0])

    monkeypatch.setattr(measure.time, "perf_counter", clock)
    apart = measure.tflite_latency(slow, x, runs=100, warmup=0) / measure.tflite_latency(fast, x, runs=100, warmup=0)
    assert apart < true / 2, "the fake slowdown hit the second latency only"
    calls[0], switch[0] = 0, None
    paired = measure.tflite_speedup(slow, fast, x, blocks=5, runs=20)  # the slowdown starts in block 2 of 5
    assert true / 1.5 < paired < true * 1.5


@pytest.mark.parametrize("blocks, runs", [(0, 10), (3, 0)])
def test_tflite_speedup_rejects_no_blocks_or_runs(float_tflite, task, blocks, runs):
    with pytest.raises(ValueError, match="must be at least 1"):
        measure.tflite_speedup(float_tflite, float_tflite, task[1], blocks=blocks, runs=runs)


# ----------------------------------------------------------------------------- the record


def test_measure_returns_a_consistent_record(template_model, task):
    _, x, y = task
    test_data = types.SimpleNamespace(x_test=x, y_test=y)
    m = measure.measure("template", test_data, template_model, runs=5, batch_runs=2)
    assert m.name == "template"
    assert m.params == measure.count_params(template_model) == 784 * 32 + 32 + 32 * 10 + 10
    assert m.nonzeros == measure.count_nonzeros(template_model)
    assert m.tflite_bytes == len(measure.to_tflite(template_model))
    assert 0 < m.tflite_gz <= m.tflite_bytes * 1.01
    assert m.keras_accuracy == m.tflite_accuracy == measure.keras_accuracy(template_model, x, y)
    assert m.latency_b1_us > 0 and m.latency_b256_ms > 0
    assert m.keras_bytes > m.params * 4 and 0 < m.keras_gz <= m.keras_bytes * 1.01
    d = m.as_dict()
    assert d["name"] == "template" and d["params"] == m.params
    assert set(d) == {f.name for f in dataclasses.fields(measure.Measurement)}


def test_measure_uses_the_given_flatbuffer(template_model, task):
    _, x, y = task
    q = int8_tflite(template_model, x)
    m = measure.measure(
        "int8", types.SimpleNamespace(x_test=x, y_test=y), template_model, tflite=q, runs=3, batch_runs=1
    )
    assert m.tflite_bytes == len(q)
    assert m.params == measure.count_params(template_model)  # still from Keras
    assert m.tflite_accuracy == measure.tflite_accuracy(q, x, y)


def test_measure_needs_a_model(task):
    with pytest.raises(ValueError) as info:
        measure.measure("x", types.SimpleNamespace(x_test=task[1], y_test=task[2]), None, tflite=b"")
    assert "needs the Keras model" in str(info.value)


# ----------------------------------------------------------------------------- the table


def sample_measurement(name="pruned 50 %", **changes):
    values = dict(
        name=name, params=266_610, nonzeros=133_305, tflite_bytes=1_069_000, tflite_gz=600_123,
        tflite_accuracy=0.8812, latency_b1_us=41.7, latency_b256_ms=3.25,
        keras_accuracy=0.8815, keras_bytes=1_080_000, keras_gz=610_000,
    )  # fmt: skip
    values.update(changes)
    return measure.Measurement(**values)


def test_table_text_has_every_column_and_row():
    text = repr(measure.table(sample_measurement(), sample_measurement("baseline", keras_bytes=None)))
    for title, _, _ in measure._COLUMNS:
        assert title in text
    assert "pruned 50 %" in text and "baseline" in text
    assert "88.12%" in text and "266,610" in text and "600,123 B" in text and "3.25 ms" in text
    assert "–" in text  # a missing value is shown as a dash, not "None"
    assert "None" not in text
    lines = text.splitlines()
    assert len(lines) == 1 + 2 + 1  # header, two rows, the note
    assert len(lines[0]) == len(lines[1]) == len(lines[2])  # aligned columns
    assert "Latency" in lines[-1]


def test_table_html_escapes_names():
    html = measure.table(sample_measurement("<b>x</b>"), note="a < b")._repr_html_()
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "a &lt; b" in html
    for title, _, _ in measure._COLUMNS:
        assert f"<th>{title}</th>" in html
    assert html.count("<tr>") == 2


# ----------------------------------------------------------------------------- wrapped models, MACs


def test_count_macs_of_the_baselines():
    from helpers import models

    assert measure.count_macs(models.build_mlp()) == 784 * 300 + 300 * 100 + 100 * 10
    conv = 26 * 26 * 9 * 32 + 11 * 11 * 9 * 32 * 64
    assert measure.count_macs(models.build_cnn()) == conv + 1600 * 128 + 128 * 10


def test_count_macs_counts_depthwise_convolutions():
    """MobileNet's 3x3 depthwise layers do k_h k_w C MACs per output position (they were once left out)."""
    import tf_keras as keras

    net = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.DepthwiseConv2D(3, padding="same"),
                            keras.layers.Conv2D(6, 1), keras.layers.Flatten(), keras.layers.Dense(2)])  # fmt: skip
    assert measure.count_macs(net) == 8 * 8 * 9 * 4 + 8 * 8 * 4 * 6 + 8 * 8 * 6 * 2


def test_clustering_bookkeeping_is_not_counted():
    import tensorflow_model_optimization as tfmot

    from helpers import models

    base = models.build_mlp()
    clustered = tfmot.clustering.keras.cluster_weights(
        base,
        number_of_clusters=8,
        cluster_centroids_init=tfmot.clustering.keras.CentroidInitialization.LINEAR,
    )
    assert measure.count_params(clustered) == 266_610
    assert [r.weights for r in measure.layer_sparsity(clustered)] == [235_200, 30_000, 1_000]


def test_a_pruned_model_after_fit_counts_its_zeros(tmp_path):
    import tensorflow_model_optimization as tfmot

    from helpers import models

    sk = tfmot.sparsity.keras
    pruned = sk.prune_low_magnitude(models.build_mlp(), pruning_schedule=sk.ConstantSparsity(0.8, 0, frequency=1))
    models.compile_model(pruned)
    x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
    pruned.fit(x, np.arange(64) % 10, batch_size=8, epochs=2, verbose=0, callbacks=[sk.UpdatePruningStep()])
    assert measure.count_params(pruned) == 266_610  # masks, thresholds, steps are not parameters
    # Before stripping, the kernels still hold the optimizer's last step at masked positions
    # (TF-MOT re-applies the mask on the next forward pass): count after strip_pruning.
    stripped = sk.strip_pruning(pruned)
    kernels = 266_200
    zeros = round(0.8 * 235_200) + round(0.8 * 30_000) + round(0.8 * 1_000)
    assert measure.count_nonzeros(stripped) <= kernels - zeros + 410
    assert [round(r.sparsity, 3) for r in measure.layer_sparsity(stripped)] == [0.8, 0.8, 0.8]


@pytest.mark.parametrize("kind", ["pruning", "clustering", "quantization"])
def test_measure_refuses_wrapped_models_with_what_to_do(kind):
    import tensorflow_model_optimization as tfmot

    from helpers import models

    base = models.build_mlp()
    if kind == "pruning":
        wrapped, advice = tfmot.sparsity.keras.prune_low_magnitude(base), "strip_pruning"
    elif kind == "clustering":
        wrapped, advice = tfmot.clustering.keras.cluster_weights(base, number_of_clusters=4), "strip_clustering"
    else:
        wrapped, advice = tfmot.quantization.keras.quantize_model(base), "tflite="
    with pytest.raises(ValueError, match=advice):
        measure.measure("wrapped", _FakeData(), wrapped)


class _FakeData:
    x_test = np.zeros((4, 28, 28), np.float32)
    y_test = np.zeros(4, np.int32)


def test_measure_records_per_layer_sparsity():
    from helpers import models

    model = models.build_mlp()
    kernel = model.get_layer("dense_1").kernel
    kernel.assign(np.where(np.arange(kernel.shape[1]) % 2 == 0, 0.0, kernel.numpy()))
    m = measure.measure("half of dense_1", _FakeData(), model, runs=2, batch_runs=1)
    assert m.sparsity_per_layer["dense_1"] == pytest.approx(0.5, abs=1e-4)
    assert m.sparsity_per_layer["dense_0"] == 0.0


def test_a_subclassed_model_is_measured_without_keras_file_columns():
    from helpers import models

    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__()
            self.inner = models.build_mlp()

        def call(self, x):
            return self.inner(x)

    model = Wrapper()
    model(np.zeros((1, 28, 28), np.float32))
    m = measure.measure("subclassed", _FakeData(), model, runs=2, batch_runs=1)
    assert m.keras_bytes is None and m.keras_gz is None and m.tflite_bytes > 1_000_000


def test_tflite_runs_images_with_or_without_a_channel_axis():
    """A model built on (28, 28, 1) (lesson 05's designed CNN) measured on (N, 28, 28) images, and the reverse."""
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    with_channel = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                                     keras.layers.Dense(10)])  # fmt: skip
    without = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    for model, images in ((with_channel, x), (without, x[..., None])):
        blob = measure.to_tflite(model)
        expected = model.predict(images.reshape(len(images), *model.input_shape[1:]), verbose=0)
        np.testing.assert_allclose(measure.tflite_predict(blob, images), expected, rtol=1e-4, atol=1e-4)
        assert measure.tflite_latency(blob, images, runs=2, warmup=0) > 0
    with pytest.raises((ValueError, RuntimeError)):
        measure.tflite_predict(measure.to_tflite(without), x[:, :27])  # a different image size is not fixed up
