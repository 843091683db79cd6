"""Distillation: soft targets, the loss against a hand computation, the Distiller's invariants,
the training loop, the seed statistics, the explorer's logic and widget, the exercise checks."""

from __future__ import annotations

import numpy as np
import pytest
from test_pruning import tiny_data

from helpers import measure, models, results
from helpers.distillation import distiller, studies
from helpers.distillation import exercises as distillation_exercises
from helpers.distillation import explorer as distillation_explorer


def _np_softmax(z, t=1.0):
    z = np.asarray(z, float) / t
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def teacher_and_data():
    d = tiny_data(n=400, n_test=100)
    models.keras.utils.set_random_seed(0)
    teacher = models.compile_model(models.build_mlp(hidden=(64,), name="teacher"))
    models.train(teacher, d, 3)
    return teacher, d


# ----------------------------------------------------------------------------- soft targets


def test_soft_targets_at_t1_is_softmax_and_rows_sum_to_one():
    z = np.array([[3.0, 1.0, 0.2], [-5.0, 0.0, 5.0]])
    assert np.allclose(distiller.soft_targets(z, 1), _np_softmax(z))
    for t in (0.5, 2, 16):
        assert np.allclose(distiller.soft_targets(z, t).sum(axis=1), 1.0)


def test_soft_targets_soften_with_temperature_and_keep_the_winner():
    z = np.array([4.0, 1.0, 0.0, -2.0])
    entropies = []
    for t in (1, 2, 4, 8, 100):
        p = distiller.soft_targets(z, t)
        assert p.argmax() == 0
        entropies.append(-(p * np.log(p)).sum())
    assert all(a < b for a, b in zip(entropies, entropies[1:], strict=False))
    assert np.allclose(distiller.soft_targets(z, 1e6), 0.25, atol=1e-5)


def test_soft_targets_are_stable_for_huge_logits():
    p = distiller.soft_targets([1000.0, 999.0, -1000.0], 1)
    assert np.all(np.isfinite(p)) and np.isclose(p[0], 1 / (1 + np.exp(-1)))


@pytest.mark.parametrize(
    ("temperature", "alpha", "words"),
    [
        (0, 0.1, "Temperature must be above 0"),
        (-2, 0.1, "Temperature must be above 0"),
        (float("nan"), 0.1, "Temperature must be above 0"),
        (4, 1.2, "alpha must lie in [0, 1]"),
        (4, -0.1, "alpha must lie in [0, 1]"),
        ("hot", 0.1, "is not a number"),
        (4, None, "is not a number"),
    ],
)
def test_bad_settings_are_named(temperature, alpha, words):
    found = distiller.problems(temperature, alpha)
    assert any(words in p for p in found), found
    with pytest.raises(distiller.DistillationSettingsError):
        distiller.check(temperature, alpha)


def test_good_settings_have_no_problems():
    assert (
        distiller.problems(4, 0.1) == []
        and distiller.problems(1, 0) == []
        and distiller.problems(0.5, 1) == []
    )


def test_soft_targets_refuse_a_zero_temperature():
    with pytest.raises(distiller.DistillationSettingsError, match="above 0"):
        distiller.soft_targets([1.0, 2.0], 0)


def test_dark_knowledge_matrix_rows_are_class_means():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 3.0, 0.0]])
    labels = np.array([0, 1, 1])
    m = distiller.confusion_of_soft_targets(logits, labels, 2.0)
    assert np.allclose(m[0], _np_softmax(logits[0], 2))
    assert np.allclose(m[1], (_np_softmax(logits[1], 2) + _np_softmax(logits[2], 2)) / 2)


# ----------------------------------------------------------------------------- the loss


def _hand_loss(labels, s, t, alpha, T):
    labels = np.asarray(labels)
    q = _np_softmax(s)
    has = labels >= 0
    hard = -np.log(q[has, labels[has]]).mean() if has.any() else 0.0
    p_t, q_t = _np_softmax(t, T), _np_softmax(s, T)
    soft = (p_t * np.log(p_t / q_t)).sum(axis=1).mean() * T**2
    return alpha * hard + (1 - alpha) * soft, hard, soft


@pytest.mark.parametrize(("alpha", "T"), [(0.1, 4.0), (0.5, 2.0), (0.0, 8.0), (1.0, 1.0)])
def test_loss_matches_a_hand_computation(alpha, T):
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(16, 10)) * 3, rng.normal(size=(16, 10)) * 3
    labels = rng.integers(0, 10, 16)
    got = [float(v) for v in distiller.distillation_loss(labels, s, t, alpha, T)]
    assert np.allclose(got, _hand_loss(labels, s, t, alpha, T), rtol=1e-5)


