"""A reader's own model at the helpers' boundary (issue 16): each input that used to end in a raw
TF/TF-MOT error or a silently wrong result now gets a ``WorkbookError`` naming the problem and the
fix, or the right result."""

from __future__ import annotations

import warnings

import keras as keras3  # Keras 3, as a reader's `import keras` gives it
import numpy as np
import pytest
import tf_keras as keras
from test_pruning import tiny_data

from helpers import config, conversion_check, data, keras_compat, measure, models
from helpers.combining import clustering
from helpers.distillation import distiller
from helpers.keras_compat import ModelError
from helpers.pruning import magnitude, schedule
from helpers.pruning.schedule import ScheduleSettings
from helpers.pruning.sparsity import PruningSettingsError
from helpers.quantization import qat, quantize


@pytest.fixture(scope="module")
def trained_mlp():
    keras.utils.set_random_seed(0)  # the same model whatever ran before (the calibration test needs a trained one)
    d = tiny_data()
    model = models.compile_model(models.build_mlp(hidden=(32,)))
    models.train(model, d, 3)
    return model, d


def keras3_mlp():
    return keras3.Sequential([keras3.Input((28, 28)), keras3.layers.Flatten(), keras3.layers.Dense(10)])


# ----------------------------------------------------------------------------- 1. Keras 3 models


@pytest.mark.parametrize("technique", ["pruning", "clustering", "qat"])
def test_keras3_model_gets_a_message_with_the_rebuild_recipe(technique):
    model, d = keras3_mlp(), tiny_data()
    call = {
        "pruning": lambda: magnitude.prune_and_finetune(model, d, schedule.gradual_schedule(0.5, 10), 1),
        "clustering": lambda: clustering.cluster(model, d, 8),
        "qat": lambda: qat.quantization_aware(model, d),
    }[technique]
    with pytest.raises(ModelError, match="Keras 2 .tf_keras.") as info:
        call()
    assert "import tf_keras as keras" in str(info.value) and "set_weights" in str(info.value)
    assert isinstance(info.value, config.WorkbookError)


def test_to_tf_keras_rebuilds_a_keras3_sequential_model_with_its_weights():
    original = keras3.Sequential(
        [keras3.Input((28, 28)), keras3.layers.Flatten(), keras3.layers.Dense(16, activation="relu",
         kernel_regularizer="l2"), keras3.layers.BatchNormalization(), keras3.layers.Dense(10)]
    )  # fmt: skip
    rebuilt = keras_compat.to_tf_keras(original)
    x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    assert keras_compat.flavour(rebuilt) == "tf_keras" and keras_compat.flavour(original) == "keras3"
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), original.predict(x, verbose=0), atol=1e-5)


def test_subclassed_model_is_refused_with_the_reason():
    net = _subclassed()
    assert keras_compat.structure(net) == "subclassed"
    with pytest.raises(ModelError, match="subclassed model.*Sequential or functional"):
        magnitude.prune_and_finetune(net, tiny_data(), schedule.gradual_schedule(0.5, 10), 1)


# ----------------------------------------------------------------------------- 2. QAT on unsupported layers


@pytest.mark.parametrize("layer", [keras.layers.LayerNormalization, lambda: keras.layers.Rescaling(1 / 255)])
def test_qat_names_the_unsupported_layer_and_the_ways_out(layer):
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), layer(), keras.layers.Dense(10)])
    with pytest.raises(ModelError) as info:
        qat.quantization_aware(model, tiny_data(), epochs=1)
    text = str(info.value)
    assert model.layers[1].name in text
    assert "quantize_annotate_layer" in text and "preprocessing" in text and "post-training int8" in text


# ----------------------------------------------------------------------------- 3. a teacher giving probabilities


def test_distillation_loss_refuses_probabilities_and_accepts_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 10)).astype(np.float32) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.arange(8) % 10
    with pytest.raises(ModelError, match="probabilities.*logits"):
        distiller.distillation_loss(labels, logits, probs, 0.1, 4.0)
    total, _, soft = distiller.distillation_loss(labels, logits, logits, 0.1, 4.0)
    assert float(soft) == pytest.approx(0.0, abs=1e-5) and np.isfinite(float(total))
    # log-probabilities are logits up to a constant: the fix the message names works
    _, _, soft_log = distiller.distillation_loss(labels, logits, np.log(probs), 0.1, 4.0)
    assert float(soft_log) == pytest.approx(0.0, abs=1e-4)


def test_distiller_and_teacher_logits_refuse_a_softmax_teacher():
    teacher = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ModelError, match="softmax"):
        distiller.Distiller(models.build_mlp(hidden=(8,)), teacher)
    with pytest.raises(ModelError, match="probabilities"):
        distiller.teacher_logits(teacher, np.zeros((4, 28, 28), np.float32))


