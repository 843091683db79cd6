"""Lesson 04's pieces: clustering, the preserving QAT schemes, pipeline stages, artifacts in the
results log, budget parsing, export + reload, the board explorer and the exercise checks."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_pruning import tiny_data

from helpers import measure, models, results
from helpers.combining import board_explorer, clustering, export
from helpers.combining import exercises as combining_exercises
from helpers.combining import figures as combining_figures
from helpers.pruning import magnitude, schedule
from helpers.quantization import qat, quantize
from helpers.ui import board_plots


@pytest.fixture(scope="module")
def trained():
    d = tiny_data(n=400, n_test=100)
    models.keras.utils.set_random_seed(0)
    model = models.compile_model(models.build_mlp(hidden=(32, 16)))
    models.train(model, d, 3)
    return model, d


@pytest.fixture(scope="module")
def pruned(trained):
    model, d = trained
    steps = 6 * models.steps_per_epoch(len(d.x_train))
    return magnitude.prune_and_finetune(model, d, schedule.gradual_schedule(0.8, steps), 6).model


# ----------------------------------------------------------------------------- clustering


@pytest.mark.parametrize("n", [2, 8])
def test_clustering_leaves_at_most_n_values_per_kernel(trained, n):
    model, d = trained
    out = clustering.cluster(model, d, n, epochs=1)
    assert all(1 < v <= n for v in clustering.unique_values(out).values())
    assert clustering.unique_values(model)["dense_0"] > 1000  # the input model is untouched
    assert not any("cluster" in type(la).__name__.lower() for la in out.layers)  # stripped


def test_preserve_sparsity_keeps_the_zeros(pruned, trained):
    _, d = trained
    before = magnitude.kernel_sparsity(pruned)
    kept = clustering.cluster(pruned, d, 4, epochs=1, preserve_sparsity=True)
    lost = clustering.cluster(pruned, d, 4, epochs=1, preserve_sparsity=False)
    assert before > 0.75
    assert magnitude.kernel_sparsity(kept) >= before - 1e-6
    assert magnitude.kernel_sparsity(lost) < 0.5 * before  # zeros moved to a centroid


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "eight", None, 1000])
def test_nonsense_cluster_counts_are_refused(trained, bad):
    model, d = trained
    with pytest.raises(clustering.ClusteringSettingsError):
        clustering.cluster(model, d, bad, epochs=0)


def test_pcqat_keeps_sparsity_and_plain_qat_does_not(pruned, trained):
    _, d = trained
    pc = clustering.cluster(pruned, d, 4, epochs=1, preserve_sparsity=True)
    shipped = {}
    for kind in ("pcqat", "qat", "pqat", "cqat"):
        q = clustering.preserving_qat(pc, d, kind, epochs=2, learning_rate=1e-3)
        shipped[kind] = clustering.stage("B", kind, d, pc, qat.convert_qat(q))
    assert shipped["pcqat"].sparsity > 0.7
    assert shipped["qat"].sparsity < 0.5 * shipped["pcqat"].sparsity
    assert shipped["pcqat"].max_unique <= 5  # 4 clusters (+ zero) per output channel
    assert shipped["pqat"].sparsity > 0.7  # PQAT keeps the zeros
    assert shipped["cqat"].max_unique <= 5  # CQAT keeps the shared values
    with pytest.raises(clustering.ClusteringSettingsError, match="kind"):
        clustering.preserving_qat(pc, d, "pqat-ish", epochs=1)


def test_stage_measures_float_and_int8(pruned, trained):
    _, d = trained
    f = clustering.stage("A", "pruned", d, pruned)
    q = clustering.stage(
        "A", "pruned + int8", d, pruned, quantize.convert(pruned, "int8", representative=d.x_train)
    )
    assert f.measurement.name == "A: pruned" and f.sparsity == pytest.approx(magnitude.kernel_sparsity(pruned))
    assert q.measurement.tflite_bytes < f.measurement.tflite_bytes / 2
    assert q.sparsity > 0.75  # zeros survive int8 conversion
    base = measure.measure("base", d, pruned)
    table = clustering.stage_table([f, q], base)
    assert "A: pruned + int8" in table and "x smaller" in table and len(table.splitlines()) == 4
    control = dataclasses.replace(base, name="control", tflite_accuracy=base.tflite_accuracy + 0.01)
    against = clustering.stage_table([f], base, reference=control)
    assert "Δ ctrl" in against and "against control" in against, "a loss is stated against the control, and says so"
    assert f"{(f.measurement.tflite_accuracy - control.tflite_accuracy) * 100:+.2f}" in against


def test_recipe_epochs_budget_in_steps():
    assert clustering.recipe_epochs(tiny_data(n=256)) == 400  # 2 steps per epoch
    assert clustering.recipe_epochs(tiny_data(n=128 * 430)) == 10


# ----------------------------------------------------------------------------- artifacts and export


@pytest.mark.parametrize(
    ("value", "expected"),
    [(30000, 30000), (30_000.0, 30000), ("30000", 30000), ("25 KB", 25000), ("24.4 KiB", 24985), ("1 MB", 10**6),
     ("2mib", 2 * 1024**2)],
)  # fmt: skip
def test_budgets_parse(value, expected):
    assert export.parse_budget(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [(0, "above zero"), (-5, "above zero"), ("25 parsecs", "Unknown unit"), ("lots", "Could not read"),
     (None, "number of bytes"), (True, "number of bytes"), ("99 GB", "over 10 GiB"), (float("nan"), "above zero")],
)  # fmt: skip
def test_nonsense_budgets_say_why(value, words):
    with pytest.raises(export.ExportError, match=words):
        export.parse_budget(value)


def _log_three(trained, pruned):
    model, d = trained
    flats = {
        "float": measure.to_tflite(model),
        "int8": quantize.convert(model, "int8", representative=d.x_train),
        "pruned int8": quantize.convert(pruned, "int8", representative=d.x_train),
    }
    for name, flat in flats.items():
        m = measure.measure(name, d, model, tflite=flat)
        results.record("combined", name, m, {"step": name}, lesson="04", data=d, artifact=flat, key=f"test/{name}")
    results.record("pruning", "no artifact", {"tflite_gz": 10, "tflite_accuracy": 0.99}, data=d, key='test/no artifact')
    return d, flats


def test_record_keeps_the_artifact_and_best_under_budget_picks_the_frontier(trained, pruned):
    d, flats = _log_three(trained, pruned)
    log = results.load(data=d)
    with_files = export.exportable(log)
    assert {e["name"] for e in with_files} == set(flats)
    for e in with_files:
        assert results.artifact_path(e).read_bytes() == flats[e["name"]]
    sizes = {e["name"]: e["metrics"]["tflite_gz"] for e in with_files}
    best = export.best_under_budget(log, sizes["int8"])
    assert best["metrics"]["tflite_gz"] <= sizes["int8"]
    assert best["metrics"]["tflite_accuracy"] == max(
        e["metrics"]["tflite_accuracy"] for e in with_files if e["metrics"]["tflite_gz"] <= sizes["int8"]
    )
    with pytest.raises(export.ExportError, match="Nothing fits"):
        export.best_under_budget(log, 100)
    with pytest.raises(export.ExportError, match="nothing to export"):
        export.best_under_budget([e for e in log if e["name"] == "no artifact"], "1 MB")


def test_export_writes_the_exact_bytes_and_remeasures(trained, pruned, tmp_path):
    d, flats = _log_three(trained, pruned)
    entry = next(e for e in results.load(data=d) if e["name"] == "pruned int8")
    out = export.export(entry, d, tmp_path / "exports")
    assert out.model_path.read_bytes() == flats["pruned int8"]
    assert out.remeasured_accuracy == pytest.approx(entry["metrics"]["tflite_accuracy"], abs=1e-12)
    card = json.loads(out.card_path.read_text())
    assert card["bytes"] == len(flats["pruned int8"]) and card["io_types"] == ["int8", "int8"]
    assert card["recipe"]["step"] == "pruned int8" and len(card["sha256"]) == 64
    assert "re-measured" in (tmp_path / "exports" / f"{out.model_path.stem}.md").read_text()


def test_export_of_a_tflm_measured_entry_compares_with_its_litert_accuracy(trained, pruned, tmp_path):
    """Lesson 05 logs TFLM's accuracy as tflite_accuracy and LiteRT's beside it; export re-measures in LiteRT."""
    d, flats = _log_three(trained, pruned)
    litert = measure.tflite_accuracy(flats["pruned int8"], d.x_test, d.y_test)
    entry = results.record("quantization", "on TFLM", {"tflite_accuracy": litert - 0.003, "litert_accuracy": litert,
                                                        "tflite_gz": 1}, data=d, artifact=flats["pruned int8"], key='test/on TFLM')  # fmt: skip
    out = export.export(entry, d, tmp_path / "exports")
    assert out.card["accuracy"] == litert == pytest.approx(out.remeasured_accuracy, abs=1e-12)


def test_export_of_a_model_litert_cannot_run_says_what_to_do(trained, pruned, tmp_path):
    d, _ = _log_three(trained, pruned)
    entry = results.record("clustering", "LUT", {"tflite_accuracy": 0.9, "tflite_gz": 1}, data=d,
                           artifact=b"TFL3 not a model LiteRT can run", key='test/LUT')  # fmt: skip
    with pytest.raises(export.ExportError, match="LiteRT cannot run 'LUT'.*write_c_files"):
        export.export(entry, d, tmp_path / "exports")


def test_export_of_an_entry_whose_file_is_gone_says_so(trained, pruned):
    d, _ = _log_three(trained, pruned)
    entry = next(e for e in results.load(data=d) if e["name"] == "int8")
    results.artifact_path(entry).unlink()
    with pytest.raises(export.ExportError, match="no saved .tflite"):
        export.export(entry, d)
    assert entry["name"] not in {e["name"] for e in export.exportable(results.load(data=d))}


# ----------------------------------------------------------------------------- the board explorer


def test_board_explorer_on_an_empty_log(trained):
    _, d = trained
    board = board_explorer.BoardExplorer(d)
    assert "No experiments logged" in board.message.value
    assert board.techniques.options == () and board.point.value == ""
    assert board.export() is None
    assert "nothing to export" in board.status.value


def test_board_explorer_filters_picks_and_exports(trained, pruned):
    d, _ = _log_three(trained, pruned)
    board = board_explorer.BoardExplorer(d, budget="1 MB")
    assert set(board.techniques.options) == {"combined", "pruning"}
    board.techniques.value = ("combined",)
    assert {e["name"] for e in board.visible()} == {"float", "int8", "pruned int8"}
    target = next(e for e in board.visible() if e["name"] == "int8")
    board.point.value = target["id"]
    assert "int8" in board.recipe.value and "exportable" in board.recipe.value
    board.axis.value = "latency_b1_us"
    assert board.point.value == target["id"]  # the pick survives an axis change
    done = board.export()
    assert done is not None and "re-measured" in board.status.value
    board.budget.value = "-3 KB"
    board.export()
    assert "above zero" in board.status.value


def test_board_explorer_picks_the_marker_you_click_and_exports_it(trained, pruned):
    d, _ = _log_three(trained, pruned)
    board = board_explorer.BoardExplorer(d)
    assert board.export_picked_button.disabled and board.export_picked() is None
    assert "Pick a point first" in board.status.value
    x, y, target = next(p for p in board.board.points if p[2]["name"] == "int8")
    board.board._event({"type": "mousemove", "dataX": x, "dataY": y})
    assert "int8" in board.hover.value and board.point.value == ""  # hovering names it, picks nothing
    board.board._event({"type": "click", "dataX": x + 2, "dataY": y + 2})
    assert board.point.value == target["id"] and "<b>int8</b>" in board.recipe.value
    assert not board.export_picked_button.disabled
    done = board.export_picked()
    assert done is not None and "re-measured" in board.status.value and "int8" in board.status.value


def test_board_explorer_reports_damaged_lines(trained, pruned):
    d, _ = _log_three(trained, pruned)
    with open(results.log_path(), "a") as f:
        f.write("{not json\n")
    board = board_explorer.BoardExplorer(d)
    assert "damaged line" in board.message.value
    assert len(board.entries) == 4


def test_plots_draw_boards_and_waterfall(trained, pruned):
    d, _ = _log_three(trained, pruned)
    fig = board_plots.boards(results.load(data=d), highlight=["int8"])
    assert len(fig.axes) == 2 and "latency" in fig.axes[1].get_xlabel()
    model, _ = trained
    stages = [clustering.stage("A", "float", d, model), clustering.stage("A", "pruned", d, pruned)]
    wf = combining_figures.size_waterfall(stages, stages[0].measurement)
    assert len(wf.axes) == 1 and len(wf.axes[0].patches) == 2


# ----------------------------------------------------------------------------- exercise checks


def _entry(name, gz, acc):
    return {"name": name, "metrics": {"tflite_gz": gz, "tflite_accuracy": acc}}


def test_frontier_pick(capsys):
    log = [
        _entry("small", 10_000, 0.80),
        _entry("mid", 25_000, 0.86),
        _entry("worse mid", 28_000, 0.84),
        _entry("big", 50_000, 0.9),
    ]
    assert combining_exercises.frontier_pick("mid", log, 30_000)
    assert not combining_exercises.frontier_pick("big", log, 30_000)
    assert "over the budget" in capsys.readouterr().out
    assert not combining_exercises.frontier_pick("small", log, 30_000)
    assert "more accurate" in capsys.readouterr().out
    assert not combining_exercises.frontier_pick("nope", log, 30_000)
    assert not combining_exercises.frontier_pick(None, log, 30_000)


def test_cluster_halving(capsys):
    assert combining_exercises.cluster_halving(0.75, gz_8=7500, gz_16=10000)
    assert combining_exercises.cluster_halving("0.78", gz_8=7800, gz_16=10000)
    assert not combining_exercises.cluster_halving(0.5, gz_8=7500, gz_16=10000)
    assert "4 bits to 3" in capsys.readouterr().out
    assert not combining_exercises.cluster_halving(1.3, gz_8=7500, gz_16=10000)
    assert "below 1" in capsys.readouterr().out


def test_lessons_up_to_keeps_what_a_student_has_at_lesson_04():
    """Lesson 04's frontier must not show lesson 05's designed CNN or lesson 06's students (issue 22)."""
    from helpers import results

    log = results.Log([{"lesson": k, "name": k} for k in ("00", "01", "01b", "02", "02b", "03", "04", "05", "06")],
                      damaged_lines=[7])
    kept = export.lessons_up_to(log, "04")
    assert [e["lesson"] for e in kept] == ["00", "01", "01b", "02", "02b", "03", "04"]
    assert kept.damaged_lines == [7]
