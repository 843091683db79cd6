"""data/precomputed/: the full-mode references the explorers show at once.

Round trip, damaged files (a warning and None, never an exception into an explorer), refusing
fast-mode and digits results, each explorer showing the reference for its current setting, and
the committed files themselves (present, full mode, Fashion-MNIST, small, self-consistent).
Every number checked here is made up per test or read from the committed files, never typed in.
"""

from __future__ import annotations

import importlib.util
import json
import types
import warnings

import numpy as np
import pytest
from test_pruning import tiny_data

from helpers import config, models, precomputed, results
from helpers.combining import board_explorer
from helpers.distillation import explorer as distillation_explorer
from helpers.distillation import studies
from helpers.pruning import explorer as pruning_explorer
from helpers.quantization import explorer as quantization_explorer
from helpers.ui import board_plots, pointable_board
from helpers.ui import explorer as ui_explorer

ROOT = config.PROJECT_ROOT
RNG = np.random.default_rng(7)
FULL = types.SimpleNamespace(name="fashion_mnist", mode="full", source="a test")


def _acc() -> float:
    return round(float(RNG.uniform(0.6, 0.95)), 4)


def entry(key, technique="pruning", settings=None, *, lesson="01", mode="full", data="fashion_mnist", params=266_610):
    return {
        "id": f"id-{key}",
        "time": "2026-01-02T03:04:05+00:00",
        "artifact": f"artifacts/{key}.tflite",
        "data_source": "somewhere on this machine",
        "lesson": lesson,
        "key": key,
        "technique": technique,
        "name": f"run {key}",
        "settings": settings or {},
        "metrics": {
            "tflite_accuracy": _acc(),
            "tflite_gz": int(RNG.integers(10_000, 900_000)),
            "nonzeros": int(RNG.integers(1_000, 266_610)),
            "params": params,
            "latency_b1_us": float(RNG.uniform(5, 50)),
        },
        "mode": mode,
        "data": data,
    }


def pruning_entries(params=266_610):
    return [entry(f"01/sweep/{s}", "baseline" if s == 0 else "pruning", {"sparsity": s, "epochs": 6}, params=params)
            for s in (0.0, 0.5, 0.9)]  # fmt: skip


def write(lesson, entries, sweeps=None) -> dict:
    payload = precomputed.build(lesson, entries, sweeps, produced_by="a test")
    precomputed.save(lesson, payload)
    return payload


# ----------------------------------------------------------------------------- round trip


def test_round_trip_strips_machine_specific_fields_and_keeps_provenance():
    entries = pruning_entries()
    write("01", entries, {"extra": {"values": [0.123456789, 2]}})
    ref = precomputed.load("01")
    assert isinstance(ref, precomputed.Reference) and ref.lesson == "01"
    assert [e["key"] for e in ref.entries] == [e["key"] for e in entries]
    for got, sent in zip(ref.entries, entries, strict=True):
        assert got["metrics"]["tflite_accuracy"] == sent["metrics"]["tflite_accuracy"]
        assert "artifact" not in got and "time" not in got and "data_source" not in got
        assert got["reference"] is True and got["id"] == f"ref/{sent['key']}"  # not the machine's id
    p = ref.provenance
    assert (p["mode"], p["data"], p["data_source"]) == ("full", "fashion_mnist", "somewhere on this machine")
    assert p["produced_by"] == "a test" and p["versions"]["tensorflow"] != "not installed"
    assert p["results_logged"] == ["2026-01-02T03:04:05+00:00"] * 2
    assert ref.sweeps == {"extra": {"values": [0.123457, 2]}}  # floats to 6 significant digits
    assert precomputed.path("01").parent == precomputed.directory() != precomputed.DIR  # tests never touch the repo


def test_nearest_and_entry_lookups():
    write("01", pruning_entries())
    ref = precomputed.load("01")
    assert ref.nearest("01/sweep/", "sparsity", 0.8)["key"] == "01/sweep/0.9"
    assert ref.nearest("01/sweep/", "sparsity", 0.25)["key"] == "01/sweep/0.0"  # a tie goes to the smaller
    assert ref.nearest("02/", "bits", 4) is None
    assert ref.entry("01/sweep/0.5")["settings"]["sparsity"] == 0.5 and ref.entry("nope") is None


