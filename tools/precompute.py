"""Write the explorers' full-mode references, data/precomputed/<lesson>.json (make precompute).

    python tools/precompute.py                 # every lesson, 00-04
    python tools/precompute.py 01 03           # only these
    python tools/precompute.py --no-execute    # only from the results log; never run a notebook
    python tools/precompute.py --check         # read the committed files back and print their sizes

For each lesson it takes the newest full-mode, Fashion-MNIST, keyed entries from the results
log, as the committed notebooks leave them after `make execute` (`make precompute` reads that run's
log, data/execute-cache/results.jsonl, when it exists; else data/cache/results.jsonl).
A lesson with none (a fresh clone) is executed in full mode first, as a temporary copy (the
committed notebook is never touched), which appends them. Lesson 02 adds the whole-model
bit-width sweep of lesson 00's MLP (every setting of the explorer, no training: seconds);
lesson 03 adds the T x alpha validation grids, kept in data/cache/sweeps/ by the lesson's
grid_search or computed here the same way (a few minutes). Fast mode and the digits fallback are
refused: the files are committed, full-mode Fashion-MNIST references.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEW = 20  # lesson 03's "few labels" regime (FEW in the notebook)
GRID_REGIMES = {None: "all labels", FEW: f"{FEW} labels per class"}  # labels per class -> lesson 03's regime name


class Refused(Exception):
    """A reason not to write a reference, said to the user as is."""


def _import_helpers():
    """helpers, with TensorFlow's C++ start-up lines kept off the terminal."""
    sys.path.insert(0, str(ROOT))
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import helpers
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    return helpers


def log_entries(helpers, lesson: str) -> list[dict]:
    """The lesson's newest full-mode Fashion-MNIST keyed entries; Refused if only digits ones exist."""
    log = helpers.results.load(mode="full")
    # keyed lesson steps; a widget's runs (keys "<lesson>/explorer/...") are a reader's, never a reference
    mine = [e for e in log if e.get("lesson") == lesson and e.get("key") and "/explorer/" not in e["key"]]
    fashion = [e for e in mine if e.get("data") == helpers.precomputed.DATA]
    if mine and not fashion:
        raise Refused(
            f"Lesson {lesson}'s full-mode results are on {mine[0].get('data')!r} (the offline digits fallback), not "
            "Fashion-MNIST: refusing to write a reference from them. Install dataset-fashion-mnist or go online "
            "(`make data`), then run `make precompute` again."
        )
    return fashion


def execute_notebook(helpers, lesson: str) -> float:
    """Run the lesson's notebook in full mode as a temporary copy (nbconvert); returns seconds."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    name = f"{helpers.precomputed.LESSONS[lesson]}.ipynb"
    source = ROOT / "notebooks" / name
    print(f"  lesson {lesson}: no full-mode results in the log; executing {source.relative_to(ROOT)} in full mode "
          "as a temporary copy (minutes) ...", flush=True)  # fmt: skip
    nb = nbformat.read(source, as_version=4)
    os.environ["WORKBOOK_FAST"] = "0"  # the kernel inherits it
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="precompute-") as tmp:
        ExecutePreprocessor(timeout=3600, kernel_name="python3").preprocess(nb, {"metadata": {"path": tmp}})
        nbformat.write(nb, Path(tmp) / name)  # the executed copy lives and dies in tmp
    return time.perf_counter() - start


def full_data(helpers):
    data = helpers.data.load(helpers.config.FULL_MODE)
    try:
        helpers.precomputed.refuse_unless_full_fashion([data], "the data this tool loaded")
    except helpers.precomputed.PrecomputeError as exc:
        raise Refused(str(exc)) from exc
    return data


def bit_width_sweep(helpers, entries: list[dict]) -> dict:
    """Lesson 02's explorer, Run at every setting, on the full-mode MLP baseline (no training)."""
    data = full_data(helpers)
    mlp = helpers.models.baseline("mlp", data).model
    float_accuracy = helpers.measure.keras_accuracy(mlp, data.x_test, data.y_test)
    logged = next((e for e in entries if e.get("key") == "02/ptq/MLP/float32"), None)
    if logged and abs(logged["metrics"]["keras_accuracy"] - float_accuracy) > 5e-4:
        raise Refused(
            f"The cached full-mode MLP baseline scores {float_accuracy:.2%}, but the results log's lesson 02 entries "
            f"were made with one scoring {logged['metrics']['keras_accuracy']:.2%}: the reference would mix two "
            "models. Re-run lesson 02 in full mode (`make execute`), then `make precompute`."
        )
    rows = []
    for bits in range(2, 9):
        for per_channel in (True, False):
            for symmetric in (True, False):
                metrics, _ = helpers.quantization.quantize.explorer_run(mlp, data, bits, per_channel, symmetric, record=False)
                rows.append({"bits": bits, "per_channel": per_channel, "symmetric": symmetric,
                             "accuracy": metrics["tflite_accuracy"], "packed_bytes": metrics["packed_bytes"]})  # fmt: skip
    print(f"  lesson 02: bit-width sweep, {len(rows)} settings of the whole MLP (fake-quantized, no retraining)")
    return {
        "what": "quantization.explorer_run at every explorer setting: lesson 00's MLP, every kernel "
        "fake-quantized, accuracy on the 10,000 test images, packed size",
        "model": mlp.name,
        "params": mlp.count_params(),
        "float_accuracy": float_accuracy,
        "rows": rows,
    }


