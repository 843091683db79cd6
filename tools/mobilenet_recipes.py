"""Lesson 06, section 14: every recipe on the MobileNetV2 in full mode, stored for the lesson to show.

    python tools/mobilenet_recipes.py            # ~10 minutes on two cores; writes data/precomputed/06_mobilenet.json

Runs ``helpers.your_model.mobilenet.run_recipes`` in its own process (so the lesson's kernel stays within a
2 GB hosted runtime): the MobileNetV2 and the shipped model trained on the fast subset (from data/cache when
there), every recipe of sections 6-10 fine-tuned on that subset, measured on the full Fashion-MNIST test set.
Lesson 06 reads the file; ``MOBILENET = True`` in its section 3 runs the same function live instead.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["WORKBOOK_FAST"] = "0"  # full mode: the whole test set

import helpers  # noqa: E402,I001 - first: sets TF_USE_LEGACY_KERAS before TensorFlow loads


def main() -> int:
    from helpers import data, precomputed
    from helpers.your_model import compress, mobilenet

    helpers.setup()
    d = data.load()
    if d.is_fallback or d.mode != "full":
        print(f"refused: the stored run must be full mode on Fashion-MNIST, not {d.name} ({d.mode} mode)", file=sys.stderr)
        return 1
    shipped, finetune_data = compress.shipped_model()
    mobile, _ = mobilenet.mobilenet_model()
    run = mobilenet.run_recipes(mobile, shipped, d, finetune_data)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    run["provenance"] = {
        "produced_by": "python tools/mobilenet_recipes.py",
        "created": datetime.date.today().isoformat(),
        "commit": commit or "unknown",
        "mode": d.mode,
        "data": d.name,
        "data_source": d.source,
        "test_images": len(d.y_test),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (latencies are this machine's)",
        "versions": precomputed.versions(),
    }
    path = mobilenet.ledger_path()
    path.write_text(json.dumps(run, indent=1, sort_keys=False, default=float) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}: {len(run['rows'])} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