def test_a_missing_file_is_none_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precomputed.load("03") is None
        assert precomputed.load_all() == []


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00 binary",
        b"[]",
        b'{"format": 1, "lesson": "01"}',
        "truncated",
        "fast",
        "digits",
        "other lesson",
    ],
)
def test_a_damaged_file_warns_with_the_fix_and_gives_none(content):
    if isinstance(content, str):
        payload = precomputed.build("01", pruning_entries(), produced_by="a test")
        blob = precomputed.encode(payload)
        if content == "truncated":
            blob = blob[: len(blob) // 2]
        elif content == "fast":
            payload["provenance"]["mode"] = "fast"
        elif content == "digits":
            payload["entries"][0]["data"] = "digits"
        else:
            payload["lesson"] = "02"
        content = blob if content == "truncated" else precomputed.encode(payload)
    target = precomputed.path("01")
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    with pytest.warns(precomputed.PrecomputedWarning, match="make precompute") as caught:
        assert precomputed.load("01") is None
    assert "git checkout data/precomputed" in str(caught[0].message)


# ----------------------------------------------------------------------------- refusing fast mode and digits


@pytest.mark.parametrize(
    ("mode", "data", "words"), [("fast", "fashion_mnist", "WORKBOOK_FAST"), ("full", "digits", "digits")]
)
def test_build_and_save_refuse_fast_mode_and_digits(mode, data, words):
    bad = [*pruning_entries(), entry("01/sweep/0.95", mode=mode, data=data)]
    with pytest.raises(precomputed.PrecomputeError, match=words):
        precomputed.build("01", bad, produced_by="a test")
    payload = precomputed.build("01", pruning_entries(), produced_by="a test")
    payload["provenance"].update(mode=mode, data=data)
    with pytest.raises(precomputed.PrecomputeError, match=words):
        precomputed.save("01", payload)
    assert not precomputed.path("01").exists()


def test_save_refuses_a_big_or_malformed_file():
    payload = precomputed.build("01", pruning_entries(), {"huge": list(range(40_000))}, produced_by="a test")
    with pytest.raises(precomputed.PrecomputeError, match="keep it small"):
        precomputed.save("01", payload)
    with pytest.raises(precomputed.PrecomputeError, match="No full-mode results"):
        precomputed.build("01", [], produced_by="a test")
    assert not precomputed.path("01").exists()


def _tool():
    spec = importlib.util.spec_from_file_location("precompute_tool", ROOT / "tools" / "precompute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tool_refuses_fast_mode(monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_FAST", "1")
    assert _tool().main(["01"]) == 2
    assert "full mode only" in capsys.readouterr().err
    assert not precomputed.path("01").exists()


def _log(entries):
    for e in entries:
        data = types.SimpleNamespace(name=e["data"], mode=e["mode"], source="a test")
        results.record(
            e["technique"], e["name"], e["metrics"], e["settings"], lesson=e["lesson"], key=e["key"], data=data
        )


def test_the_tool_writes_the_newest_full_fashion_entries_of_the_log():
    import helpers

    tool = _tool()
    old, new = pruning_entries(), pruning_entries()
    _log(
        old
        + new
        + [entry("01/sweep/0.5", mode="fast"), entry("01/sweep/0.5", data="digits"), entry("00/mlp", lesson="00")]
    )
    written = tool.precompute(helpers, "01", execute=False)
    ref = precomputed.load("01")
    assert written == precomputed.path("01") and ref is not None
    assert [(e["key"], e["metrics"]["tflite_accuracy"]) for e in ref.entries] == [
        (e["key"], e["metrics"]["tflite_accuracy"]) for e in new
    ]


def test_the_tool_refuses_digits_and_an_empty_log_without_executing():
    import helpers

    tool = _tool()
    _log([entry("01/sweep/0.5", mode="fast")])
    with pytest.raises(tool.Refused, match="No full-mode results"):
        tool.precompute(helpers, "01", execute=False)
    _log([entry("01/sweep/0.5", data="digits")])
    with pytest.raises(tool.Refused, match="digits"):
        tool.precompute(helpers, "01", execute=False)
    assert not precomputed.path("01").exists()


# ----------------------------------------------------------------------------- sweeps kept in data/cache


def test_grid_search_keeps_its_grid_and_grids_round_trip(isolated_cache):
    d = tiny_data(n=120, n_test=40)
    logits = RNG.normal(size=(len(d.x_train), 10)).astype(np.float32)
    grid = studies.grid_search(d, logits, 5, temperatures=(2,), alphas=(0.5,), epochs=1)
    kept = precomputed.kept_sweep(studies.grid_sweep_name(5, (2,), (0.5,), 1, 0), d)
    assert kept["value"] == grid.as_dict() and (kept["data"], kept["mode"]) == (d.name, d.mode)
    assert str(isolated_cache) in str(next((isolated_cache / "sweeps").iterdir()))
    back = studies.Grid.from_dict(grid.as_dict())
    assert back.best == grid.best and np.allclose(back.val_accuracy, grid.val_accuracy)
    with pytest.raises(ValueError, match="grid"):
        studies.Grid.from_dict({**grid.as_dict(), "val_accuracy": [[1, 2, 3]]})
    assert precomputed.kept_sweep("never-computed", d) is None


# ----------------------------------------------------------------------------- the board's reference layer


def test_board_draws_the_reference_as_its_own_labelled_layer():
    mine = [entry("a", lesson="01", mode="fast"), entry("b", lesson="01", mode="fast")]
    ref = pruning_entries()
    fig = board_plots.board(mine, reference=ref)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert board_plots.REFERENCE_LABEL in labels and labels.count(board_plots.REFERENCE_LABEL) == 1
    drawn = np.concatenate(
        [c.get_offsets() for c in ax.collections if c.get_label() in (board_plots.REFERENCE_LABEL, "_nolegend_")]
    )
    expected = [[e["metrics"]["tflite_gz"] / 1024, e["metrics"]["tflite_accuracy"] * 100] for e in ref]
    np.testing.assert_allclose(sorted(map(tuple, drawn)), sorted(map(tuple, expected)))
    front = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto frontier"]
    for line in front:  # the frontier runs through your points only
        assert set(np.round(line.get_xdata(), 6)) <= {round(e["metrics"]["tflite_gz"] / 1024, 6) for e in mine}
    empty = board_plots.board([], reference=ref).axes[0]
    assert any("full-mode reference" in t.get_text() for t in empty.texts)


# ----------------------------------------------------------------------------- explorers


class _Shown(list):
    """What the panels displayed; ``legends``: each board's legend labels, by ``id`` of its figure."""

    def __init__(self):
        super().__init__()
        self.legends: dict[int, list[str]] = {}


@pytest.fixture
def figures(monkeypatch):
    shown = _Shown()
    monkeypatch.setattr(ui_explorer, "display", lambda obj: shown.append(obj))
    draw = pointable_board.PointableBoard.draw  # the boards are PNGs you can click, drawn without display()

    def drawn(self, *args, **kwargs):
        fig = draw(self, *args, **kwargs)
        shown.legends[id(fig)] = list(self.figure.legend_labels)  # drawn live or pasted from its raster
        shown.append(fig)
        return fig

    monkeypatch.setattr(pointable_board.PointableBoard, "draw", drawn)
    return shown


def _legend(figures) -> list[str]:
    """The legend of the last board (size-vs-accuracy figure) the panel displayed."""
    fig = [f for f in figures if "log scale" in f.axes[0].get_xlabel()][-1]
    if id(fig) in figures.legends:
        return figures.legends[id(fig)]
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


@pytest.fixture
def mlp():
    return models.compile_model(models.build_mlp())


def test_schedule_explorer_states_the_full_mode_result_at_the_chosen_sparsity(mlp, figures):
    entries = pruning_entries(params=mlp.count_params())
    write("01", entries)
    d = tiny_data(n=256, n_test=40)
    explorer = pruning_explorer.ScheduleExplorer(mlp, d, d, epochs=2)  # constructing trains nothing
    at = {e["settings"]["sparsity"]: e["metrics"] for e in entries}
    assert f"{at[0.9]['tflite_accuracy']:.2%}" in explorer.reference.value  # default final sparsity 0.9
    assert f"{at[0.9]['tflite_gz']:,}" in explorer.reference.value
    assert f"{at[0.0]['tflite_accuracy']:.2%}" in explorer.reference.value  # the dense control beside it
    explorer.final.value = 0.55
    assert f"{at[0.5]['tflite_accuracy']:.2%}" in explorer.reference.value
    assert "nearest your 55%" in explorer.reference.value
    assert board_plots.REFERENCE_LABEL in _legend(figures)  # the board: a labelled reference layer
    assert "Full mode, precomputed" in repr(explorer.panel())


def test_schedule_explorer_on_another_model_or_data_set_says_so(figures):
    write("01", pruning_entries(params=123))
    small = models.compile_model(models.build_mlp(hidden=(16,)))
    d = tiny_data(n=256, n_test=40)
    explorer = pruning_explorer.ScheduleExplorer(small, d, d, epochs=2)
    assert "this model differs" in explorer.reference.value
    digits = d.__class__(**{**d.__dict__, "name": "digits"})
    other = pruning_explorer.ScheduleExplorer(models.compile_model(models.build_mlp()), d, digits, epochs=2)
    assert other._board_reference() == [] and board_plots.REFERENCE_LABEL not in _legend(figures)


def test_a_damaged_reference_leaves_the_explorer_working(mlp, figures):
    target = precomputed.path("01")
    target.parent.mkdir(parents=True)
    target.write_text('{"format": 1, "lesson": "01", "entr')
    d = tiny_data(n=256, n_test=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning becomes the panel's note, not an exception
        explorer = pruning_explorer.ScheduleExplorer(mlp, d, d, epochs=2)
    assert explorer.reference_data is None and "make precompute" in explorer.reference.value
    assert explorer.run_button.disabled is False and explorer.last_preview.problems == []
    explorer.final.value = 0.7
    assert "make precompute" in explorer.reference.value and figures  # updates and draws as before


def test_an_odd_but_valid_file_becomes_a_note_not_an_error(mlp, figures):
    entries = pruning_entries(params=mlp.count_params())
    entries[2]["settings"]["sparsity"] = "ninety"  # parses, but the look-up cannot use it
    entries[1]["metrics"] = {"params": mlp.count_params()}  # no accuracy: shown as "?"
    write("01", entries)
    d = tiny_data(n=256, n_test=40)
    explorer = pruning_explorer.ScheduleExplorer(mlp, d, d, epochs=2)
    assert "accuracy ?" in explorer.reference.value


def test_bit_width_explorer_states_the_full_mode_accuracy_at_the_chosen_width(mlp, figures):
    rows = [{"bits": b, "per_channel": pc, "symmetric": s, "accuracy": _acc(), "packed_bytes": int(RNG.integers(1e4, 1e6))}
            for b in range(2, 9) for pc in (True, False) for s in (True, False)]  # fmt: skip
    sweep = {"model": "mlp", "params": mlp.count_params(), "float_accuracy": _acc(), "rows": rows}
    qat = entry("02/nbit/4", "quantization", {"bits": 4}, lesson="02")
    write("02", [entry("02/ptq/MLP/int8", "quantization", {"kind": "int8"}, lesson="02"), qat], {"bit_width": sweep})
    d = tiny_data(n=64, n_test=40)
    explorer = quantization_explorer.BitWidthExplorer(mlp, d, bits=4)

    def row(bits, pc, s):
        return next(r for r in rows if (r["bits"], r["per_channel"], r["symmetric"]) == (bits, pc, s))

    assert f"{row(4, True, True)['accuracy']:.2%}" in explorer.reference.value
    assert f"{row(4, True, True)['packed_bytes']:,}" in explorer.reference.value
    assert f"{qat['metrics']['tflite_accuracy']:.2%}" in explorer.reference.value  # the lesson's 4-bit QAT
    explorer.bits.value = 6
    explorer.symmetric.value = False
    assert f"{row(6, True, False)['accuracy']:.2%}" in explorer.reference.value
    explorer.bits.value = 9  # invalid: an error, no reference line
    assert explorer.reference.value == "" and "2 to 8" in explorer.message.value
    other = quantization_explorer.BitWidthExplorer(models.compile_model(models.build_mlp(hidden=(8,))), d)
    assert "no reference for this model" in other.reference.value


def _grid(labels):
    return studies.Grid((1, 4), (0.0, 0.5), RNG.uniform(0.5, 0.9, (2, 2)).round(4), labels, 0, 2)


def test_distillation_explorer_states_the_full_mode_grid_cell(figures):
    grids = {"all": _grid(None), "20": _grid(20)}
    students = [entry(f"03/20 labels per class/{m}", "distillation", {"mean_accuracy": _acc(), "std_accuracy": 0.003,
                      "seeds": 3, "temperature": 1, "alpha": 0.0}, lesson="03") for m in ("distilled", "scratch")]  # fmt: skip
    write("03", students, {"grids": {k: g.as_dict() for k, g in grids.items()}})
    d = tiny_data(n=64, n_test=40)
    teacher = models.compile_model(models.build_mlp(hidden=(8,)))
    explorer = distillation_explorer.DistillationExplorer(teacher, d, d, labels_per_class=20, temperature=4.0, alpha=0.5)
    g = grids["20"].val_accuracy
    assert explorer.grid is explorer.reference_grid  # no grid passed: the full-mode one is drawn
    assert "full mode, precomputed" in explorer._figure.ax_grid.get_title()
    assert f"{g[1, 1]:.2%}" in explorer.reference.value  # T=4, alpha=0.5
    assert f"{students[0]['settings']['mean_accuracy']:.2%}" in explorer.reference.value
    explorer.temperature.value = 1.0
    explorer.alpha.value = 0.0
    assert f"{g[0, 0]:.2%}" in explorer.reference.value
    mine = _grid(20)  # a grid the notebook computed (fast mode): drawn, and the reference stays beside it
    explorer = distillation_explorer.DistillationExplorer(teacher, d, d, grid=mine, labels_per_class=20, temperature=1.0, alpha=0.0)
    assert explorer.grid is mine and f"{mine.val_accuracy[0, 0]:.2%}" in explorer.message.value
    assert f"{g[0, 0]:.2%}" in explorer.reference.value
    everything = distillation_explorer.DistillationExplorer(teacher, d, d, labels_per_class=None, temperature=1.0, alpha=0.0)
    assert f"{grids['all'].val_accuracy[0, 0]:.2%}" in everything.reference.value


def test_board_explorer_shows_the_reference_layer_apart_from_your_runs(figures):
    write("00", [entry("00/mlp", "baseline", lesson="00")])
    write("04", [entry("04/goal/8", "combined", lesson="04"), entry("04/cluster/8", "clustering", lesson="04")])
    d = tiny_data(n=64, n_test=40)
    board = board_explorer.BoardExplorer(d)  # your log is empty
    assert "No experiments logged" in board.message.value and "grey points" in board.message.value
    assert set(board.techniques.options) == {"baseline", "clustering", "combined"}
    assert board.visible() == [] and len(board.visible_reference()) == 3
    assert board_plots.REFERENCE_LABEL in _legend(figures)
    ref_ids = [v for label, v in board.point.options if label.startswith(f"[{precomputed.LABEL}]")]
    assert len(ref_ids) == 3
    board.point.value = ref_ids[0]
    assert "not your run" in board.recipe.value and "exportable" in board.recipe.value
    assert board.export() is None and "nothing to export" in board.status.value  # a reference is never exported
    board.show_reference.value = False
    assert board.visible_reference() == [] and board.point.value == ""
    assert board_plots.REFERENCE_LABEL not in _legend(figures)


def test_board_explorer_on_digits_leaves_the_reference_off(figures):
    write("00", [entry("00/mlp", "baseline", lesson="00")])
    d = tiny_data(n=64, n_test=40)
    board = board_explorer.BoardExplorer(d.__class__(**{**d.__dict__, "name": "digits"}))
    assert board.reference_entries == [] and board.show_reference.disabled
    assert "not drawn on a digits board" in board.message.value


def test_board_explorer_reports_a_damaged_reference(figures):
    target = precomputed.path("02")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\x00garbage")
    board = board_explorer.BoardExplorer(tiny_data(n=64, n_test=40))
    assert "02_quantization.json is damaged" in board.message.value and "make precompute" in board.message.value


# ----------------------------------------------------------------------------- the committed files


@pytest.fixture
def committed(monkeypatch):
    monkeypatch.setenv("WORKBOOK_PRECOMPUTED", str(precomputed.DIR))
    return {lesson: precomputed.load(lesson) for lesson in precomputed.LESSONS}


@pytest.mark.parametrize("lesson", sorted(precomputed.LESSONS))
def test_committed_file_is_full_mode_fashion_mnist_and_small(lesson, committed):
    where = precomputed.DIR / f"{precomputed.LESSONS[lesson]}.json"
    assert where.is_file(), f"{where.name} missing: run make precompute"
    assert where.stat().st_size < precomputed.MAX_BYTES
    raw = json.loads(where.read_bytes())
    assert precomputed.problems(raw, lesson) == []
    ref = committed[lesson]
    assert ref is not None and ref.entries
    assert (ref.provenance["mode"], ref.provenance["data"]) == ("full", "fashion_mnist")
    assert ref.provenance["versions"] and ref.provenance["created"] and ref.provenance["produced_by"]
    for e in raw["entries"]:
        assert (e["mode"], e["data"], e["lesson"]) == ("full", "fashion_mnist", lesson)
        assert not {"id", "artifact", "time", "data_source"} & set(e)
        accuracy = e["metrics"].get("tflite_accuracy", e["metrics"].get("tflm_accuracy"))  # TFLM-only files: no LiteRT
        assert isinstance(accuracy, float) and e.get("key", "").startswith(f"{lesson}/")


def test_committed_sweeps_are_what_the_explorers_need_and_agree_with_the_entries(committed):
    sweep = [e for e in committed["01"].entries if e["key"].startswith("01/sweep/")]
    assert len(sweep) >= 3 and any(e["settings"]["sparsity"] == 0 for e in sweep)
    bit = committed["02"].sweeps["bit_width"]
    assert {(r["bits"], r["per_channel"], r["symmetric"]) for r in bit["rows"]} == {
        (b, pc, s) for b in range(2, 9) for pc in (True, False) for s in (True, False)
    }
    assert bit["float_accuracy"] == committed["02"].entry("02/ptq/MLP/float32")["metrics"]["keras_accuracy"]
    assert bit["params"] == committed["00"].entry("00/mlp")["metrics"]["params"]
    for labels, regime in ((None, "all labels"), (20, "20 labels per class")):
        grid = studies.Grid.from_dict(committed["03"].grid(labels))
        chosen = committed["03"].entry(f"03/{regime}/distilled")["settings"]
        assert grid.best == (chosen["temperature"], chosen["alpha"])  # the grid chose the logged student's T, alpha
    assert any(e["key"].startswith("04/goal/") for e in committed["04"].entries)


def test_make_precompute_keeps_lesson_05s_opt_in_rows_that_make_execute_does_not_log():
    """make execute runs lesson 05 with RUN_SEARCH / RUN_ABLATION = False: its log has the ablation's recipe
    row only. Rebuilding the ledger from it once dropped the search and five ablation rows the lesson's
    tables read (then lesson 05 stopped at "the search's results"); now they are carried over, said so."""
    tool = _tool()
    committed = [dict(entry(f"05/search/{i}", lesson="05"), technique="design search") for i in range(3)]
    committed += [dict(entry(f"05/ablation/{n}", lesson="05"), technique="design ablation", name=f"ablation: {n}")
                  for n in ("recipe", "no BatchNorm")]  # fmt: skip
    run = [dict(entry("05/ablation/recipe", lesson="05"), technique="design ablation", name="ablation: recipe (new)"),
           dict(entry("05/design", lesson="05"), technique="design")]  # fmt: skip
    merged, note = tool.carry_over("05", run, committed, "2026-12-05")
    assert [e["key"] for e in merged] == ["05/ablation/recipe", "05/design", "05/search/0", "05/search/1", "05/search/2",
                                          "05/ablation/no BatchNorm"]  # fmt: skip
    assert merged[0]["name"] == "ablation: recipe (new)"  # the run's own row wins over the committed one
    assert "3 'design search' entries, 1 'design ablation' entries" in note and "RUN_SEARCH" in note
    assert tool.carry_over("05", [*run, *committed], committed) == ([*run, *committed], "")  # nothing missing
    assert tool.carry_over("01", run, committed) == (run, "")  # only lesson 05's opt-in rows are carried


def test_the_committed_lesson_05_ledger_holds_the_rows_its_tables_read():
    entries = json.loads((ROOT / "data" / "precomputed" / "05_microcontroller.json").read_text(encoding="utf-8"))["entries"]
    techniques = [e["technique"] for e in entries]
    assert techniques.count("design search") >= 3  # section 5's search table (SEARCH_TOP)
    ablation = {e["name"] for e in entries if e["technique"] == "design ablation"}
    assert {"ablation: recipe", "ablation: no BatchNorm", "ablation: constant learning rate"} <= ablation
