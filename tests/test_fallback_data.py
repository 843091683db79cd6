"""Every lesson runs to the end on the digits fallback: what an offline reader without
Fashion-MNIST gets (WORKBOOK_DATA=digits hides the installed data, WORKBOOK_OFFLINE=1 forbids the
download), in fast mode. A claim that does not hold there must say it is a Fashion-MNIST claim.

Deselected by default (pyproject's addopts); CI runs it on Python 3.13 after the unit tests (``.ci/run``), and
``pytest -m fallback`` runs it alone. Measured 2026-12-05 on the 2-core box (Python 3.11, with one lesson-06 run beside
it for part of the time): 888 s in all - 00 19 s, 01 71 s, 01b 54 s, 02 39 s, 02b 44 s, 03 277 s, 04 179 s, 05 70 s,
06 134 s; in a full .ci/run on Python 3.13 (quiet box): 765 s for the nine. The lessons share one temporary cache, in order, so
later lessons reuse the digits baselines 00 trained."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ("00_baseline", "01_pruning", "01b_structured_pruning", "02_quantization", "02b_low_bit", "03_distillation",
           "04_combined", "05_microcontroller", "06_your_model")
_ENV_AT_IMPORT = dict(os.environ)  # before conftest's monkeypatching (WORKBOOK_CACHE, WORKBOOK_PRECOMPUTED)

pytestmark = pytest.mark.fallback


@pytest.fixture(scope="module")
def fallback_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fallback-cache")


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_to_the_end_on_the_digits_fallback(lesson, fallback_cache):
    nb = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    env = {k: v for k, v in _ENV_AT_IMPORT.items() if k not in ("MPLBACKEND", "WORKBOOK_CACHE")}
    env.update(WORKBOOK_FAST="1", WORKBOOK_DATA="digits", WORKBOOK_OFFLINE="1", WORKBOOK_CACHE=str(fallback_cache),
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))  # fmt: skip
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()  # fmt: skip
    except CellExecutionError as exc:
        failing = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                        and any(o.output_type == "error" for o in c.get("outputs", []))), None)  # fmt: skip
        pytest.fail(f"{lesson} stops on the digits fallback at cell {failing}: {str(exc).strip().splitlines()[-1]}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "OFFLINE FALLBACK" in text, "the lesson ran on the digits fallback and said so"
    print(f"{lesson}: {time.perf_counter() - start:.0f} s on the digits fallback")
