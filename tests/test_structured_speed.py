"""helpers.structured_pruning.speed (lesson 01b): latency estimate, width choice, gradual steps, scratch control, the
sparse-kernel model, the explorer's logic and panel, and the exercises' checks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from test_pruning import tiny_data

from helpers import models, results
from helpers.structured_pruning import exercises as structured_pruning_exercises
from helpers.structured_pruning import explorer as structured_pruning_explorer
from helpers.structured_pruning import speed, units
from helpers.structured_pruning.units import StructuredPruningError


@pytest.fixture(scope="module")
def mlp():
    return models.build_mlp()


def fake_table(model):
    """A timing table with known numbers: overhead 1 µs, dense_0 10 µs, dense_1 2 µs, logits 0.1 µs (float)."""
    macs = {c.layer: c.macs for c in units.layer_costs(model)}
    layer = {"float32": {"dense_0": 10.0, "dense_1": 2.0, "logits": 0.1}, "int8": {"dense_0": 1.0, "dense_1": 0.2, "logits": 0.0}}
    return speed.LatencyTable(model.name, macs, layer, {"float32": 1.0, "int8": 1.0}, {"float32": 0.0, "int8": 0.0},
                              {"float32": 13.1, "int8": 2.2})  # fmt: skip


def test_estimate_scales_each_layer_with_its_macs(mlp):
    table = fake_table(mlp)
    assert table.estimate_us(mlp) == pytest.approx(13.1)
    # dense_0 at 150 of 300 units: its MACs halve, and dense_1's inputs halve too
    assert table.estimate_us(mlp, {"dense_0": 150}) == pytest.approx(1 + 5 + 1 + 0.1)
    assert table.estimate_us(mlp, {"dense_0": 150}, int8=True) == pytest.approx(1 + 0.5 + 0.1)
    with pytest.raises(StructuredPruningError, match="at least 1 unit"):
        table.estimate_us(mlp, {"dense_0": 0})


def test_table_refuses_another_model(mlp):
    with pytest.raises(StructuredPruningError, match="measured on"):
        fake_table(mlp).estimate_us(models.build_mlp(name="other"))


def test_choose_widths_meets_the_target_and_prefers_the_cheap_layer(mlp):
    table, fractions = fake_table(mlp), (0.5, 0.25, 0.1)
    scan = {"dense_0": [0.88, 0.87, 0.86], "dense_1": [0.80, 0.60, 0.40]}  # dense_1 is the sensitive one
    widths = speed.choose_widths(mlp, scan, fractions, table, target_us=5.0, int8=False, max_drop=0.05)
    assert table.estimate_us(mlp, widths) <= 5.0
    assert widths["dense_1"] == 100 and widths["dense_0"] < 300
    with pytest.raises(StructuredPruningError, match="No widths within the scan meet"):
        speed.choose_widths(mlp, scan, fractions, table, target_us=1.0, int8=False)


def test_gradual_widths_end_at_the_target(mlp):
    steps = speed.gradual_widths(mlp, {"dense_0": 30, "dense_1": 10}, 3)
    assert steps[-1] == {"dense_0": 30, "dense_1": 10}
    assert [s["dense_0"] for s in steps] == sorted((s["dense_0"] for s in steps), reverse=True)
    assert steps[0]["dense_0"] < 300
    with pytest.raises(StructuredPruningError, match="at least 1"):
        speed.gradual_widths(mlp, {"dense_0": 30}, 0)


def test_scratch_control_is_freshly_initialised_and_pruning_keeps_weights():
    d = tiny_data(n=64, n_test=20)
    base = models.compile_model(models.build_mlp())
    pruned = units.rebuild(base, {"dense_0": 20})
    scratch = speed.from_scratch(base, {"dense_0": 20}, d, epochs=1, seed=3)
    assert scratch.get_layer("dense_0").kernel.shape == pruned.get_layer("dense_0").kernel.shape
    assert not np.allclose(scratch.get_layer("logits").kernel.numpy(), pruned.get_layer("logits").kernel.numpy())
    gradual = speed.gradual_prune(base, {"dense_0": 20, "dense_1": 10}, d, steps=2, epochs_per_step=1)
    assert gradual.get_layer("dense_0").kernel.shape == (784, 20)


def test_width_scan_and_latency_table_on_a_small_model():
    d = tiny_data(n=64, n_test=20)
    model = models.build_mlp(hidden=(16, 8))
    scan = speed.width_scan(model, d.x_val, d.y_val, fractions=(0.5, 0.25))
    assert set(scan) == {"dense_0", "dense_1"} and all(len(v) == 2 and 0 <= min(v) <= max(v) <= 1 for v in scan.values())
    table = speed.latency_table(model, d, runs=20)
    assert set(table.layer_us["int8"]) == {"dense_0", "dense_1", "logits"}
    assert all(v >= 0 for kind in table.layer_us.values() for v in kind.values())
    assert table.estimate_us(model) > 0


def test_explorer_view_and_bad_widths(mlp):
    table = fake_table(mlp)
    view = speed.explorer_view(mlp, table, {"dense_0": 150, "dense_1": 100}, int8=False)
    assert view.problems == [] and view.macs == units.predict_macs(mlp, {"dense_0": 150})
    assert view.speedup == pytest.approx(13.1 / 7.1)
    bad = speed.explorer_view(mlp, table, {"dense_0": 0, "dense_1": 100}, int8=True)
    assert bad.problems and "at least 1 unit" in bad.problems[0]


def test_explorer_panel_updates_refuses_zero_and_runs(monkeypatch, mlp):
    d = tiny_data(n=64, n_test=20)
    base = models.compile_model(models.build_mlp())
    table = fake_table(base)
    panel = structured_pruning_explorer.SpeedExplorer(base, table, d, d, widths={"dense_0": 100, "dense_1": 50})
    assert "MACs" in panel.summary.value and not panel.run_button.disabled
    panel.sliders["dense_0"].value = 0
    assert "at least 1 unit" in panel.message.value and panel.run_button.disabled
    panel.sliders["dense_0"].value = 20
    assert panel.message.value == "" and not panel.run_button.disabled
    monkeypatch.setattr(speed, "EXPLORER_EPOCHS", 1)
    before = len(results.load(data=d))
    m = panel.run()
    assert m is not None and m.params == units.predict_params(base, {"dense_0": 20, "dense_1": 50})
    assert len(results.load(data=d)) == before + 1 and "added to the board" in panel.status.value


def test_xnnpack_model_is_accepted_by_the_policy():
    sk = tfmot.sparsity.keras
    model = speed.xnnpack_sparse_model(size=28, blocks=1, width=8)
    pruned = sk.prune_low_magnitude(model, pruning_schedule=sk.ConstantSparsity(0.5, 0),
                                    pruning_policy=sk.PruneForLatencyOnXNNPack())  # fmt: skip
    wrapped = [la.name for la in pruned.layers if type(la).__name__ == "PruneLowMagnitude"]
    assert len(wrapped) == 2  # the 1x1 conv of the block and the 1x1 classifier; the 3x3 and depthwise are left


@pytest.mark.parametrize(
    ("answer", "ok", "words"),
    [
        (89_400, True, "89,400"),
        ("89,400", True, "89,400"),
        (109_400, False, "dense_1 lost inputs"),
        (266_200, False, "unpruned"),
        (89_400 + 210, False, "Biases"),
        (5, False, "is not it"),
        (None, False, "Not answered"),
    ],
)
def test_mlp_macs_check(answer, ok, words, capsys):
    assert structured_pruning_exercises.mlp_macs_after_removal(answer, removed=200) is ok
    assert words in capsys.readouterr().out


def test_widths_for_budget_check(mlp, capsys):
    table = fake_table(mlp)  # int8: 1 + dense_0 k/300 + small
    budget = 1.5
    best = max(k for k in range(1, 301) if table.estimate_us(mlp, {"dense_0": k, "dense_1": 16}, True) <= budget)
    assert structured_pruning_exercises.widths_for_budget({"dense_0": best, "dense_1": 16}, mlp, table, budget) is True
    assert structured_pruning_exercises.widths_for_budget({"dense_0": best - 30, "dense_1": 16}, mlp, table, budget) is False
    assert "could keep up to" in capsys.readouterr().out
    assert structured_pruning_exercises.widths_for_budget({"dense_0": 300, "dense_1": 16}, mlp, table, budget) is False
    assert "over the" in capsys.readouterr().out
    assert structured_pruning_exercises.widths_for_budget({"dense_0": best, "dense_1": 8}, mlp, table, budget) is False
    assert structured_pruning_exercises.widths_for_budget({"dense_0": 0, "dense_1": 16}, mlp, table, budget) is False
    assert "at least 1 unit" in capsys.readouterr().out
    assert structured_pruning_exercises.widths_for_budget([1, 2], mlp, table, budget) is False


def test_explorer_shows_the_lessons_full_mode_reference(mlp):
    from test_precomputed import entry, write

    ref = entry("01b/mlp/structured-int8", "structured", {"widths": {"dense_0": 100, "dense_1": 50}}, lesson="01b")
    write("01b", [ref])  # conftest points WORKBOOK_PRECOMPUTED at a temporary directory
    d = tiny_data(n=64, n_test=20)
    d = type(d)("fashion_mnist", "test", "fast", d.x_train, d.y_train, d.x_test, d.y_test, d.class_names, d.x_val, d.y_val)
    panel = structured_pruning_explorer.SpeedExplorer(mlp, fake_table(mlp), d, d)
    assert "run 01b/mlp/structured-int8" in panel.reference.value and "µs" in panel.reference.value
    assert panel._board_reference() and panel._board_reference()[0]["key"] == "01b/mlp/structured-int8"


def test_choose_widths_best_effort_returns_the_narrowest_allowed(mlp):
    table, fractions = fake_table(mlp), (0.5, 0.25, 0.1)
    scan = {"dense_0": [0.88, 0.87, 0.60], "dense_1": [0.80, 0.60, 0.40]}
    widths = speed.choose_widths(mlp, scan, fractions, table, target_us=1.0, int8=False, max_drop=0.05, best_effort=True)
    assert widths == {"dense_0": 75, "dense_1": 100}  # dense_0 to 25 % (the 10 % step drops too far), dense_1 untouched


def test_seed_gap_calls_a_gap_under_two_standard_errors_within_noise():
    """Lesson 01b's +0.15 pp over 3 seeds with ±0.15 % spread: no sign may be asserted."""
    from helpers.structured_pruning import speed

    gap = speed.seed_gap([0.8869, 0.8834, 0.8846], [0.8838, 0.8850, 0.8815])
    assert gap.gap_pp == pytest.approx(0.153, abs=0.001) and gap.within_noise
    assert "within noise" in gap.verdict("pruned", "scratch")
    clear = speed.seed_gap([0.90, 0.901, 0.899], [0.88, 0.881, 0.879])
    assert not clear.within_noise and "pruned ahead beyond noise" in clear.verdict("pruned", "scratch")
    with pytest.raises(ValueError, match="at least 2 seeds"):
        speed.seed_gap([0.9], [0.8, 0.81])
