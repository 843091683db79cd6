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
HOME = "https://github.com/someone/compression-workbook/tree/main"  # what the lesson's first cell passes
HREF = "https://colab.research.google.com/github/someone/compression-workbook/blob/main/notebooks/02_quantization.ipynb"


def test_bootstrap_is_needed_only_in_colab_without_helpers():
    missing, present = (lambda name: None), (lambda name: object())
    assert colab.needs_bootstrap({"google.colab": object()}, missing)
    assert not colab.needs_bootstrap({"google.colab": object()}, present)  # the reader cloned it already
    assert not colab.needs_bootstrap({}, missing)  # anywhere else: never
    assert not colab.needs_bootstrap()  # this test session: helpers imports, no google.colab


def test_the_repository_and_branch_come_from_the_cells_address():
    assert colab.repository(HOME) == ("https://github.com/someone/compression-workbook", "main")
    assert colab.repository(HOME.replace("/main", "/class/2027")) == ("https://github.com/someone/compression-workbook", "class/2027")
    # an older cell's Colab address still works
    assert colab.repository(HREF + "#scrollTo=x") == ("https://github.com/someone/compression-workbook", "main")
    with pytest.raises(colab.ColabError, match="git clone.*%run /content/workbook/helpers/colab.py"):
        colab.repository("https://colab.research.google.com/drive/1AbC")  # the output frame's or a Drive address


def test_the_placeholder_is_never_cloned_but_the_commands_are_given():
    # the wrong behaviour: cloning github.com/OWNER/REPO and failing with git's "repository not found"
    with pytest.raises(colab.ColabError, match="does not name its GitHub repository yet.*git clone"):
        colab.commands("https://github.com/OWNER/REPO/tree/main")


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
        assert colab.bootstrap(HOME, tmp_path / "wb", run=run)
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
        colab.bootstrap(HOME, tmp_path / "wb", run=lambda cmd, check: types.SimpleNamespace(returncode=128))


def _fake_colab(monkeypatch, urlopen):
    """google.colab without eval_js: a cell that still read the page's address would fail here."""
    google = types.ModuleType("google")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("urllib.request.urlopen", urlopen)


def test_the_lesson_cell_reads_this_file_from_the_branch_it_names(monkeypatch):
    """Run the first cell as Colab would, with a fake google.colab and a fake network serving this file."""
    asked = []

    class Response:
        def read(self):
            return (ROOT / "helpers" / "colab.py").read_bytes()

    def urlopen(url):
        asked.append(url)
        return Response()

    _fake_colab(monkeypatch, urlopen)
    namespace = {}
    exec(colab.bootstrap_cell(HOME.replace("/main", "/term-1")), namespace)
    assert asked == ["https://raw.githubusercontent.com/someone/compression-workbook/term-1/helpers/colab.py"]
    assert callable(namespace["colab"]["bootstrap"])  # and it ran: helpers imports here, so it did nothing


def test_a_cell_that_cannot_fetch_prints_the_commands_by_hand(monkeypatch, capsys):
    def urlopen(url):
        raise OSError("HTTP Error 404: Not Found")

    _fake_colab(monkeypatch, urlopen)
    with pytest.raises(OSError):  # the cell stops (Run all does not go on into a lesson without helpers)
        exec(colab.BOOTSTRAP, {})
    out = capsys.readouterr().out
    assert "Could not fetch the workbook from https://github.com/OWNER/REPO/tree/main (HTTP Error 404" in out
    assert "!git clone --depth=1 https://github.com/<owner>/<repo> /content/workbook" in out
    assert "%run /content/workbook/helpers/colab.py" in out


def test_pips_conflict_message_is_explained_before_pip_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(colab, "needs_bootstrap", lambda: True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    seen_before_pip = []

    def run(cmd, check):
        if cmd[:2] == ["git", "clone"]:
            _fake_clone(Path(cmd[-1]))
        elif "-r" in cmd:
            seen_before_pip.append(capsys.readouterr().out)
        return types.SimpleNamespace(returncode=0)

    here = os.getcwd()
    try:
        colab.bootstrap(HOME, tmp_path / "wb", run=run)
    finally:
        os.chdir(here)
    assert "dependency conflicts" in seen_before_pip[0] and "not a failure" in seen_before_pip[0]


def test_by_hand_path_installs_from_the_clone_without_cloning_again(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "needs_bootstrap", lambda: True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _fake_clone(tmp_path / "wb")
    ran = []
    here = os.getcwd()
    try:
        assert colab.bootstrap_local(tmp_path / "wb", run=lambda cmd, check: ran.append(cmd) or types.SimpleNamespace(returncode=0))
    finally:
        os.chdir(here)
    assert [c[:4] for c in ran] == [[sys.executable, "-m", "pip", "install"]] * 2
    assert sys.path[0] == str(tmp_path / "wb")


def test_every_lesson_starts_with_the_colab_cell():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert "".join(cells[0]["source"]) == colab.BOOTSTRAP, f"{path.name}: first code cell is not colab.BOOTSTRAP"
        assert "import helpers" in "".join(cells[1]["source"]), f"{path.name}: setup must follow it"