def test_alpha_one_is_cross_entropy_and_identical_logits_cost_nothing():
    rng = np.random.default_rng(2)
    s = rng.normal(size=(8, 10))
    labels = rng.integers(0, 10, 8)
    ce = models.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, s)
    total, hard, soft = distiller.distillation_loss(labels, s, rng.normal(size=(8, 10)), 1.0, 4.0)
    assert np.isclose(float(total), float(ce), rtol=1e-6) and np.isclose(float(hard), float(ce), rtol=1e-6)
    _, _, soft_same = distiller.distillation_loss(labels, s, s, 0.0, 4.0)
    assert abs(float(soft_same)) < 1e-6


def test_unlabelled_examples_only_count_in_the_soft_term():
    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    labels = np.array([3, -1, 5, -1, -1, 0])
    got = [float(v) for v in distiller.distillation_loss(labels, s, t, 0.3, 2.0)]
    assert np.allclose(got, _hand_loss(labels, s, t, 0.3, 2.0), rtol=1e-5)
    total, hard, _ = distiller.distillation_loss(np.full(6, -1), s, t, 0.3, 2.0)
    assert float(hard) == 0.0 and np.isfinite(float(total))


# ----------------------------------------------------------------------------- the Distiller


def test_distiller_trains_the_student_and_never_the_teacher(teacher_and_data):
    teacher, d = teacher_and_data
    before_teacher = [w.copy() for w in teacher.get_weights()]
    student = distiller.build_student(hidden=(8,))
    before_student = [w.copy() for w in student.get_weights()]
    trainer = distiller.Distiller(student, teacher, alpha=0.1, temperature=4)
    trainer.compile(models.keras.optimizers.Adam(1e-2))
    history = trainer.fit(d.x_train, d.y_train, batch_size=64, epochs=2, verbose=0).history
    assert all(np.array_equal(a, b) for a, b in zip(before_teacher, teacher.get_weights(), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(before_student, student.get_weights(), strict=True))
    assert {"loss", "hard_loss", "soft_loss", "accuracy"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.student is student and not teacher.trainable_weights
    assert np.allclose(trainer(d.x_test[:5]).numpy(), student(d.x_test[:5]).numpy())


def test_cached_logits_train_exactly_like_the_teacher_in_the_loop(teacher_and_data):
    teacher, d = teacher_and_data
    logits = distiller.teacher_logits(teacher, d.x_train)
    weights = []
    for use_cache in (False, True):
        models.keras.utils.set_random_seed(5)
        student = distiller.build_student(hidden=(8,))
        trainer = distiller.Distiller(student, None if use_cache else teacher, alpha=0.2, temperature=3)
        trainer.compile(models.keras.optimizers.Adam(1e-2))
        y = {"labels": d.y_train, "teacher_logits": logits} if use_cache else d.y_train
        trainer.fit(d.x_train, y, batch_size=50, epochs=1, shuffle=False, verbose=0)
        weights.append(student.get_weights())
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(*weights, strict=True))


def test_a_distiller_without_teacher_needs_logits_in_the_data(teacher_and_data):
    _, d = teacher_and_data
    trainer = distiller.Distiller(distiller.build_student(hidden=(8,)), None)
    trainer.compile("adam")
    with pytest.raises(ValueError, match="no teacher"):
        trainer.fit(d.x_train[:64], d.y_train[:64], verbose=0)


def test_a_distiller_refuses_bad_settings(teacher_and_data):
    teacher, _ = teacher_and_data
    with pytest.raises(distiller.DistillationSettingsError, match="above 0"):
        distiller.Distiller(distiller.build_student(), teacher, alpha=0.1, temperature=0)


def test_default_student_is_ten_times_smaller_than_the_cnn():
    assert distiller.build_student().count_params() == 784 * 28 + 28 + 28 * 10 + 10
    assert models.build_cnn().count_params() >= 10 * distiller.build_student().count_params()


# ----------------------------------------------------------------------------- data and logits


def test_few_labels_keeps_per_class_and_hides_the_rest():
    y = np.repeat(np.arange(10), 50).astype(np.int32)
    masked = distiller.few_labels(y, 7, seed=0)
    kept = masked >= 0
    assert kept.sum() == 70 and np.bincount(masked[kept], minlength=10).tolist() == [7] * 10
    assert (masked[kept] == y[kept]).all() and (masked[~kept] == -1).all()
    assert np.array_equal(distiller.few_labels(y, None), y)
    assert np.array_equal(distiller.few_labels(y, 7, seed=0), masked)


def test_teacher_logits_are_computed_once_and_survive_a_damaged_file(teacher_and_data, isolated_cache):
    teacher, d = teacher_and_data
    first = distiller.teacher_logits(teacher, d.x_train, batch_size=64)
    assert np.allclose(first, teacher(d.x_train).numpy(), atol=1e-5)
    files = list((isolated_cache / "logits").glob("*.npy"))
    assert len(files) == 1 and not first.flags.writeable
    distiller.clear_memo()
    files[0].write_bytes(b"not a numpy file")
    again = distiller.teacher_logits(teacher, d.x_train)
    assert np.allclose(again, first)
    assert np.allclose(np.load(files[0]), first)  # rewritten


def test_teacher_logits_depend_on_the_teacher_weights(teacher_and_data):
    teacher, d = teacher_and_data
    other = models.copy_model(teacher)
    other.set_weights([w * 0.5 for w in teacher.get_weights()])
    assert not np.allclose(distiller.teacher_logits(teacher, d.x_test), distiller.teacher_logits(other, d.x_test))


# ----------------------------------------------------------------------------- training and statistics


def test_fit_student_keeps_the_best_validation_epoch(teacher_and_data):
    teacher, d = teacher_and_data
    logits = distiller.teacher_logits(teacher, d.x_train)
    for method in ("scratch", "distilled"):
        run = distiller.fit_student(d, method, 0, 4, labels_per_class=5, teacher_logits_train=logits, hidden=(8,))
        assert len(run.val_curve) == 4 and run.val_accuracy == max(run.val_curve)
        assert run.val_curve[run.best_epoch - 1] == run.val_accuracy
        assert measure.keras_accuracy(run.model, d.x_val, d.y_val) == pytest.approx(run.val_accuracy)
        assert run.steps == 4 * models.steps_per_epoch(len(d.x_train))


def test_fit_student_is_reproducible_and_refuses_nonsense(teacher_and_data):
    teacher, d = teacher_and_data
    a = distiller.fit_student(d, "scratch", 3, 2, hidden=(8,))
    b = distiller.fit_student(d, "scratch", 3, 2, hidden=(8,))
    assert a.val_curve == b.val_curve
    with pytest.raises(ValueError, match="scratch"):
        distiller.fit_student(d, "teacherless", 0, 1)
    with pytest.raises(ValueError, match="teacher's logits"):
        distiller.fit_student(d, "distilled", 0, 1)


def test_comparison_statistics_by_hand():
    c = studies.Comparison("x", 20, [0.70, 0.72, 0.74], [0.80, 0.81, 0.82], teacher=0.90, runs=[])
    assert c.scratch_mean_std == pytest.approx((0.72, 0.02))
    assert c.gain == pytest.approx(0.09)
    assert c.gap_recovered == pytest.approx(0.09 / 0.18)
    assert c.clear_win  # 9 pp > 2 x 2 pp
    close = studies.Comparison("y", None, [0.80, 0.82, 0.84], [0.81, 0.83, 0.85], teacher=0.9, runs=[])
    assert not close.clear_win and "gain +1.00 pp" in close.row()


def test_compare_runs_both_methods_per_seed(teacher_and_data):
    teacher, d = teacher_and_data
    logits = distiller.teacher_logits(teacher, d.x_train)
    c = studies.compare(d, 0.9, logits, "tiny", seeds=(0, 1), labels_per_class=5, epochs=1, verbose=False)
    assert len(c.scratch) == len(c.distilled) == 2 and len(c.runs) == 4
    assert [r.method for r in c.runs] == ["scratch", "distilled"] * 2
    assert all(r.test_accuracy == acc for r, acc in zip(c.runs[::2], c.scratch, strict=True))


def test_grid_best_and_nearest():
    g = studies.Grid((1, 2, 4, 8), (0.0, 0.5, 1.0), np.arange(12).reshape(4, 3) / 100, 20, 0, 8)
    assert g.best == (8.0, 1.0)
    assert g.nearest(3.0, 0.4) == (2, 1)  # 3 is nearer 4 than 2 on a log scale
    assert g.nearest(100, -1) == (3, 0)
    assert g.as_dict()["val_accuracy"][3][2] == 0.11


def test_student_epochs_budget_in_steps():
    d = tiny_data(n=256)  # 2 steps per epoch
    assert distiller.student_epochs(d, min_steps=600) == 300
    big = tiny_data(n=128 * 430)
    assert distiller.student_epochs(big) == 8


# ----------------------------------------------------------------------------- explorer


def test_explorer_view_reports_problems_without_computing():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    ok = distillation_explorer.explorer_view(logits, np.array([0, 1]), 1, 2.0, 0.5, None)
    assert ok.problems == [] and np.allclose(ok.probabilities.sum(), 1) and ok.label == 1
    bad = distillation_explorer.explorer_view(logits, np.array([0, 1]), 5, 0.0, 2.0, None)
    assert len(bad.problems) == 3 and bad.probabilities is None


@pytest.fixture
def explorer(teacher_and_data, isolated_cache):
    teacher, d = teacher_and_data
    grid = studies.Grid((1, 4), (0.0, 0.5), np.array([[0.5, 0.6], [0.7, 0.8]]), 5, 0, 2)
    return distillation_explorer.DistillationExplorer(teacher, d, d, grid=grid, labels_per_class=5, temperature=4.0, alpha=0.5)


def test_explorer_defaults_are_drawn(explorer):
    assert explorer.last_view.problems == [] and explorer.run_button.disabled is False
    assert "validation accuracy 80.00%" in explorer.message.value
    heights = [b.get_height() for b in explorer._figure.bars]
    assert np.isclose(sum(heights), 1.0)


def test_moving_temperature_changes_the_bars_and_the_marker(explorer):
    before = [b.get_height() for b in explorer._figure.bars]
    explorer.temperature.value = 1.0
    after = [b.get_height() for b in explorer._figure.bars]
    assert not np.allclose(before, after) and max(after) > max(before)
    assert explorer.last_view.cell == (0, 1)
    assert list(explorer._figure.marker.get_data()[0]) == [1]


@pytest.mark.parametrize(("control", "value", "words"), [("temperature", 0.0, "above 0"), ("alpha", 1.25, "[0, 1]")])
def test_invalid_settings_show_a_message_and_disable_run(explorer, control, value, words):
    getattr(explorer, control).value = value
    assert words in explorer.message.value
    assert explorer.run_button.disabled is True
    assert explorer.run() is None
    getattr(explorer, control).value = 0.5
    assert explorer.run_button.disabled is False and "error" not in explorer.message.value


def test_run_adds_a_student_to_the_board_and_keeps_earlier_ones(explorer, monkeypatch):
    monkeypatch.setattr(distiller, "student_epochs", lambda data: 1)
    first = explorer.run()
    explorer.temperature.value = 2.0
    second = explorer.run()
    names = [e["name"] for e in results.load(data=explorer.eval_data, technique="distillation")]
    assert first.name in names and second.name in names and first.name != second.name
    assert "added to the board" in explorer.status.value
    assert explorer.progress.value == explorer.progress.max > 0


def test_a_failed_run_is_a_message_and_loses_nothing(explorer, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(distillation_explorer, "explorer_run", broken)
    assert explorer.run() is None
    assert "The run failed: MemoryError: out of memory" in explorer.status.value
    assert explorer.run_button.disabled is False


def test_the_panel_holds_every_control(explorer):
    text = repr(explorer.panel())
    for control in ("test image", "temperature T", "alpha", "Run: train a student"):
        assert control in text


# ----------------------------------------------------------------------------- exercise checks


def test_softmax_check(capsys):
    assert distillation_exercises.softmax_at_temperature([0.619, 0.228, 0.153], [3.0, 1.0, 0.2], 2)
    assert not distillation_exercises.softmax_at_temperature([0.836, 0.113, 0.051], [3.0, 1.0, 0.2], 2)
    assert "ordinary softmax" in capsys.readouterr().out
    assert not distillation_exercises.softmax_at_temperature([0.5, 0.5, 0.5], [3.0, 1.0, 0.2], 2)
    assert "add up to 1.500" in capsys.readouterr().out
    assert not distillation_exercises.softmax_at_temperature([0.5, 0.5], [3.0, 1.0, 0.2], 2)
    assert not distillation_exercises.softmax_at_temperature(None, [3.0, 1.0, 0.2], 2)
    assert "Not answered" in capsys.readouterr().out


def test_t_squared_check(capsys):
    assert distillation_exercises.t_squared_factor(4, 8, 16)
    assert distillation_exercises.t_squared_factor("4.3", 8, 16)
    assert not distillation_exercises.t_squared_factor(2, 8, 16)
    assert "square the ratio" in capsys.readouterr().out
    assert not distillation_exercises.t_squared_factor(0.25, 8, 16)
    assert "above 1" in capsys.readouterr().out
    assert not distillation_exercises.t_squared_factor("four", 8, 16)