def distillation_grids(helpers, entries: list[dict]) -> dict:
    """Lesson 03's T x alpha validation grids: kept by the lesson's grid_search, else computed here."""
    d, studies = helpers.distillation.distiller, helpers.distillation.studies
    data = full_data(helpers)
    epochs = d.student_epochs(data)
    temperatures, alphas = (1, 2, 4, 8), (0.0, 0.1, 0.5, 0.9)  # grid_search's defaults, as the lesson uses them
    grids, logits = {}, None
    for per_class, regime in GRID_REGIMES.items():
        name = studies.grid_sweep_name(per_class, temperatures, alphas, epochs, 0)
        kept = helpers.precomputed.kept_sweep(name, data)
        if kept is not None:
            grid = studies.Grid.from_dict(kept["value"])
            print(f"  lesson 03: grid for {regime} from data/cache/sweeps (computed {kept.get('time')})")
        else:
            if logits is None:
                teacher = helpers.models.baseline("cnn", data).model
                logits = d.teacher_logits(teacher, data.x_train)
            print(f"  lesson 03: computing the grid for {regime}: 16 students x {epochs} epochs ...", flush=True)
            start = time.perf_counter()
            grid = studies.grid_search(data, logits, per_class, temperatures, alphas, epochs=epochs)
            print(f"    {time.perf_counter() - start:.0f} s")
        chosen = next((e for e in entries if e.get("key") == f"03/{regime}/distilled"), None)
        if chosen and (chosen["settings"].get("temperature"), chosen["settings"].get("alpha")) != grid.best:
            raise Refused(
                f"The {regime} grid's best cell is T={grid.best[0]:g}, alpha={grid.best[1]:g}, but lesson 03's logged "
                f"student used T={chosen['settings'].get('temperature')}, alpha={chosen['settings'].get('alpha')}: "
                "the grid and the log come from different runs. Re-run lesson 03 in full mode, then `make precompute`."
            )
        grids[helpers.precomputed.grid_name(per_class)] = grid.as_dict()
    return grids


def lowbit_sensitivity(helpers, entries: list[dict]) -> dict:
    """Lesson 02b's per-layer sensitivity (accuracy drop per layer and width, one real file each, on the
    validation images) of the full-mode MLP and CNN: what the explorer's Allocate uses at once."""
    data = full_data(helpers)
    tables = {}
    for arch in ("mlp", "cnn"):
        model = helpers.models.baseline(arch, data).model
        flat = helpers.measure.to_tflite(model)
        table = helpers.low_bit.mixed_precision.sensitivity(model, flat, data.x_val, data.y_val)
        tables[model.name] = {layer: {str(bits): drop for bits, drop in row.items()} for layer, row in table.items()}
    print(f"  lesson 02b: per-layer sensitivity of {sorted(tables)} (dynamic mode, validation images)")
    return {"what": "lowbit_mixed.sensitivity: accuracy drop (fraction) with one layer alone at each width, dynamic mode, "
            "on the validation images", "tables": tables}  # fmt: skip


def estimator_sweep(helpers, entries: list[dict]) -> dict:
    """Lesson 05's estimator check: TFLM's smallest arena of each untrained design of section 4
    (the four the lesson checks, section 4)."""
    designs = ("c16s1 c32s2 c64s2 gap", "c16s2 c32s2 c64s1 gap", "c16s2 c32s2 c40s2 flat", "c24s2 d48s2 d96s1 gap")
    data = full_data(helpers)
    arenas = helpers.microcontroller.design_training.estimator_arenas(designs, data.x_train[:100])
    print(f"  lesson 05: estimator check, TFLM arenas of {len(arenas)} untrained designs")
    return {"what": "TFLM's smallest arena (bytes) of each design as an untrained int8 file "
            "(helpers.microcontroller.design_training.estimator_arenas)", "arena": arenas}


# Entries a lesson logs only when the reader opts in to a long run (lesson 05: RUN_SEARCH = True, RUN_ABLATION = True
# in full mode, about 20 minutes): `make execute` leaves them out of its log, so they are carried over from the
# committed file until such a run logs new ones - never dropped (the lesson's tables read them).
CARRIED = {"05": ("design search", "design ablation")}


