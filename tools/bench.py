"""Measure what the workbook promises about speed: lesson run times and explorer response times.

    python tools/bench.py                 # every lesson's resource envelope in fast mode at 1 and 2 CPUs
                                          # (tools/envelope.py: peak memory, CPU s, wall s) + the explorers
    python tools/bench.py --mode full     # lessons in full mode (minutes)
    python tools/bench.py --cpus 2        # the envelope at 2 CPUs only
    python tools/bench.py --cell-times    # lesson run times split into imports+setup / after imports
    python tools/bench.py --explorers     # only the widgets' cheap-update latency
    python tools/bench.py --speedups      # only lesson 01b's speed targets (tools/speedups.py, full mode)

Lessons run in a temporary copy (the committed notebooks are not touched) with per-cell timing;
"after imports" leaves out the first code cell (imports, setup). Timings on 2-core machines
jitter up to 2x: quote medians and run twice when it matters.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def bench_lessons(mode: str, notebooks: list[Path]) -> None:
    import nbformat
    from nbclient import NotebookClient

    os.environ["WORKBOOK_FAST"] = "1" if mode == "fast" else "0"
    print(f"lesson run times, {mode} mode (kernel start not included)")
    print(f"{'notebook':<26} {'total':>8} {'imports+setup':>14} {'after imports':>14}")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as tmp:
            client = NotebookClient(nb, timeout=3600, kernel_name="python3", record_timing=True,
                                    resources={"metadata": {"path": tmp}})  # fmt: skip
            client.execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
        times = [_seconds(c) for c in code]
        # imports + setup: up to the cell that imports helpers (the Colab cell before it does nothing here)
        setup = next((i for i, c in enumerate(code) if "import helpers" in c.source), 0) + 1
        print(f"{path.name:<26} {sum(times):>7.1f}s {sum(times[:setup]):>13.1f}s {sum(times[setup:]):>13.1f}s",
              flush=True)


def bench_explorers(repeats: int = 30) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))
    import matplotlib as mpl

    saved = os.dup(2)  # TensorFlow's C++ start-up lines: not part of the measurement
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import helpers
    finally:
        os.dup2(saved, 2)
        os.close(devnull)

    mpl.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72})  # what setup() gives a notebook
    helpers.config.freeze_heap()  # as setup() does

    def render_png(obj):  # what the inline backend does with a figure in a kernel
        if hasattr(obj, "savefig"):
            obj.savefig(io.BytesIO(), format="png")

    helpers.ui.explorer.display = render_png
    data = helpers.data.load(helpers.config.FAST_MODE)
    base = helpers.models.baseline("mlp", data).model
    start = time.perf_counter()
    refs = helpers.precomputed.load_all()
    print(f"data/precomputed: {len(refs)} lesson files read in {(time.perf_counter() - start) * 1000:.1f} ms "
          f"({sum(len(r.entries) for r in refs)} full-mode entries)")  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        explorer = helpers.pruning.explorer.ScheduleExplorer(base, data, data)
        built = (time.perf_counter() - start) * 1000
    _shown(explorer, built)
    schedule_changes = [("final", 0.8), ("final", 0.95), ("power", 1.0), ("power", 3.0), ("frequency", 5),
                        ("frequency", 20), ("end", 150), ("end", 250), ("epochs", 3), ("epochs", 4)]  # fmt: skip
    _report("lesson 01 schedule explorer, one control change (validate + TF-MOT curve + PNG redraw)",
            _time_changes(explorer, schedule_changes, repeats))  # fmt: skip

    with contextlib.redirect_stdout(io.StringIO()):
        table = helpers.structured_pruning.speed.latency_table(base, data)  # measured once in the lesson, not part of a change
        start = time.perf_counter()
        speed_explorer = helpers.structured_pruning.explorer.SpeedExplorer(base, table, data, data, widths=helpers.structured_pruning.speed.MLP_WIDTHS)
        built = (time.perf_counter() - start) * 1000
    print(f"lesson 01b speed explorer built in {built:.0f} ms (no training)")
    speed_changes = [("dense_0", 60), ("dense_0", 200), ("dense_1", 20), ("dense_1", 80), ("int8", False),
                     ("int8", True), ("dense_0", 0), ("dense_0", 100), ("dense_1", 50), ("dense_0", 300)]  # fmt: skip
    speed_explorer.dense_0, speed_explorer.dense_1 = speed_explorer.sliders["dense_0"], speed_explorer.sliders["dense_1"]
    _report("lesson 01b speed explorer, one control change (MACs + latency estimate + PNG redraw)",
            _time_changes(speed_explorer, speed_changes, repeats))  # fmt: skip

    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        bits_explorer = helpers.quantization.explorer.BitWidthExplorer(base, data)
        built = (time.perf_counter() - start) * 1000
    _shown(bits_explorer, built)
    bit_changes = [("bits", 3), ("bits", 6), ("per_channel", False), ("per_channel", True), ("symmetric", False),
                   ("symmetric", True), ("layer", "dense_1"), ("layer", "dense_0"), ("bits", 8), ("bits", 2)]  # fmt: skip
    _report("lesson 02 bit-width explorer, one control change (quantize layer + error + PNG redraw)",
            _time_changes(bits_explorer, bit_changes, repeats))  # fmt: skip

    cnn = helpers.models.baseline("cnn", data).model
    logits = helpers.distillation.distiller.teacher_logits(cnn, data.x_train)
    with contextlib.redirect_stdout(io.StringIO()):
        grid = helpers.distillation.studies.grid_search(data, logits, 20, temperatures=(1, 4), alphas=(0.0, 0.5), epochs=1)
        start = time.perf_counter()
        kd_explorer = helpers.distillation.explorer.DistillationExplorer(cnn, data, data, grid=grid)
        built = (time.perf_counter() - start) * 1000
    _shown(kd_explorer, built)
    kd_changes = [("temperature", 1.0), ("temperature", 8.0), ("alpha", 0.5), ("alpha", 0.0), ("image", 17),
                  ("image", 3), ("temperature", 16.0), ("temperature", 2.5), ("alpha", 0.9), ("alpha", 0.1)]  # fmt: skip
    _report("lesson 03 distillation explorer, one control change (soft targets + grid marker + PNG redraw)",
            _time_changes(kd_explorer, kd_changes, repeats))  # fmt: skip

    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        board = helpers.combining.board_explorer.BoardExplorer(data)
        built = (time.perf_counter() - start) * 1000
    print(f"lesson 04 board explorer built in {built:.0f} ms (no training): {len(board.entries)} of your entries, "
          f"{len(board.reference_entries)} full-mode reference entries")  # fmt: skip
    picks = [value for _, value in board.point.options if value][:2] or [""]
    board_changes = [("axis", "tflite_bytes"), ("axis", "latency_b1_us"), ("show_reference", False), ("axis", "tflite_gz"),
                     ("show_reference", True), ("point", picks[0]), ("point", picks[-1]), ("point", "")]  # fmt: skip
    _report("lesson 04 board explorer, one control change (filter + board with reference layer + PNG redraw)",
            _time_changes(board, board_changes, repeats))  # fmt: skip

    models = helpers.microcontroller.devices.log_models(data)  # arenas measured once (cached); not part of a change
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        fit = helpers.microcontroller.explorer.FootprintExplorer(models, data=data)
        built = (time.perf_counter() - start) * 1000
    print(f"lesson 05 footprint explorer built in {built:.0f} ms (no model runs): {len(models)} of your int8 models, "
          f"{len(fit.reference_models)} full-mode reference models")  # fmt: skip
    presets = list(helpers.microcontroller.devices.DEVICES)
    fit_changes = [("preset", presets[1]), ("preset", presets[2]), ("preset", presets[0]), ("flash", "512 KiB"),
                   ("ram", "64 KiB"), ("flash", "0 KB"), ("flash", "128 KiB"), ("show_reference", False),
                   ("show_reference", True), ("preset", presets[0])]  # fmt: skip
    _report("lesson 05 footprint explorer, one control change (budget check + fit + bars + PNG redraw)",
            _time_changes(fit, fit_changes, repeats))  # fmt: skip


def _shown(explorer, built_ms: float) -> None:
    """What a fresh clone sees at once: the explorer built without training, and its reference line."""
    name = type(explorer).__name__
    if explorer.reference_data is None:
        print(f"{name} built in {built_ms:.0f} ms (no training); no data/precomputed reference "
              f"{explorer.reference_problem or '(file missing)'}")  # fmt: skip
        return
    text = html.unescape(re.sub(r"<[^>]+>", " ", explorer.reference.value))
    print(f"{name} built in {built_ms:.0f} ms (no training); reference line: {' '.join(text.split())[:240]}")


def _time_changes(explorer, changes, repeats: int) -> list[float]:
    """Milliseconds per control change: setting a value runs the explorer's observer (its update)."""
    times = []
    for i in range(repeats):
        control, value = changes[i % len(changes)]
        with contextlib.redirect_stdout(io.StringIO()):  # Output.clear_output prints escape codes outside a kernel
            start = time.perf_counter()
            getattr(explorer, control).value = value
            times.append((time.perf_counter() - start) * 1000)
    return times


def _report(what: str, times: list[float]) -> None:
    print(f"{what}, {len(times)} changes:")
    print(f"  median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    parser.add_argument("--explorers", action="store_true", help="only the explorers' update latency")
    parser.add_argument("--speedups", action="store_true", help="only lesson 01b's speed-ups (tools/speedups.py)")
    parser.add_argument("--cpus", default="1,2", help="CPU counts for the envelope (taskset on Linux), e.g. 1,2")
    parser.add_argument("--cell-times", action="store_true", help="per-cell lesson times instead of the envelope")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.speedups:
        import subprocess

        return subprocess.call([sys.executable, str(ROOT / "tools" / "speedups.py")])
    if not args.explorers and args.cell_times:
        bench_lessons(args.mode, args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")))
    elif not args.explorers:
        import envelope  # peak memory of the kernel tree, CPU seconds, wall time at 1 and 2 CPUs

        if envelope.main(["--mode", args.mode, "--cpus", args.cpus, "--runtimes", *map(str, args.notebooks)]):
            return 1
    bench_explorers()
    import bench_lowbit  # lesson 02b: its explorer, and the low-bit size targets in this mode

    bench_lowbit.main(["--mode", args.mode])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
