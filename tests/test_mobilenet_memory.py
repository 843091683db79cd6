"""Lesson 06 section 14 (helpers/your_model/mobilenet.py) and the memory guard (helpers/your_model/memory.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras

from helpers import measure
from helpers.your_model import compress, memory, mobilenet


@pytest.fixture(scope="module")
def mobile():
    keras.utils.set_random_seed(0)
    return mobilenet.build_mobilenet()


def test_the_mobilenet_is_mobilenet_v2_at_alpha_035_on_28_pixel_images(mobile):
    assert mobile.input_shape == (None, 28, 28) and mobile.output_shape == (None, 10)
    assert mobile.count_params() == 422_730
    assert {la.momentum for la in mobile.layers if isinstance(la, keras.layers.BatchNormalization)} == {0.9}
    kinds = {s.kind: s for s in mobilenet.kernel_kinds(mobile)}
    assert kinds["depthwise 3x3"].layers == 17 and kinds["pointwise 1x1"].layers == 34
    assert sum(s.macs for s in kinds.values()) == measure.count_macs(mobile)  # the same formulas
    assert kinds["pointwise 1x1"].weights > 0.85 * sum(s.weights for s in kinds.values())


def test_fake_quantized_rounds_only_the_kinds_asked_and_folds_batchnorm(mobile):
    """Per-tensor rounding of the depthwise kernels leaves more distinct channels at zero than per-channel;
    the other kernels are untouched; 8 bits per channel change the outputs less than 4 bits per tensor."""
    rng = np.random.default_rng(0)
    for layer in mobile.layers:  # spread BatchNorm scales as training does, so folding matters
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.05, 3.0, layer.gamma.shape).astype(np.float32))
    x = rng.random((8, 28, 28), dtype=np.float32)
    per_tensor = mobilenet.fake_quantized(mobile, 4, ("depthwise 3x3",), per_channel=False)
    per_channel = mobilenet.fake_quantized(mobile, 4, ("depthwise 3x3",), per_channel=True)
    for a, b in zip(mobile.layers, per_tensor.layers, strict=True):
        changed = any(not np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
        assert changed == (mobilenet.kind(a) == "depthwise 3x3"), a.name
    reference = mobile(x).numpy()
    err = {name: float(np.abs(m(x).numpy() - reference).mean()) for name, m in (("pt", per_tensor), ("pc", per_channel))}
    assert err["pc"] < err["pt"]
    with pytest.raises(ValueError, match="bits"):
        mobilenet.fake_quantized(mobile, 1)
    with pytest.raises(ValueError, match="unknown kernel kinds"):
        mobilenet.fake_quantized(mobile, 4, ("depthwise",))


def test_zeroed_sets_the_smallest_weights_of_each_kernel_to_zero(mobile):
    half = mobilenet.zeroed(mobile, 0.5, ("depthwise 3x3",))
    for a, b in zip(mobile.layers, half.layers, strict=True):
        if mobilenet.kind(a) == "depthwise 3x3":
            w, z = a.get_weights()[0], b.get_weights()[0]
            assert 0.49 <= float(np.mean(z == 0)) <= 0.55
            kept = np.abs(w[z != 0])
            assert kept.min() >= np.abs(w[z == 0]).max()  # the smallest went
        elif mobilenet.kind(a) is not None:
            assert np.array_equal(a.get_weights()[0], b.get_weights()[0])
    with pytest.raises(ValueError, match="sparsity"):
        mobilenet.zeroed(mobile, 1.0)


def test_the_memory_estimate_grows_with_the_model_and_the_guard_refuses_what_does_not_fit(mobile):
    small = compress.build_shipped()
    a, b = memory.estimate(small, available=10**12), memory.estimate(mobile, available=10**12)
    assert memory.IMPORTED < a.peak < b.peak and a.fits and b.fits
    assert b.training > 2 * 4 * 128 * 400_000  # a batch's layer outputs, kept for the backward pass
    assert memory.guard(mobile, available=10**12) is not None
    with pytest.raises(compress.CapstoneError, match=r"need about \d+\.\d GB.*free now: 0\.5 GB.*Ways out"):
        memory.guard(mobile, available=500_000_000)
    assert memory.available_bytes() > 0  # psutil comes with the Jupyter stack
    assert "free now: unknown" in str(memory.MemoryEstimate("m", 1, 1, 1, 1, None, 128))


def test_weight_types_reads_what_the_int4_recipe_rewrote():
    keras.utils.set_random_seed(0)
    types = mobilenet.weight_types(compress.int4_weights(compress.build_shipped()))
    assert types == {"CONV_2D": {"INT4": 4}, "FULLY_CONNECTED": {"INT4": 1}}


def _tiny_data(n=256, n_test=64):
    from helpers import data

    rng = np.random.default_rng(0)
    x, y = rng.random((n, 28, 28), dtype=np.float32), (np.arange(n) % 10).astype(np.int32)
    xt, yt = rng.random((n_test, 28, 28), dtype=np.float32), (np.arange(n_test) % 10).astype(np.int32)
    return data.Dataset("fashion_mnist", "test", "fast", x, y, xt, yt, data.FASHION_CLASSES, xt[:20], yt[:20])


def test_run_recipes_measures_every_recipe_and_both_studies(monkeypatch):
    """``run_recipes`` (what MOBILENET = True and tools/mobilenet_recipes.py run) on a small depthwise model with
    BatchNorm and a residual Add, one epoch per fine-tune: every row, the studies for both models, the plan."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(L.Reshape((28, 28, 1))(inputs))
    x = L.ReLU()(L.BatchNormalization(name="stem_bn")(x))
    y = L.ReLU()(L.BatchNormalization(name="dw_bn")(L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)))
    y = L.BatchNormalization(name="pw_bn")(L.Conv2D(8, 1, use_bias=False, name="pw")(y))
    x = L.GlobalAveragePooling2D()(L.Add()([x, y]))
    small_mobile = keras.Model(inputs, L.Dense(10, name="logits")(x), name="mobilenet_v2")
    from helpers import models

    models.compile_model(small_mobile)
    shipped = models.compile_model(compress.build_shipped())
    monkeypatch.setattr(compress, "finetune_epochs", lambda d, **_: 1)
    d = _tiny_data()
    run = mobilenet.run_recipes(small_mobile, shipped, d, d, distil=False)
    assert list(run["rows"]) == ["float32", "int8", "int4", "pruned", "control", "channels", "clustered"]
    assert all(r["name"].startswith("mobilenet_v2 ") for r in run["rows"].values())
    assert 0 <= run["rows"]["pruned"]["sparsity"] <= 0.75
    assert run["int4_weight_types"]["DEPTHWISE_CONV_2D"] == {"FLOAT32": 1}
    assert run["plan"]["macs_after"] < run["plan"]["macs_before"]
    assert set(run["rounding"]) == set(run["zeroing"]) == {"mobilenet_v2", "small_resnet"}
    assert run["rounding"]["small_resnet"]["int4 per-tensor, depthwise only"] is None  # no depthwise kernel there
    assert [m.name for m in mobilenet.measurements(run)] == [r["name"] for r in run["rows"].values()]


def test_the_stored_mobilenet_run_is_a_full_mode_fashion_mnist_run_of_every_recipe():
    run = mobilenet.precomputed_run()
    made = run["provenance"]
    assert (made["mode"], made["data"], made["test_images"]) == ("full", "fashion_mnist", 10_000)
    assert made["produced_by"] == "python tools/mobilenet_recipes.py"
    assert list(run["rows"]) == ["float32", "int8", "int4", "pruned", "control", "channels", "clustered", "student"]
    assert run["rows"]["float32"]["params"] == 422_730


def test_a_missing_stored_run_names_the_command_that_makes_it(monkeypatch, tmp_path):
    monkeypatch.setattr(mobilenet, "ledger_path", lambda: tmp_path / "missing.json")
    with pytest.raises(compress.CapstoneError, match=r"tools/mobilenet_recipes\.py.*MOBILENET = True"):
        mobilenet.precomputed_run()
