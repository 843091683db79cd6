"""Measure lesson 01b's speed targets in one run: structured pruning (+ int8) vs the float32 baselines.

    python tools/speedups.py              # full mode (all of Fashion-MNIST; the targets are stated for it)
    WORKBOOK_FAST=1 python tools/speedups.py   # fast subset (speed-ups hold, accuracy is lower)
    python tools/bench.py --speedups      # the same, from the bench

For the MLP and the CNN: the cached baseline (trained if missing), the lesson's widths
(helpers.structured_pruning.speed.MLP_WIDTHS / CNN_WIDTHS) rebuilt and fine-tuned for helpers.structured_pruning.speed.FINETUNE_EPOCHS,
converted to float32 and full-integer int8, measured with LiteRT on the whole test set (accuracy)
and at one image, one thread (latency: median of 3 medians of 300 invokes). Accuracy losses are
against the dense control fine-tuned as long (helpers.models.dense_control), never the baseline.
Targets (issues 15, 22): MLP >= 8x faster at <= 0.5 pp loss; CNN >= 6x smaller raw and >= 4x faster
at <= 1 pp loss. Timings jitter on shared 2-core machines: quote medians and ratios.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from precompute import _import_helpers  # noqa: E402 - tools/ is on sys.path when run as a script

TARGETS = {"mlp": (8.0, 0.5, 1.0), "cnn": (4.0, 1.0, 6.0)}  # (min speed-up, max loss vs the control in pp, min raw ratio)


def measure_speedups(helpers, data) -> list[dict]:
    speed, measure = helpers.structured_pruning.speed, helpers.measure
    rows = []
    for arch, widths in (("mlp", speed.MLP_WIDTHS), ("cnn", speed.CNN_WIDTHS)):
        with contextlib.redirect_stdout(io.StringIO()):
            base = helpers.models.baseline(arch, data).model
            narrow = speed.prune_and_finetune(base, widths, data, speed.FINETUNE_EPOCHS[data.mode])
            control = helpers.models.dense_control(arch, data, speed.FINETUNE_EPOCHS[data.mode]).model
            blobs = {
                "control": measure.to_tflite(control),
                "float32": measure.to_tflite(base),
                "int8 only": speed.convert(base, True, data),
                "structured": measure.to_tflite(narrow),
                "structured + int8": speed.convert(narrow, True, data),
            }
        acc = {k: measure.tflite_accuracy(b, data.x_test, data.y_test) for k, b in blobs.items()}
        lat = {k: speed.latency_us(b, data.x_test) for k, b in blobs.items()}
        rows.append({"arch": arch, "widths": widths, "acc": acc, "lat": lat, "raw": {k: len(b) for k, b in blobs.items()},
                     "macs": (measure.count_macs(base), measure.count_macs(narrow))})  # fmt: skip
    return rows


def report(rows, mode: str) -> bool:
    print(f"structured pruning speed-ups, {mode} mode, LiteRT, 1 image, 1 thread, whole test set")
    print(f"{'model':<5} {'float32':>9} {'int8 only':>15} {'structured':>15} {'structured+int8':>17} "
          f"{'accuracy dense control -> structured+int8':>44}  raw smaller  target  met")  # fmt: skip
    ok_all = True
    for r in rows:
        lat, acc, base = r["lat"], r["acc"], r["lat"]["float32"]
        speedup = base / lat["structured + int8"]
        loss = (acc["control"] - acc["structured + int8"]) * 100
        smaller = r["raw"]["float32"] / r["raw"]["structured + int8"]
        need_speed, need_loss, need_raw = TARGETS[r["arch"]]
        ok = speedup >= need_speed and loss <= need_loss and smaller >= need_raw
        ok_all &= ok
        cells = [f"{lat[k]:6.1f} µs {base / lat[k]:4.1f}x" for k in ("int8 only", "structured")]
        print(f"{r['arch']:<5} {base:6.1f} µs {cells[0]:>15} {cells[1]:>15} {lat['structured + int8']:6.1f} µs {speedup:5.1f}x "
              f"{acc['control']:>20.2%} -> {acc['structured + int8']:.2%} ({-loss:+.2f} pp) {smaller:8.1f}x"
              f"  >={need_speed:g}x, <={need_loss:g} pp, >={need_raw:g}x raw  {'yes' if ok else 'NO'}")  # fmt: skip
        print(f"      widths {r['widths']}; MACs {r['macs'][0]:,} -> {r['macs'][1]:,}")
    return ok_all


def main(argv=None) -> int:
    os.environ.setdefault("WORKBOOK_FAST", "0")
    helpers = _import_helpers()
    data = helpers.data.load()
    ok = report(measure_speedups(helpers, data), data.mode)
    return 0 if ok or data.mode == "fast" else 1


if __name__ == "__main__":
    raise SystemExit(main())
