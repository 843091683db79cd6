"""Lesson 05's "Design for the budget": the estimator (against TFLM), the runtime allowance, the arena declaration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_pruning import tiny_data

from helpers import keras
from helpers.microcontroller import design_training, designs, footprint, tflm
from helpers.microcontroller import exercises as microcontroller_exercises

needs_tflm = pytest.mark.skipif(not tflm.available(), reason="tflite-micro has no wheel for this platform (Linux x86-64 only)")

# designs unlike each other: GAP and flatten heads, a stride-1 first layer (big arena), separable blocks
CHECKED = ["c16s2 c32s2 c64s1 gap", "c16s2 c32s2 c40s2 flat", "c8s1 c16s2 c32s2 gap", "c24s2 d48s2 d96s1 gap"]


def test_parse_and_errors():
    d = designs.parse("c16s2, c32s2 d64s1 gap")
    assert d.blocks == (("c", 16, 2), ("c", 32, 2), ("d", 64, 1)) and d.head == "gap"
    assert designs.parse(d) is d and str(d) == "c16s2 c32s2 d64s1 gap"
    for bad, says in (("c16s2 c32s2", "head"), ("c16s3 gap", "not a block"), ("x16s2 gap", "not a block"),
                      ("gap", "at least one"), ("c0s2 gap", "not a block")):
        with pytest.raises(designs.DesignError, match=says):
            designs.parse(bad)


@pytest.mark.parametrize("spec", CHECKED)
def test_graph_parameters_match_keras_after_folding(spec):
    """BatchNorm folded = the same model built without BatchNorm but with biases."""
    assert designs.parameters(spec) == designs.build(spec, batch_norm=False).count_params()


def test_graph_shapes():
    ops = designs.graph("c16s2 c32s2 c40s2 flat")
    assert [op.kind for op in ops] == ["CONV_2D", "CONV_2D", "CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert [op.out for op in ops] == [(14, 14, 16), (7, 7, 32), (4, 4, 40), (640,), (10,)]
    assert ops[-1].weights == 6400 and ops[0].weights == 144
    sep = designs.graph("c8s2 d16s2 gap")
    assert [op.kind for op in sep] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert sep[1].out == (7, 7, 8) and sep[1].weights == 72 and sep[2].weights == 128


def test_greedy_plan():
    plan = designs.plan_activations
    assert plan([100, 200], [(0, 1), (1, 2)]) == 112 + 208  # alive together: side by side, 16-aligned
    assert plan([100, 200], [(0, 0), (1, 1)]) == 208  # never together: the same bytes
    # a chain: the largest neighbouring pair sets it
    assert plan([784, 3136, 1568, 1568], [(0, 0), (0, 1), (1, 2), (2, 3)]) == 3136 + 1568
    e = designs.estimate("c16s2 c32s2 c64s1 gap")
    assert e.head == 3136 + 1568 and e.peak_pair in ((3136, 1568), (1568, 3136))
    assert e.arena == e.head + e.tail and e.tail % 16 == 0


def test_early_stride_costs_arena():
    strided, full = designs.estimate("c8s2 c16s2 c32s2 gap"), designs.estimate("c8s1 c16s2 c32s2 gap")
    assert full.head == 28 * 28 * 8 + 14 * 14 * 16 and strided.head < full.head / 2


def test_screen_and_check_within():
    found = designs.screen(32 * 1024, 8 * 1024)
    fits = [e for e in found if e.fits(32 * 1024, 8 * 1024)]
    assert fits and found[: len(fits)] == fits and len(fits) < len(found)
    assert all(e.arena > 8 * 1024 for e in found if e.design.startswith("c16s1"))  # 28×28×16 does not fit
    e = designs.estimate(CHECKED[0])
    assert designs.check_within(CHECKED[0], e.flash, e.arena) == (0.0, 0.0)
    with pytest.raises(designs.DesignError, match="re-fit"):
        designs.check_within(CHECKED[0], int(e.flash * 1.2), e.arena)
    with pytest.raises(designs.DesignError, match="positive"):
        designs.screen(0, 8192)


@needs_tflm
@pytest.mark.parametrize("spec", CHECKED)
def test_estimate_within_5_percent_of_tflm(spec):
    """Flash and arena as converted and measured by TFLM (untrained weights; sizes do not depend on values)."""
    keras.utils.set_random_seed(0)
    model = designs.build(spec)
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) if w.ndim == 1 else w
                       for w in model.get_weights()])  # non-zero biases, as after training
    blob = designs.to_int8(model, rng.random((64, 28, 28), dtype=np.float32))
    measured = tflm.smallest_arena(blob, use_cache=False).bytes
    flash_err, arena_err = designs.check_within(spec, len(blob), measured)
    assert abs(flash_err) <= 0.05 and abs(arena_err) <= 0.05
    assert set(footprint.op_types(blob)) == {op.kind for op in designs.graph(spec)}


# ----------------------------------------------------------------------------- runtime allowance, declaration


def test_runtime_allowance_adds_up_and_cites():
    rt = footprint.Runtime()
    assert rt.flash(3) == rt.core_flash + 3 * rt.flash_per_op + rt.app_flash == (16 + 6 + 8) * 1024
    assert rt.ram == rt.persistent_ram + rt.stack + rt.app_ram == 7 * 1024
    table = rt.table()
    assert "16 KB on an Arm Cortex M3" in table and all(f in table for f in footprint.SOURCES)
    assert footprint.NO_RUNTIME.flash(5) == 0 and footprint.NO_RUNTIME.ram == 0
    for bad in ({"stack": -1}, {"app_ram": 1.5}, {"core_flash": True}):
        with pytest.raises(footprint.FootprintError, match="whole number"):
            footprint.Runtime(**bad)
    with pytest.raises(footprint.FootprintError, match="op_types"):
        rt.flash(-1)


def test_arena_declaration_is_aligned_with_slack():
    for arena in (1, 15, 16, 17, 7600, 8191):
        declared = footprint.arena_declaration(arena)
        assert declared % 16 == 0 and declared >= arena + 16 and declared < arena + 32
    assert footprint.arena_declaration(5000) == 5024
    assert footprint.arena_declaration(5000, margin=0.1) == 5520
    for bad in (0, -5, 1.5, True):
        with pytest.raises(footprint.FootprintError, match="positive whole"):
            footprint.arena_declaration(bad)
    with pytest.raises(footprint.FootprintError, match="margin"):
        footprint.arena_declaration(100, margin=2)


def test_honest_fit():
    rt = footprint.Runtime()
    f = footprint.honest_footprint(30_000, 7_600, 3, 256 * 1024, 32 * 1024, rt)
    assert f.flash == 30_000 + rt.flash(3) and f.ram == 7_600 + 16 + rt.ram and f.fits
    assert "fits" in f.line() and "NOT" not in f.line()
    tight = footprint.honest_footprint(30_000, 7_600, 3, f.flash, f.ram - 1, rt)
    assert not tight.fits and "does NOT fit" in tight.line()


# ----------------------------------------------------------------------------- recipe, training cache, check


def test_recipe_validation():
    assert "cosine" in design_training.Recipe().short()
    for bad in ({"schedule": "step"}, {"epochs": 0}, {"shift": -1}):
        with pytest.raises(designs.DesignError):
            design_training.Recipe(**bad)


def test_trained_is_cached():
    d = tiny_data(n=256, n_test=100)
    recipe = design_training.Recipe(epochs=1, shift=1)
    first = design_training.trained("c4s2 c8s2 gap", d, recipe)
    again = design_training.trained("c4s2 c8s2 gap", d, recipe)
    assert not first.from_cache and again.from_cache
    x = designs.images(d.x_test[:8])
    np.testing.assert_allclose(first.model.predict(x, verbose=0), again.model.predict(x, verbose=0), atol=1e-6)
    assert not design_training.trained("c4s2 c8s2 gap", d, design_training.Recipe(epochs=1, shift=0)).from_cache


def test_arena_exercise_check():
    assert microcontroller_exercises.predict_arena_head(None, "c16s2 c32s2 c64s1 gap") is False
    assert microcontroller_exercises.predict_arena_head(3136 + 1568, "c16s2 c32s2 c64s1 gap") is True
    assert microcontroller_exercises.predict_arena_head(784 + 3136, "c16s2 c32s2 c64s1 gap") is False  # a pair, but not the largest
    assert microcontroller_exercises.predict_arena_head(2352 + 1176, "c12s2 c24s2 c48s2 flat") is True  # unaligned is fine too
    assert microcontroller_exercises.predict_arena_head(784 + 2352, "c12s2 c24s2 c48s2 flat") is False
    assert microcontroller_exercises.predict_arena_head("lots", "c16s2 c32s2 c64s1 gap") is False


def test_every_ablation_row_is_a_variant_the_code_trains():
    """Issue 22: the ablation table's rows came from constants; now each is (design, recipe) in
    helpers.microcontroller.ablation.variants, and the committed reference's recipes are exactly these."""
    from helpers import precomputed
    from helpers.microcontroller import ablation, design_training

    recipe = design_training.Recipe(epochs=15)
    table = ablation.variants(recipe, "c16s2 c32s2 c40s2 flat")
    assert list(table)[0] == "recipe" and len(table) == 7
    ref = precomputed.load("05")
    if ref is not None:
        for e in ref.entries:
            if str(e.get("key", "")).startswith("05/ablation/"):
                name = e["name"].removeprefix("ablation: ")
                _, design, r = table[name]
                assert design == e["settings"]["design"] and dataclasses.asdict(r) == e["settings"]["recipe"], name
    with pytest.raises(designs.DesignError, match="No ablation variant"):
        ablation.run(None, recipe, "c16s2 c32s2 c40s2 flat", names=["no dropout"])


def test_ablation_rows_use_the_fashion_reference_only_for_fashion_full_mode():
    from types import SimpleNamespace

    from helpers.microcontroller import design_training

    digits = SimpleNamespace(name="digits", mode="full")
    rows, from_reference = design_training.ablation_rows(digits)
    assert not from_reference, "a digits run must not be compared with Fashion-MNIST reference rows"
