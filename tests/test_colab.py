"""The Colab path (helpers/colab.py): its decisions, and the identical first cell of every lesson.
Colab itself is not available here; what can be checked without it is checked."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from helpers import colab

ROOT = Path(__file__).resolve().parents[1]
HREF = "https://colab.research.google.com/github/someone/compression-workbook/blob/main/notebooks/02_quantization.ipynb"


def test_bootstrap_is_needed_only_in_colab_without_helpers():
    missing, present = (lambda name: None), (lambda name: object())
    assert colab.needs_bootstrap({"google.colab": object()}, missing)
    assert not colab.needs_bootstrap({"google.colab": object()}, present)  # the reader cloned it already
    assert not colab.needs_bootstrap({}, missing)  # anywhere else: never
    assert not colab.needs_bootstrap()  # this test session: helpers imports, no google.colab


def test_the_repository_and_branch_come_from_colabs_address():
    assert colab.repository(HREF) == ("https://github.com/someone/compression-workbook", "main")
    assert colab.repository(HREF.replace("/main/", "/v2.1/") + "#scrollTo=x") == (
        "https://github.com/someone/compression-workbook", "v2.1")
    with pytest.raises(colab.ColabError, match="not opened from GitHub.*git clone"):
        colab.repository("https://colab.research.google.com/drive/1AbC")


def test_colab_keeps_its_own_front_end_and_numpy_but_gets_the_ml_pins():
    pins = colab.colab_requirements((ROOT / "requirements.txt").read_text())
    names = {p.split("==")[0] for p in pins}
    assert {"tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "filelock"} <= names
    assert not names & colab.COLAB_KEEPS
    assert any(p.startswith("tflite-micro==") and 'sys_platform == "linux"' in p for p in pins)  # marker kept


def test_commands_clone_once_then_install(tmp_path):
    first = colab.commands(HREF, tmp_path)
    assert first[0][:2] == ["git", "clone"] and "main" in first[0] and first[0][-1] == str(tmp_path)
    assert first[1][-2:] == ["-r", str(tmp_path / "colab-requirements.txt")]
    assert first[2][-3:] == ["--no-deps", "-e", str(tmp_path)]
    (tmp_path / "helpers").mkdir()
    assert [c[:2] for c in colab.commands(HREF, tmp_path)] == [[sys.executable, "-m"]] * 2  # no second clone


def _fake_clone(target: Path) -> None:
    (target / "helpers").mkdir(parents=True)
    (target / "notebooks").mkdir()
    (target / "requirements.txt").write_text("tensorflow==2.21.0\nnumpy==2.4.6\n")


def test_bootstrap_runs_the_steps_writes_the_subset_and_moves_into_the_lessons(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(colab, "needs_bootstrap", lambda: True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    ran = []

    def run(cmd, check):
        ran.append(cmd)
        if cmd[:2] == ["git", "clone"]:
            _fake_clone(Path(cmd[-1]))
        return types.SimpleNamespace(returncode=0)

    here = os.getcwd()
    try:
        assert colab.bootstrap(HREF, tmp_path / "wb", run=run)
        assert Path.cwd() == tmp_path / "wb" / "notebooks"
    finally:
        os.chdir(here)
    assert [c[0] for c in ran] == ["git", sys.executable, sys.executable]
    assert (tmp_path / "wb" / "colab-requirements.txt").read_text() == "tensorflow==2.21.0\n"
    assert sys.path[0] == str(tmp_path / "wb")
    assert "Colab: installed the workbook from https://github.com/someone/compression-workbook" in capsys.readouterr().out


def test_a_chinese_lesson_runs_in_its_own_folder(tmp_path, monkeypatch):
    """notebooks/zh-CN/ lessons: the kernel must run there, or helpers.i18n would speak English."""
    zh = HREF.replace("/notebooks/", "/notebooks/zh-CN/")
    assert colab.repository(zh) == colab.repository(HREF)
    assert (colab.lesson_folder(HREF), colab.lesson_folder(zh)) == ("notebooks", "notebooks/zh-CN")
    monkeypatch.setattr(colab, "needs_bootstrap", lambda: True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _fake_clone(tmp_path / "wb")
    (tmp_path / "wb" / "notebooks" / "zh-CN").mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    try:
        assert colab.bootstrap(zh, tmp_path / "wb", run=lambda cmd, check: types.SimpleNamespace(returncode=0))
        assert Path.cwd() == tmp_path / "wb" / "notebooks" / "zh-CN"
    finally:
        os.chdir(here)


def test_a_failing_step_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "needs_bootstrap", lambda: True)
    with pytest.raises(colab.ColabError, match="failed at step 1.*Restart session"):
        colab.bootstrap(HREF, tmp_path / "wb", run=lambda cmd, check: types.SimpleNamespace(returncode=128))


def test_the_lesson_cell_reads_this_file_from_the_lessons_repository(monkeypatch):
    """Run BOOTSTRAP as Colab would, with a fake google.colab and a fake network serving this file."""
    asked = []

    class Response:
        def read(self):
            return (ROOT / "helpers" / "colab.py").read_bytes()

    def urlopen(url):
        asked.append(url)
        return Response()

    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    output = types.ModuleType("google.colab.output")
    output.eval_js = lambda js: HREF
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    namespace = {}
    exec(colab.BOOTSTRAP, namespace)
    assert asked == ["https://raw.githubusercontent.com/someone/compression-workbook/main/helpers/colab.py"]
    assert callable(namespace["colab"]["bootstrap"])  # and it ran: helpers imports here, so it did nothing


def test_every_lesson_starts_with_the_colab_cell():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert "".join(cells[0]["source"]) == colab.BOOTSTRAP, f"{path.name}: first code cell is not colab.BOOTSTRAP"
        assert "import helpers" in "".join(cells[1]["source"]), f"{path.name}: setup must follow it"