# ----------------------------------------------------------------------------- 4. the hint names the cause that applies


def test_no_mask_update_note_names_frequency_not_begin_step():
    settings = ScheduleSettings("constant", 0.0, 0.8, begin_step=0, end_step=0, frequency=100)
    preview = schedule.explorer_preview(settings, 64, 1)  # 64 training steps
    note = " ".join(preview.notes)
    assert len(preview.prune_steps) == 0
    assert "frequency 100" in note and "step 100" in note and "begin_step" not in note


def test_no_mask_update_note_names_a_late_begin_step():
    preview = schedule.explorer_preview(ScheduleSettings("constant", 0.0, 0.8, 500, 0, 10), 64, 1)
    note = " ".join(preview.notes)
    assert "begin_step 500 comes after the last training step" in note
    assert "end_step" not in note  # ConstantSparsity has none: the hint must not name it


# ----------------------------------------------------------------------------- 5. 2:4 on a layer with 1 input channel


def test_m_by_n_fraction_explains_a_layer_with_too_few_input_channels():
    with pytest.raises(PruningSettingsError, match="fewer than 4.*cannot be grouped"):
        magnitude.m_by_n_fraction(np.ones((3, 3, 1, 8)))
    assert magnitude.m_by_n_problem((3, 3, 32, 64)) is None


def test_two_four_pruning_names_the_layer_it_leaves_dense(capsys):
    d = tiny_data(n=128)
    cnn = models.compile_model(models.build_cnn(filters=(4, 8), dense=16))
    result = magnitude.prune_and_finetune(cnn, d, ScheduleSettings("constant", 0, 0.5, 0, 0, 1), 1, m_by_n=(2, 4))
    assert result.settings["m_by_n_left_dense"] == ["conv_0"]
    assert "left conv_0 dense" in capsys.readouterr().out
    assert result.model.get_layer("conv_0").kernel.numpy().all()  # dense, as the note says
    assert magnitude.m_by_n_fraction(result.model.get_layer("conv_1").kernel.numpy()) == 1.0


# ----------------------------------------------------------------------------- 6. small kernels in stored_weights


def test_stored_weights_shows_the_small_float_kernel_dynamic_range_leaves():
    cnn = models.build_cnn(filters=(8, 16), dense=32)
    tensors = quantize.stored_weights(quantize.convert(cnn, "dynamic"))
    by_shape = {t.shape: t.dtype for t in tensors}
    assert by_shape[(8, 3, 3, 1)] == "float32"  # 72 weights: under the old 100-element cut
    assert len(tensors) == 4  # both convs and both dense kernels


# ----------------------------------------------------------------------------- silently wrong results


def test_softmax_models_are_trained_on_probabilities_not_as_logits():
    probs_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    assert models.compile_model(probs_model).loss.get_config()["from_logits"] is False
    assert models.compile_model(models.build_mlp()).loss.get_config()["from_logits"] is True


def test_accuracy_refuses_one_hot_labels_and_a_single_output(trained_mlp):
    model, d = trained_mlp
    one_hot = np.eye(10, dtype=np.float32)[d.y_test]
    with pytest.raises(ModelError, match="one-hot.*argmax"):
        measure.keras_accuracy(model, d.x_test, one_hot)
    with pytest.raises(ModelError, match="single output"):
        measure.accuracy(np.zeros((5, 1)), np.zeros(5, np.int32))


def test_measure_refuses_images_of_another_shape(trained_mlp):
    model, d = trained_mlp
    flat = data.Dataset("x", "t", "fast", d.x_train, d.y_train, d.x_test.reshape(-1, 784), d.y_test, d.class_names)
    with pytest.raises(ModelError, match=r"shape \(784,\).*takes \(28, 28\).*reshape"):
        measure.measure("flat", flat, model, runs=2, batch_runs=1)


# ----------------------------------------------------------------------------- the check after every conversion


def test_measure_records_agreement_and_stays_quiet_for_a_good_conversion(trained_mlp):
    model, d = trained_mlp
    with warnings.catch_warnings():
        warnings.simplefilter("error", conversion_check.ConversionWarning)
        m = measure.measure("int8", d, model, tflite=quantize.convert(model, "int8", d.x_train), runs=2, batch_runs=1)
    assert m.agreement >= 0.9


def test_measure_flags_calibration_data_scaled_differently(trained_mlp):
    model, d = trained_mlp
    badly_calibrated = quantize.convert(model, "int8", d.x_train * 255)  # 0-255 vs the 0-1 data
    with pytest.warns(conversion_check.ConversionWarning, match="calibrated on representative images scaled differently"):
        m = measure.measure("int8 0-255", d, model, tflite=badly_calibrated, runs=2, batch_runs=1)
    assert m.agreement < 0.9


