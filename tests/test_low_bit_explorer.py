"""Lesson 02b's mixed-precision explorer and exercise checks, driven headlessly on a tiny MLP."""

from __future__ import annotations

import json
import shutil

import pytest
from test_pruning import tiny_data

from helpers import measure, models, precomputed, results
from helpers.low_bit import exercises as low_bit_exercises
from helpers.low_bit import quantizer, sizes
from helpers.low_bit.explorer import MixedPrecisionExplorer, option, parse
from helpers.low_bit.quantizer import Choice


@pytest.fixture
def setup(isolated_cache):
    d = tiny_data(n=256, n_test=60)
    base = models.compile_model(models.build_mlp())
    models.train(base, d, 1)
    return base, d, measure.to_tflite(base)


@pytest.fixture
def explorer(setup):
    base, d, flat = setup
    table = {name: {32: 0.0, 8: 0.0, 4: 0.01, 2: 0.2} for name in ("dense_0", "dense_1", "logits")}
    return MixedPrecisionExplorer(base, d, flat, sensitivity=table, budget_kb=150)


def test_options_round_trip():
    for text in ("float32", "int8", "int4", "int2", "int4 block-32", "int4 block-128"):
        assert option(parse(text)) == text
    assert parse("int4 block-64") == Choice(4, 64)


def test_a_change_updates_the_predicted_size_and_the_layer_error(explorer, setup):
    base, _, flat = setup
    before = explorer.last_good
    explorer.layer_controls["dense_0"].value = "int2"
    after = explorer.last_good
    assert after["bytes"] == sizes.predict_bytes(base, after["plan"], "dynamic", len(flat)) < before["bytes"]
    assert after["errors"]["dense_0"] > before["errors"]["dense_0"]
    assert f"{after['bytes']:,} B" in explorer.summary.value
    assert not explorer.run_button.disabled


@pytest.mark.parametrize(
    ("layer", "value", "mode", "words"),
    [
        ("dense_0", "int4 block-32", "dynamic", "784 inputs"),
        ("dense_0", "int2", "weight_only", "weight_only int2"),
        ("dense_1", "float32", "static", "float32 layers"),
    ],
)
def test_an_invalid_plan_gives_a_message_and_keeps_the_last_good_view(explorer, layer, value, mode, words):
    explorer.layer_controls["logits"].value = "int4"
    good = explorer.last_good
    explorer.mode.value = mode if mode != "static" else "dynamic"
    explorer.layer_controls[layer].value = value
    explorer.mode.value = mode
    assert words in explorer.message.value.replace("&#x27;", "'")
    assert explorer.run_button.disabled
    assert explorer.last_good["plan"]["logits"] == good["plan"]["logits"] == Choice(4)
    assert explorer.run() is None and explorer.last_result is None, "Run does nothing while the plan is invalid"


def test_allocate_sets_the_controls_to_a_plan_under_the_budget(explorer, setup):
    base, _, flat = setup
    budget = sizes.predict_bytes(base, quantizer.uniform_plan(base, 4), "dynamic", len(flat)) + 500
    explorer.budget.value = budget / 1000
    found = explorer.allocate()
    assert found.predicted_bytes <= budget
    assert {n: parse(c.value) for n, c in explorer.layer_controls.items()} == found.plan
    assert explorer.last_good["bytes"] == found.predicted_bytes
    explorer.budget.value = 0
    assert explorer.allocate() is None and "positive" in explorer.message.value


def test_run_writes_the_real_file_measures_it_and_adds_it_to_the_board(explorer, setup):
    base, d, _ = setup
    explorer.layer_controls["dense_0"].value = "int4"
    m, entry, view = explorer.run()
    assert m.tflite_bytes == pytest.approx(view["bytes"], abs=150), "the real file is the predicted size"
    assert entry["settings"]["plan"]["dense_0"] == "int4" and entry["settings"]["simulated"] is False
    assert [e["id"] for e in results.load(data=d)][-1] == entry["id"]
    assert "added to the board" in explorer.status.value


def test_int4_size_check_accepts_the_prediction_and_explains_a_float_answer(setup, capsys):
    base, _, flat = setup
    real = len(quantizer.quantize_plan(base, flat, quantizer.uniform_plan(base, 4), "dynamic"))
    assert low_bit_exercises.int4_raw_bytes(sizes.predict_bytes(base, quantizer.uniform_plan(base, 4), "dynamic", len(flat)),
                                        base, len(flat), real)  # fmt: skip
    assert not low_bit_exercises.int4_raw_bytes(len(flat), base, len(flat), real)
    assert "float32 file" in capsys.readouterr().out
    weights = sum(i.n for i in quantizer.layers(base))
    assert not low_bit_exercises.int4_raw_bytes(len(flat) - 3.5 * weights, base, len(flat), real)
    assert "add the scales" in capsys.readouterr().out
    assert not low_bit_exercises.int4_raw_bytes(None, base, len(flat), real)


def test_budget_check_measures_the_real_file(setup, capsys):
    base, d, flat = setup
    plan8 = quantizer.uniform_plan(base, 8)
    size8 = len(quantizer.quantize_plan(base, flat, plan8, "dynamic"))
    assert low_bit_exercises.plan_under_budget(plan8, "dynamic", base, flat, d, size8 + 10, max_loss_pp=100)
    assert not low_bit_exercises.plan_under_budget(plan8, "dynamic", base, flat, d, size8 - 1000, max_loss_pp=100)
    assert "too big" in capsys.readouterr().out
    assert not low_bit_exercises.plan_under_budget({"dense_0": Choice(2)}, "weight_only", base, flat, d, size8)
    assert "cannot store" in capsys.readouterr().out


def test_without_a_table_allocate_uses_the_committed_full_mode_sensitivity(setup, monkeypatch, tmp_path):
    base, d, flat = setup
    assert base.name == "mlp"
    committed = precomputed.DIR / "02b_low_bit.json"
    (tmp_path / "ref").mkdir()
    shutil.copy(committed, tmp_path / "ref" / committed.name)
    monkeypatch.setenv("WORKBOOK_PRECOMPUTED", str(tmp_path / "ref"))
    explorer = MixedPrecisionExplorer(base, d, flat)
    table = json.loads(committed.read_text())["sweeps"]["sensitivity"]["tables"]["mlp"]
    assert explorer.table == {layer: {int(b): v for b, v in row.items()} for layer, row in table.items()}
    assert not explorer.allocate_button.disabled
    assert explorer.allocate() is not None and precomputed.LABEL in explorer.status.value


def test_without_any_table_allocate_says_what_to_do(setup):
    base, d, flat = setup  # the test's precomputed directory is empty
    explorer = MixedPrecisionExplorer(base, d, flat)
    assert explorer.table is None and explorer.allocate_button.disabled
    assert explorer.allocate() is None and "sensitivity" in explorer.message.value


def test_the_board_is_drawn_at_once_so_it_can_be_pointed_at(explorer):
    """Like every explorer's board: drawn when the panel is built, with its marker list (issue 18's click)."""
    assert "wb-markers" in explorer.pointable.markers.value
    assert explorer.pointable.image.value  # a PNG, before any Run
