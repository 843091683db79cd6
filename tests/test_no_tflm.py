"""Lesson 05 where TFLM is missing (macOS, Windows: ``tflite-micro`` has Linux x86-64 wheels only).

Unit tests switch ``tflm.available()`` off; the lesson test runs lesson 05 in fast mode with
``tests/no_tflm`` first on PYTHONPATH, which makes ``import tflite_micro`` fail as it does there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_microcontroller import _int8, tiny  # noqa: F401 - the fixture

from helpers import precomputed, results
from helpers.microcontroller import devices, lut, tflm, tflm_run

ROOT = Path(__file__).resolve().parents[1]
HIDE_TFLM = ROOT / "tests" / "no_tflm"
_ENV_AT_IMPORT = dict(os.environ)  # before conftest's monkeypatching (WORKBOOK_CACHE, WORKBOOK_PRECOMPUTED)


@pytest.fixture
def no_tflm(monkeypatch):
    monkeypatch.setattr(tflm, "_available", False)
    monkeypatch.setattr(tflm, "_missing_reason", "ModuleNotFoundError: No module named 'tflite_micro'")
    tflm.clear_memo()
    yield
    tflm.clear_memo()


def test_the_stub_hides_tflite_micro_like_a_missing_package():
    code = "import tflite_micro"
    env = {**os.environ, "PYTHONPATH": str(HIDE_TFLM)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "ModuleNotFoundError: No module named 'tflite_micro'" in done.stderr


def test_without_tflm_the_runs_that_need_it_say_so(no_tflm, tiny):  # noqa: F811
    _, blob, d = tiny
    assert tflm.tflm_version() == "not installed"
    note = tflm.missing_note()
    assert "Linux x86-64 only" in note and tflm.NO_TFLM_LABEL in note and "No module named" in note
    for call in (lambda: tflm.smallest_arena(blob, use_cache=False), lambda: tflm.allocates(blob, 4096),
                 lambda: tflm_run.tflm_predict(blob, d.x_test[:2], 4096), lambda: lut.lut_compress(blob, 4)):
        with pytest.raises(tflm.MicroError, match="needs TFLM. TFLM .tflite-micro. cannot be imported.*Linux x86-64 only"):
            call()
    # What needs only the flatbuffer still works: the schema is TensorFlow's, present everywhere.
    assert tflm.input_type(blob) == "INT8"
    assert lut.weight_tensors(blob, min_size=10)


def test_reference_footprint_measures_what_it_can_and_marks_the_rest(no_tflm, tiny):  # noqa: F811
    _, blob, d = tiny
    entry = {"name": "tiny int8", "metrics": {"tflm_arena": 2048, "tflite_bytes": len(blob), "tflite_accuracy": 0.8,
                                                "litert_accuracy": 0.801, "tflm_us": 12.5}}
    ref = precomputed.Reference({"entries": [entry]})
    f = tflm_run.reference_footprint("tiny int8", blob, d.x_test, d.y_test, ref=ref)
    assert f.reference and f.arena == 2048 and f.tflm_accuracy == 0.8 and f.us_per_inference == 12.5
    assert f.flash == len(blob)  # measured here
    assert f.litert_accuracy is not None and f.accuracy == f.litert_accuracy  # this model's, measured here
    assert f.agreement_pp == pytest.approx(0.1)  # the reference run's TFLM vs LiteRT, not a mix of runs
    table = tflm_run.footprint_table([f])
    assert "2,048 †" in table and "80.00% †" in table and tflm.NO_TFLM_LABEL in table
    # The current format: one meaning per field (tflite_accuracy = LiteRT's, tflm_accuracy = TFLM's)
    new = {"name": "tiny int8", "metrics": {"tflm_arena": 2048, "tflite_bytes": len(blob), "tflm_accuracy": 0.8,
                                              "tflite_accuracy": 0.801, "tflm_us": 12.5}}
    g = tflm_run.reference_footprint("tiny int8", blob, d.x_test, d.y_test, ref=precomputed.Reference({"entries": [new]}))
    assert g.tflm_accuracy == 0.8 and g.agreement_pp == pytest.approx(0.1)
    logged = g.log_metrics()
    assert logged["tflite_accuracy"] == g.litert_accuracy and logged["tflm_accuracy"] == 0.8, "LiteRT's and TFLM's, each in its field"
    with pytest.raises(tflm.MicroError, match="No TFLM measurement of 'other'.*make precompute"):
        tflm_run.reference_footprint("other", blob, d.x_test, d.y_test, ref=ref)


def test_the_committed_reference_holds_every_model_lesson_05_measures(monkeypatch):
    """Lesson 05 without TFLM reads these names from data/precomputed/05_microcontroller.json."""
    monkeypatch.delenv("WORKBOOK_PRECOMPUTED")  # the committed files, not the tests' empty folder
    for name in ("MLP int8", "CNN int8", "MLP pruned 90 % int8", "MLP pruned 90 % + cluster 16 int8",
                 "student 22k int8", "MLP pruned 90 % + cluster 16, LUT 4-bit", "designed c16s2 c32s2 c40s2 flat int8",
                 "LiteRT Quantizer int8", "LiteRT Quantizer int4 conv, int8 dense"):
        m = tflm_run.reference_metrics(name)
        accuracy = m.get("tflite_accuracy", m.get("tflm_accuracy"))  # the LUT file: TFLM's only (LiteRT cannot run it)
        assert m["tflm_arena"] > 0 and m["tflite_bytes"] > 0 and 0.5 < accuracy <= 1


def test_log_models_uses_logged_arenas_without_tflm(no_tflm, tiny, isolated_cache):  # noqa: F811
    _, blob, d = tiny
    results.record("quantization", "with arena", {"tflite_accuracy": 0.8, "tflm_arena": 3072}, artifact=blob, key='test/with arena')
    results.record("quantization", "without arena", {"tflite_accuracy": 0.9}, artifact=blob, key='test/without arena')
    found = devices.log_models()
    assert [(m["name"], m["arena"], m["flash"]) for m in found] == [("with arena", 3072, len(blob))]


def test_lesson_05_runs_to_the_end_without_tflm(tmp_path):
    """The whole lesson in fast mode with tflite_micro hidden: no error, the label on TFLM figures.

    Its own cache (the trained baselines copied in, when there are any), so the reader's results
    log never receives these runs."""
    cache = tmp_path / "cache"
    baselines = config_cache_models()
    if baselines.is_dir():
        shutil.copytree(baselines, cache / "models")
    nb = nbformat.read(ROOT / "notebooks" / "05_microcontroller.ipynb", as_version=4)
    env = {k: v for k, v in _ENV_AT_IMPORT.items() if k not in ("MPLBACKEND", "WORKBOOK_CACHE")}
    env.update(PYTHONPATH=os.pathsep.join([str(HIDE_TFLM), *filter(None, [env.get("PYTHONPATH")])]),
               WORKBOOK_FAST="1", WORKBOOK_CACHE=str(cache))
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + "".join(str(v) for v in o.get("data", {}).values()) for o in outputs)
    assert "cannot be imported on this machine" in text  # the setup cell says so once
    assert f"No TFLM here: these four calls run on Linux x86-64 ({tflm.NO_TFLM_LABEL})" in text
    assert "†" in text and tflm.NO_TFLM_LABEL in text  # the footprint table marks the reference columns
    assert "TFLM (tflite-micro) not installed" in text


def config_cache_models() -> Path:
    """The project's trained baselines (data/cache/models, or WORKBOOK_CACHE's as the session began)."""
    root = _ENV_AT_IMPORT.get("WORKBOOK_CACHE") or str(ROOT / "data" / "cache")
    return Path(root) / "models"