def carry_over(lesson: str, entries: list[dict], committed: list[dict], committed_on: str = "") -> tuple[list[dict], str]:
    """``entries`` plus each committed entry of a technique in ``CARRIED[lesson]`` whose key ``entries`` lacks
    (lesson 05 logs its ablation's recipe row on every run, the other rows only with RUN_ABLATION), and a note
    for the provenance naming what was carried ('' when nothing was)."""
    keys = {e.get("key") for e in entries}
    carried = [e for e in committed if e.get("technique") in CARRIED.get(lesson, ()) and e.get("key") not in keys]
    if not carried:
        return entries, ""
    counts = {t: sum(e["technique"] == t for e in carried) for t in CARRIED[lesson]}
    names = ", ".join(f"{n} '{t}' entries" for t, n in counts.items() if n)
    return [*entries, *carried], (f"; carried over from the committed file of {committed_on or 'an earlier run'}, as "
                                  f"the opt-in run that makes them (RUN_SEARCH / RUN_ABLATION = True in full mode) did "
                                  f"not run: {names}")


SWEEPS = {
    "02": {"bit_width": bit_width_sweep},
    "05": {"estimator": estimator_sweep},
    "02b": {"sensitivity": lowbit_sensitivity},
    "03": {"grids": distillation_grids},
}


def precompute(helpers, lesson: str, execute: bool) -> Path:
    entries = log_entries(helpers, lesson)
    produced = "results-log entries of the notebook run in full mode (make execute)"
    if not entries:
        if not execute:
            raise Refused(f"No full-mode results for lesson {lesson} in the log, and --no-execute was given.")
        seconds = execute_notebook(helpers, lesson)
        produced = f"results-log entries of the notebook executed in full mode by this tool ({seconds:.0f} s)"
        entries = log_entries(helpers, lesson)
        if not entries:
            raise Refused(f"Executing lesson {lesson} in full mode left no Fashion-MNIST results in the log.")
    previous = helpers.precomputed.load(lesson)
    entries, note = carry_over(lesson, entries, previous.entries if previous is not None else [],
                               previous.provenance.get("created", "") if previous is not None else "")
    produced += note
    sweeps = {name: make(helpers, entries) for name, make in SWEEPS.get(lesson, {}).items()}
    if sweeps:
        produced += "; sweeps: " + ", ".join(sweeps) + " (tools/precompute.py)"
    payload = helpers.precomputed.build(
        lesson, entries, sweeps, produced_by=f"tools/precompute.py (make precompute): {produced}"
    )
    try:
        return helpers.precomputed.save(lesson, payload)
    except helpers.precomputed.PrecomputeError as exc:
        raise Refused(str(exc)) from exc


def check(helpers, lessons) -> int:
    bad = 0
    for lesson in lessons:
        where = helpers.precomputed.path(lesson)
        ref = helpers.precomputed.load(lesson)
        if ref is None:
            print(f"{helpers.config.display_path(where)}: {'missing' if not where.exists() else 'damaged'}")
            bad += 1
            continue
        print(f"{helpers.config.display_path(where)}: {where.stat().st_size:,} B, {len(ref.entries)} entries, "
              f"sweeps {sorted(ref.sweeps) or '-'}, {ref.provenance['mode']} mode, {ref.provenance['data']}, "
              f"created {ref.provenance['created']}")  # fmt: skip
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: 00 01 02 03 04)")
    parser.add_argument("--no-execute", action="store_true", help="never execute a notebook; use the log only")
    parser.add_argument("--check", action="store_true", help="only read the files back and print their sizes")
    args = parser.parse_args(argv)
    fast = os.environ.get("WORKBOOK_FAST", "").strip().lower()
    if not args.check and fast not in ("", "0", "false", "no", "off", "full"):
        print(f"Refusing: WORKBOOK_FAST={fast!r} asks for fast mode, but the precomputed references are full mode "
              "only. Run `make precompute` without WORKBOOK_FAST (or with WORKBOOK_FAST=0).", file=sys.stderr)  # fmt: skip
        return 2
    os.environ["WORKBOOK_FAST"] = "0"
    helpers = _import_helpers()
    lessons = args.lessons or list(helpers.precomputed.LESSONS)
    unknown = [x for x in lessons if x not in helpers.precomputed.LESSONS]
    if unknown:
        parser.error(f"unknown lesson(s) {unknown}; choose from {list(helpers.precomputed.LESSONS)}")
    if args.check:
        return check(helpers, lessons)
    with contextlib.redirect_stdout(sys.stderr):
        helpers.setup()  # seeds and deterministic ops, as in a lesson; prints versions, mode and data source
    for lesson in lessons:
        try:
            written = precompute(helpers, lesson, execute=not args.no_execute)
        except Refused as exc:
            print(f"lesson {lesson}: {exc}", file=sys.stderr)
            return 1
        print(
            f"lesson {lesson}: wrote {helpers.config.display_path(written)} ({written.stat().st_size:,} B)", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
