"""helpers.pruning.magnitude: schedule validation, TF-MOT curves, prune-and-fine-tune, the scan, the explorer's logic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from helpers import data, measure, models, results
from helpers.pruning import magnitude, schedule
from helpers.pruning.schedule import ScheduleSettings
from helpers.pruning.sparsity import PruningSettingsError

sk = tfmot.sparsity.keras


def tiny_data(n=256, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.int32)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.3
    x[np.arange(n), y, y] += 1.0  # a learnable pixel per class
    yt = (np.arange(n_test) % 10).astype(np.int32)
    xt = rng.random((n_test, 28, 28), dtype=np.float32) * 0.3
    xt[np.arange(n_test), yt, yt] += 1.0
    return data.Dataset("fashion_mnist", "test", "fast", x, y, xt, yt, data.FASHION_CLASSES, xt[:50], yt[:50])


@pytest.fixture(scope="module")
def trained():
    d = tiny_data()
    model = models.compile_model(models.build_mlp())
    models.train(model, d, 3)
    return model, d


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (
            ScheduleSettings(initial_sparsity=0.9, final_sparsity=0.5),
            ["final_sparsity 0.5 < initial_sparsity 0.9", "Swap"],
        ),
        (ScheduleSettings(final_sparsity=1.0), ["final_sparsity = 1.0", "[0, 1)"]),
        (ScheduleSettings(initial_sparsity=-0.1), ["initial_sparsity = -0.1", "[0, 1)"]),
        (ScheduleSettings(final_sparsity=math.nan), ["final_sparsity = nan"]),
        (ScheduleSettings(begin_step=100, end_step=100), ["end_step 100 <= begin_step 100", "larger"]),
        (ScheduleSettings(begin_step=200, end_step=100), ["end_step 100 <= begin_step 200"]),
        (ScheduleSettings(frequency=0), ["frequency = 0", "1 or more"]),
        (ScheduleSettings(frequency=-5), ["frequency = -5"]),
        (ScheduleSettings(begin_step=-1, end_step=10), ["begin_step = -1", "from 0"]),
        (ScheduleSettings(end_step=10.5), ["end_step = 10.5", "whole number"]),
        (ScheduleSettings(power=0), ["power = 0", "positive"]),
        (ScheduleSettings(kind="linear"), ["'polynomial' or 'constant'"]),
    ],
)
def test_each_invalid_setting_is_named_with_what_to_do(settings, words):
    problems = " ".join(settings.problems())
    for word in words:
        assert word in problems, problems
    with pytest.raises(PruningSettingsError) as info:
        settings.build()
    assert all(word in str(info.value) for word in words)


def test_all_problems_are_reported_at_once():
    problems = ScheduleSettings(initial_sparsity=2.0, final_sparsity=1.5, frequency=0).problems()
    assert len(problems) == 3


def test_constant_schedule_ignores_the_polynomial_only_knobs():
    settings = ScheduleSettings(
        kind="constant", initial_sparsity=0.9, final_sparsity=0.5, begin_step=50, end_step=0, power=-1
    )
    assert settings.problems() == []
    assert isinstance(settings.build(), sk.ConstantSparsity)


def test_valid_settings_build_tfmot_schedules():
    built = ScheduleSettings("polynomial", 0.2, 0.8, 10, 110, 5, 2.0).build()
    assert isinstance(built, sk.PolynomialDecay)
    assert built.get_config()["config"]["final_sparsity"] == 0.8


# ----------------------------------------------------------------------------- curves


def test_curve_comes_from_tfmot_and_follows_zhu_gupta():
    settings = ScheduleSettings("polynomial", 0.5, 0.9, 0, 100, 10, 3.0)
    steps, target, prune_steps = schedule.schedule_curve(settings.build(), 150)
    assert steps[0] == 1 and steps[-1] == 150  # the wrapper counts training steps from 1
    expected = 0.9 + (0.5 - 0.9) * (1 - 50 / 100) ** 3
    assert target[steps == 50][0] == pytest.approx(expected, abs=1e-6)
    assert target[-1] == pytest.approx(0.9)
    assert list(prune_steps) == list(range(10, 101, 10))  # every 10 steps up to end_step, none after


def test_constant_curve_is_flat():
    steps, target, prune_steps = schedule.schedule_curve(ScheduleSettings("constant", 0, 0.7, 5, 0, 20).build(), 60)
    assert np.allclose(target, 0.7) and len(target) == 60
    assert list(prune_steps) == [5, 25, 45]


@pytest.mark.parametrize(
    ("begin", "frequency", "prunes"), [(0, 10, True), (0, 17, False), (16, 100, True), (17, 100, False)]
)
def test_preview_agrees_with_real_tfmot_training(begin, frequency, prunes):
    # 16 training steps: 2048 images, batch 128, 1 epoch. TF-MOT counts steps from 1.
    rng = np.random.default_rng(1)
    d = data.Dataset("fashion_mnist", "t", "fast", rng.random((2048, 28, 28), dtype=np.float32),
                     (np.arange(2048) % 10).astype(np.int32), np.zeros((10, 28, 28), np.float32),
                     np.arange(10, dtype=np.int32), data.FASHION_CLASSES)  # fmt: skip
    settings = ScheduleSettings("constant", 0.0, 0.8, begin, 0, frequency)
    preview = schedule.explorer_preview(settings, magnitude.steps_per_epoch(2048), 1)
    assert (len(preview.prune_steps) > 0) is prunes
    result = magnitude.prune_and_finetune(models.build_mlp(), d, settings, 1)
    assert magnitude.kernel_sparsity(result.model) == pytest.approx(0.8 if prunes else 0.0, abs=0.001)
    if not prunes:
        assert any("stays dense" in note for note in preview.notes)


def test_preview_never_raises_and_reports_problems():
    preview = schedule.explorer_preview(ScheduleSettings(final_sparsity=1.2, frequency=0), 50, 0)
    assert len(preview.problems) == 3 and len(preview.steps) == 0


def test_preview_notes_a_schedule_longer_than_training():
    preview = schedule.explorer_preview(ScheduleSettings("polynomial", 0.0, 0.9, 0, 500, 10), 100, 2)
    assert preview.problems == [] and preview.epoch_steps == [100, 200]
    note = " ".join(preview.notes)
    assert "ends at step 500" in note and "200 steps" in note and "not 90%" in note


def test_preview_notes_too_few_mask_updates():
    preview = schedule.explorer_preview(ScheduleSettings("polynomial", 0.0, 0.9, 0, 90, 60), 100, 1)
    assert any("mask updates" in note for note in preview.notes)


def test_gradual_schedule_fits_inside_training():
    settings = schedule.gradual_schedule(0.9, 300)
    assert settings.problems() == [] and settings.end_step == 210 and settings.final_sparsity == 0.9
    assert schedule.explorer_preview(settings, 100, 3).notes == []


# ----------------------------------------------------------------------------- prune and fine-tune


def test_prune_and_finetune_reaches_the_target_and_leaves_the_base_alone(trained):
    base, d = trained
    before = [w.copy() for w in base.get_weights()]
    steps = magnitude.steps_per_epoch(len(d.x_train)) * 4
    result = magnitude.prune_and_finetune(base, d, schedule.gradual_schedule(0.75, steps), 4)
    assert magnitude.kernel_sparsity(result.model) == pytest.approx(0.75, abs=0.002)
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights(), strict=True))
    assert not any("prune" in type(layer).__name__.lower() for layer in result.model.layers)  # stripped
    assert result.settings["epochs"] == 4 and result.seconds > 0


def test_keep_dense_and_per_layer_schedules(trained):
    base, d = trained
    steps = magnitude.steps_per_epoch(len(d.x_train)) * 2
    kept = magnitude.prune_and_finetune(base, d, schedule.gradual_schedule(0.8, steps), 2, keep_dense=("logits",))
    sparsity = {r.layer: r.sparsity for r in measure.layer_sparsity(kept.model)}
    assert sparsity["logits"] == 0 and sparsity["dense_0"] == pytest.approx(0.8, abs=0.002)
    per_layer = magnitude.prune_and_finetune(base, d, {"dense_1": schedule.gradual_schedule(0.5, steps)}, 2)
    sparsity = {r.layer: r.sparsity for r in measure.layer_sparsity(per_layer.model)}
    assert sparsity == {"dense_0": 0.0, "dense_1": pytest.approx(0.5, abs=0.002), "logits": 0.0}


def test_unknown_layer_names_are_refused(trained):
    base, d = trained
    with pytest.raises(PruningSettingsError, match="No layer named .'dense_9'."):
        magnitude.prune_and_finetune(base, d, {"dense_9": schedule.gradual_schedule(0.5, 10)}, 1)


def test_two_four_structure(trained):
    base, d = trained
    result = magnitude.prune_and_finetune(base, d, ScheduleSettings("constant", 0, 0.5, 0, 0, 1), 1, m_by_n=(2, 4))
    kernel = result.model.get_layer("dense_0").kernel.numpy()
    assert magnitude.m_by_n_fraction(kernel) == 1.0
    assert magnitude.kernel_sparsity(result.model) == pytest.approx(0.5, abs=0.001)


def test_dense_control_stays_dense_and_leaves_the_base_alone(trained):
    base, d = trained
    before = base.get_weights()[0].copy()
    control = magnitude.finetune_dense(base, d, 1)
    assert magnitude.kernel_sparsity(control) == 0
    assert np.array_equal(before, base.get_weights()[0])
    assert not np.array_equal(before, control.get_weights()[0])


def test_m_by_n_fraction_on_known_kernels():
    dense = np.ones((8, 3))
    two_four = np.ones((8, 3))
    two_four[[0, 1, 4, 6], :] = 0  # groups (0-3) and (4-7) of inputs each hold two zeros
    assert magnitude.m_by_n_fraction(dense) == 0.0
    assert magnitude.m_by_n_fraction(two_four) == 1.0
    with pytest.raises(ValueError, match="multiple of 4"):
        magnitude.m_by_n_fraction(np.ones((6, 2)))


# ----------------------------------------------------------------------------- scan


def test_magnitude_prune_zeros_exactly_the_smallest():
    w = np.array([[0.1, -0.5], [2.0, -0.05], [0.3, 1.0]])
    out = magnitude.magnitude_prune(w, 0.5)
    assert np.count_nonzero(out) == 3
    assert set(out[out != 0].tolist()) == {-0.5, 2.0, 1.0}
    assert np.array_equal(magnitude.magnitude_prune(w, 0.0), w)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        magnitude.magnitude_prune(w, 1.5)


def test_sensitivity_scan_restores_the_model(trained):
    base, d = trained
    before = [w.copy() for w in base.get_weights()]
    scan = magnitude.sensitivity_scan(base, d.x_val, d.y_val, (0.0, 0.99))
    assert set(scan) == {"dense_0", "dense_1", "logits"}
    unpruned = measure.keras_accuracy(base, d.x_val, d.y_val)
    assert all(accuracies[0] == unpruned for accuracies in scan.values())
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights(), strict=True))


def test_choose_sparsities_keeps_only_a_small_sensitive_layer_dense():
    model = models.build_mlp()
    levels = (0.5, 0.9)
    scan = {"dense_0": [0.9, 0.8], "dense_1": [0.9, 0.85], "logits": [0.9, 0.5]}
    assert magnitude.choose_sparsities(scan, levels, model, 0.9) == {"dense_0": 0.9, "dense_1": 0.9, "logits": 0.0}
    scan_big_sensitive = {"dense_0": [0.9, 0.4], "dense_1": [0.9, 0.85], "logits": [0.9, 0.5]}
    assert magnitude.choose_sparsities(scan_big_sensitive, levels, model, 0.9) == {
        "dense_0": 0.9,
        "dense_1": 0.9,
        "logits": 0.9,
    }


def test_error_summary_finds_the_assertion_message():
    class Graph(Exception):
        pass

    text = "Graph execution error:\n\nDetected at node x\n ... assertion failed: [Add the callback.] [Condition x >= y]"
    assert magnitude.error_summary(Graph(text)) == "Add the callback."
    assert magnitude.error_summary(ValueError("\n  first line\nsecond")) == "first line"


# ----------------------------------------------------------------------------- the Run button's logic


def test_explorer_run_measures_and_logs(trained, isolated_cache):
    base, d = trained
    settings = ScheduleSettings("polynomial", 0.0, 0.6, 0, 3, 1, 3.0)
    m, entry = magnitude.explorer_run(settings, base, d, d, 2)
    assert entry["technique"] == "pruning" and entry["lesson"] == "01"
    assert entry["settings"]["sparsity_reached"] == pytest.approx(0.6, abs=0.002)
    assert results.load(data=d)[-1]["id"] == entry["id"]
    assert m.nonzeros < 0.5 * m.params


def test_explorer_run_refuses_invalid_settings_and_logs_nothing(trained, isolated_cache):
    base, d = trained
    with pytest.raises(PruningSettingsError, match="Swap"):
        magnitude.explorer_run(ScheduleSettings(initial_sparsity=0.9, final_sparsity=0.1), base, d, d, 1)
    assert len(results.load()) == 0


def test_finetune_epochs_gives_enough_steps():
    def sized(n):
        return data.Dataset("fashion_mnist", "t", "fast", np.zeros((n, 28, 28), np.float32), np.zeros(n, np.int32),
                            np.zeros((1, 28, 28), np.float32), np.zeros(1, np.int32), data.FASHION_CLASSES)  # fmt: skip

    assert magnitude.finetune_epochs(sized(10_000)) == 8  # fast Fashion-MNIST: 79 steps an epoch
    assert magnitude.finetune_epochs(sized(55_000)) == 6  # full Fashion-MNIST: 430 steps an epoch
    small = sized(1_290)  # the digits fallback: 11 steps an epoch
    assert magnitude.finetune_epochs(small) * magnitude.steps_per_epoch(1_290) >= magnitude.MIN_FINETUNE_STEPS
