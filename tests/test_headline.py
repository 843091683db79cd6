"""Lesson 04's headline recipe (helpers/combining/headline.py): each step does what it says, on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from test_pruning import tiny_data

from helpers import measure, models
from helpers.combining import headline

TINY = headline.Recipe(widths=(("dense_0", 40), ("dense_1", 20)), sparsity=(("dense_0", 0.7), ("dense_1", 0.5)),
                       epochs=2, qat_epochs=1)  # fmt: skip


@pytest.fixture(scope="module")
def steps():
    d = tiny_data()
    ref = headline.reference(d, seed=0, epochs=2)
    teacher = ref.predict(d.x_train, verbose=0)
    narrow = headline.narrow(ref, TINY)
    sparse = headline.prune_distilled(narrow, d, teacher, TINY)
    qat = headline.qat_4bit_distilled(sparse, d, teacher, TINY)
    return d, ref, narrow, sparse, qat


def test_the_loss_is_cross_entropy_at_alpha_1_and_distillation_at_alpha_0():
    labels = np.array([2, 0], np.float32)
    teacher = np.array([[0.0, 1.0, 3.0], [2.0, 0.0, -1.0]], np.float32)
    student = tf.constant([[0.5, 0.2, 1.0], [1.0, -0.5, 0.3]])
    y = tf.constant(headline.packed(labels, teacher))
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels.astype(np.int32), logits=student)
    np.testing.assert_allclose(headline.distillation_loss(2.0, 1.0)(y, student), hard, rtol=1e-6)
    soft = 4.0 * tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(teacher / 2.0), logits=student / 2.0)
    np.testing.assert_allclose(headline.distillation_loss(2.0, 0.0)(y, student), soft, rtol=1e-6)
    assert not np.allclose(hard, soft)  # the two halves differ, so the weighting is tested


def test_the_model_is_narrowed_and_pruned_to_the_recipe(steps):
    _, ref, narrow, sparse, _ = steps
    assert [layer.units for layer in narrow.layers if hasattr(layer, "units")] == [40, 20, 10]
    assert ref.count_params() > 5 * narrow.count_params()
    zeros = {layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in measure.kernel_layers(sparse)}
    assert zeros["dense_0"] == pytest.approx(0.7, abs=0.01) and zeros["dense_1"] == pytest.approx(0.5, abs=0.01)
    assert zeros["logits"] < 0.05, "the output layer stays dense"


def test_qat_keeps_the_zeros_and_the_int4_file_is_smaller_than_int8(steps):
    _, _, _, sparse, qat = steps
    for before, after in zip(measure.kernel_layers(sparse), measure.kernel_layers(qat), strict=True):
        was_zero = before.kernel.numpy() == 0
        assert np.all(after.kernel.numpy()[was_zero] == 0), f"{before.name}: QAT filled pruned weights in"
        assert not np.allclose(before.kernel.numpy(), after.kernel.numpy()), "QAT trained the kernels"
    int4 = headline.int4_file(qat)
    from helpers.quantization import quantize

    assert len(int4) < 0.7 * len(quantize.convert(qat, "dynamic"))


def test_bad_settings_are_refused_with_a_message():
    with pytest.raises(headline.HeadlineError, match="sparsity"):
        headline.Recipe(sparsity=(("dense_0", 1.2),)).check()
    with pytest.raises(headline.HeadlineError, match="temperature"):
        headline.Recipe(temperature=0).check()
    with pytest.raises(headline.HeadlineError, match="same examples"):
        headline.packed(np.zeros(3), np.zeros((2, 10)))
    with pytest.raises(headline.HeadlineError, match="No layer"):
        headline.prune_distilled(models.build_mlp(), tiny_data(), np.zeros((1, 10)),
                                 headline.Recipe(sparsity=(("conv_9", 0.5),)))  # fmt: skip


def test_paired_mean_and_standard_error():
    mean, se = headline.paired([-0.3, -0.5, -0.1])
    assert mean == pytest.approx(-0.3) and se == pytest.approx(0.2 / np.sqrt(3))
    assert np.isnan(headline.paired([1.0])[1])