def test_fidelity_flags_nan_outputs():
    reference = np.eye(10)[np.arange(20) % 10]
    converted = reference.copy()
    converted[3, 2] = np.nan
    flat = quantize.convert(keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)]), "float32")
    agreement = conversion_check.compare(reference, converted, flat, np.zeros((20, 28, 28), np.float32))
    assert agreement.flagged and agreement.nonfinite == 1 and "NaN" in agreement.message()


# ----------------------------------------------------------------------------- further cases of the same kinds


def _subclassed():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat, self.out = keras.layers.Flatten(), keras.layers.Dense(10)

        def call(self, x):
            return self.out(self.flat(x))

    net = Net()
    net(np.zeros((1, 28, 28), np.float32))
    return net


def test_every_copy_based_helper_refuses_a_subclassed_model_with_the_reason():
    net = _subclassed()
    for call in (lambda: models.copy_model(net), lambda: magnitude.finetune_dense(net, tiny_data(), 1),
                 lambda: quantize.fake_quantized_model(net, 4), lambda: measure.count_macs(net)):  # fmt: skip
        with pytest.raises(ModelError, match="subclassed"):
            call()


def test_training_refuses_one_hot_labels_and_images_of_another_shape():
    d = tiny_data()
    one_hot = data.Dataset("x", "t", "fast", d.x_train, np.eye(10, dtype=np.int32)[d.y_train], d.x_test, d.y_test, d.class_names)
    with pytest.raises(ModelError, match="one-hot"):
        models.train(models.compile_model(models.build_mlp(hidden=(8,))), one_hot, 1)
    flat = data.Dataset("x", "t", "fast", d.x_train.reshape(-1, 784), d.y_train, d.x_test, d.y_test, d.class_names)
    with pytest.raises(ModelError, match="takes \\(28, 28\\)"):
        models.train(models.compile_model(models.build_mlp(hidden=(8,))), flat, 1)
    with pytest.raises(ModelError, match="takes \\(28, 28\\)"):
        distiller.teacher_logits(models.build_mlp(hidden=(8,)), d.x_test.reshape(-1, 784))


def test_a_conversion_warning_shows_without_a_file_path():
    text = warnings.formatwarning("disagree", conversion_check.ConversionWarning, "/some/where/helpers/measure.py", 3)
    assert text == "ConversionWarning: disagree\n"
    assert "/some/where" in warnings.formatwarning("other", UserWarning, "/some/where/x.py", 3)


def test_a_qat_disagreement_names_the_converter_not_the_bits():
    reference = np.eye(10)[np.arange(40) % 10]
    converted = np.eye(10)[(np.arange(40) + 1) % 10]  # every answer different
    flat = quantize.convert(keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)]), "float32")
    x, y = np.zeros((40, 28, 28), np.float32), np.arange(40) % 10
    plain = conversion_check.compare(reference, converted, flat, x, y)
    qat = conversion_check.compare(reference, converted, flat, x, y, qat=True)
    assert plain.flagged and "quantization error is too large" in plain.message()
    assert qat.flagged and "converter did not reproduce it" in qat.message()


def test_to_tf_keras_rebuilds_a_keras3_functional_model_with_a_skip_connection():
    inputs = keras3.Input((28, 28))
    x = keras3.layers.Reshape((28, 28, 1))(inputs)
    x = keras3.layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    y = keras3.layers.BatchNormalization()(x)
    x = keras3.layers.ReLU()(keras3.layers.Add()([x, y]))
    outputs = keras3.layers.Dense(10)(keras3.layers.GlobalAveragePooling2D()(x))
    original = keras3.Model(inputs, outputs)
    original.layers[3].set_weights([w + 0.5 for w in original.layers[3].get_weights()])  # BN statistics that matter
    rebuilt = keras_compat.to_tf_keras(original)
    x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    assert keras_compat.structure(rebuilt) == "functional" and rebuilt.count_params() == original.count_params()
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), original.predict(x, verbose=0), atol=1e-5)


def test_conversion_and_measure_refuse_a_keras3_model_without_blaming_tf_mot():
    """Conversion and measure() do not use TF-MOT: their message says what they need, not "uses TF-MOT"."""
    from helpers.quantization import quantize

    model, d = keras3_mlp(), tiny_data()
    with pytest.raises(keras_compat.ModelError, match=r"^Conversion in this workbook runs on a Keras 2") as conversion:
        quantize.convert(model, "int8", representative=d.x_train[:8])
    with pytest.raises(keras_compat.ModelError, match=r"^measure\(\) runs on a Keras 2") as measured:
        measure.measure("k3", d, model)
    for caught in (conversion, measured):
        assert "TF-MOT" not in str(caught.value) and "to_tf_keras" in str(caught.value)
