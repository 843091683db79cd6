"""Lesson 02b's speed and size promises, called by tools/bench.py (or run alone).

    python tools/bench_lowbit.py              # explorer changes + Run (fast subset) + targets in fast mode
    python tools/bench_lowbit.py --mode full  # the targets on full Fashion-MNIST (the issue's numbers)

* the mixed-precision explorer: milliseconds per control change (predicted size + per-layer weight
  error + PNG), Allocate, and one Run (write + measure the real file) on the fast subset;
* the targets: MLP >= 7x and CNN >= 6x smaller raw than float32 at <= 0.5 pp, CNN no slower at b=1,
  by the lesson's recipe (sensitivity on validation images, allocation under the budget, int4 kept off
  convolutions where it is slower than int8).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _helpers():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MPLBACKEND", "Agg")
    import helpers

    return helpers


def bench_explorer(helpers, data, repeats: int = 30) -> None:
    cnn = helpers.models.baseline("cnn", data).model
    flat = helpers.measure.to_tflite(cnn)
    table = {layer: {32: 0.0, 8: 0.0, 4: 0.001, 2: 0.2} for layer in ("conv_0", "conv_1", "dense_0", "logits")}
    start = time.perf_counter()
    explorer = helpers.low_bit.explorer.MixedPrecisionExplorer(cnn, data, flat, sensitivity=table)
    print(f"MixedPrecisionExplorer built in {(time.perf_counter() - start) * 1000:.0f} ms (no model runs)")
    changes = [("conv_0", "int4"), ("dense_0", "int2"), ("dense_0", "int4 block-32"), ("logits", "float32"),
               ("mode", "weight_only"), ("dense_0", "int4 block-64"), ("mode", "dynamic"), ("conv_1", "int2"),
               ("conv_1", "int4 block-32"), ("conv_1", "int8")]  # fmt: skip
    times = []
    for i in range(repeats):
        name, value = changes[i % len(changes)]
        control = explorer.mode if name == "mode" else explorer.layer_controls[name]
        start = time.perf_counter()
        control.value = value
        times.append((time.perf_counter() - start) * 1000)
    print(f"lesson 02b mixed-precision explorer, one control change (check + predicted size + weight errors + PNG), "
          f"{len(times)} changes:\n  median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")  # fmt: skip
    explorer.budget.value = 110
    start = time.perf_counter()
    explorer.allocate()
    print(f"  Allocate (every plan of 4 layers x 4 widths): {(time.perf_counter() - start) * 1000:.0f} ms")
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        result = explorer.run()
        seconds = time.perf_counter() - start
    m = result[0] if result else None
    print(f"  Run (write the real file + measure on {len(data.x_test):,} test images): {seconds:.1f} s"
          + (f" -> {m.tflite_bytes:,} B, {m.tflite_accuracy:.2%}" if m else " (failed)"))  # fmt: skip


def bench_targets(helpers, data) -> None:
    lowbit, lowbit_mixed, measure = helpers.low_bit.quantizer, helpers.low_bit.mixed_precision, helpers.measure
    print(f"lesson 02b targets on {data.name}, {data.mode} mode (whole test set, LiteRT, 1 thread, b=1 median):")
    conv_plans = {}
    for arch, ratio in (("MLP", 7), ("CNN", 6)):
        model = helpers.models.baseline(arch.lower(), data).model
        flat = measure.to_tflite(model)
        options = {}
        if arch == "CNN":
            int8 = lowbit.quantize_plan(model, flat, {"conv_0": 8, "conv_1": 8}, "dynamic")
            int4 = lowbit.quantize_plan(model, flat, {"conv_0": 4, "conv_1": 4}, "dynamic")
            conv_plans = {b: measure.tflite_latency(f, data.x_test) * 1e6 for b, f in ((8, int8), (4, int4))}
            if conv_plans[4] > conv_plans[8]:
                options = {"conv_0": (32, 8), "conv_1": (32, 8)}
        table = lowbit_mixed.sensitivity(model, flat, data.x_val, data.y_val)
        allocation = lowbit_mixed.allocate(model, table, len(flat) // ratio, len(flat), options=options)
        tflite = lowbit.quantize_plan(model, flat, allocation.plan, "dynamic")
        base_acc, acc = (
            measure.tflite_accuracy(flat, data.x_test, data.y_test),
            measure.tflite_accuracy(tflite, data.x_test, data.y_test),
        )
        base_us, us = (measure.tflite_latency(f, data.x_test) * 1e6 for f in (flat, tflite))
        plan = ", ".join(f"{n} {c.label()}" for n, c in allocation.plan.items())
        ok = len(flat) >= ratio * len(tflite) and base_acc - acc <= 0.005 and (arch == "MLP" or us <= base_us)
        print(f"  {arch} ({plan}): {len(tflite):,} B raw = {len(flat) / len(tflite):.2f}x smaller (target {ratio}x), "
              f"{acc:.2%} vs float32 {base_acc:.2%} ({100 * (acc - base_acc):+.2f} pp), b=1 {us:.1f} µs vs {base_us:.1f} µs "
              f"-> {'met' if ok else 'NOT met'}")  # fmt: skip
    if conv_plans:
        print(f"  (CNN convolutions alone at dynamic int8: {conv_plans[8]:.1f} µs, int4: {conv_plans[4]:.1f} µs)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    args = parser.parse_args(argv)
    helpers = _helpers()
    with contextlib.redirect_stdout(io.StringIO()):
        fast = helpers.data.load(helpers.config.FAST_MODE)
    bench_explorer(helpers, fast)
    with contextlib.redirect_stdout(io.StringIO()):
        data = fast if args.mode == "fast" else helpers.data.load(helpers.config.FULL_MODE)
    bench_targets(helpers, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
