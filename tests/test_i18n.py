"""helpers/i18n.py: a notebook under notebooks/zh-CN/ gets setup()'s lines and the explorers' shared labels in
Chinese; every other notebook gets the English source strings unchanged."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import helpers
from helpers import i18n
from helpers.config import WorkbookConfigError
from helpers.ui import explorer, pointable_board

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def english_kernel(monkeypatch, tmp_path):
    """No language hint at all: an English notebook's kernel."""
    monkeypatch.delenv("WORKBOOK_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)


def test_english_by_default():
    assert i18n.language() == "en"
    assert i18n.t("Run: prune + fine-tune") == "Run: prune + fine-tune"
    assert i18n.t("epoch {epoch}/{epochs}", epoch=2, epochs=5) == "epoch 2/5"


@pytest.mark.parametrize(
    "session, expected",
    [
        ("/home/me/workbook/notebooks/zh-CN/00_baseline.ipynb", "zh-CN"),
        ("notebooks/zh-CN/01_pruning.ipynb", "zh-CN"),
        ("/home/me/workbook/notebooks/00_baseline.ipynb", "en"),
        # the typical wrong test, a substring match, would call these Chinese:
        ("/home/zhang/notebooks/zh-CN-notes/00_baseline.ipynb", "en"),
        ("/srv/zh/notebooks/02_quantization.ipynb", "en"),
    ],
)
def test_the_notebook_path_decides(monkeypatch, session, expected):
    monkeypatch.setenv("JPY_SESSION_NAME", session)
    assert i18n.language() == expected


def test_the_working_directory_counts_too(monkeypatch, tmp_path):
    """Voila, nbconvert and Colab (helpers.colab moves there) run the kernel in the notebook's folder."""
    (tmp_path / "zh-CN").mkdir()
    monkeypatch.chdir(tmp_path / "zh-CN")
    assert i18n.language() == "zh-CN"
    monkeypatch.setenv("JPY_SESSION_NAME", "/content/some-colab-session-name")
    assert i18n.language() == "zh-CN"
    monkeypatch.chdir(tmp_path)
    assert i18n.language() == "en"


def test_workbook_lang_overrides_and_bad_values_are_explained(monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/w/notebooks/zh-CN/00_baseline.ipynb")
    monkeypatch.setenv("WORKBOOK_LANG", "en")
    assert i18n.language() == "en"
    monkeypatch.setenv("WORKBOOK_LANG", "zh")
    assert i18n.language() == "zh-CN"
    monkeypatch.setenv("WORKBOOK_LANG", "chinese")
    with pytest.raises(WorkbookConfigError, match="WORKBOOK_LANG='chinese'.*zh-CN"):
        i18n.language()


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("english", sorted(i18n.ZH))
def test_chinese_keeps_every_field(english):
    """A translation that drops or renames a {field} would print a hole or raise KeyError."""
    assert _fields(i18n.ZH[english]) == _fields(english)
    assert re.search(r"[\u4e00-\u9fff]", i18n.ZH[english]), "not translated"


def test_every_string_helpers_passes_to_t_has_chinese():
    """Every literal ``i18n.t("...")`` in helpers (the explorers' controls, Run buttons, status lines) has its
    Chinese: a new control label without one would stay English in the Chinese edition."""
    used = set()
    for path in (ROOT / "helpers").rglob("*.py"):
        used |= set(re.findall(r'i18n\.t\(\s*"([^"]+)"', path.read_text(encoding="utf-8")))
    assert {"weight bits", "final sparsity", "temperature T", "size budget", "device"} <= used
    assert used - set(i18n.ZH) == set()


def test_every_explorer_run_label_and_busy_line_has_chinese():
    """A new explorer's Run button must come with its Chinese (else it stays English in the Chinese edition)."""
    used = set()
    for path in (ROOT / "helpers").rglob("*.py"):
        used |= set(re.findall(r'_run_row\(\s*"([^"]+)"', path.read_text(encoding="utf-8")))
        used |= set(re.findall(r'_guarded_run\(\s*"([^"]+)"', path.read_text(encoding="utf-8")))
    assert len(used) >= 8
    assert used - set(i18n.ZH) == set()


def test_setup_speaks_chinese_in_a_chinese_notebook(capsys, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/w/notebooks/zh-CN/00_baseline.ipynb")
    helpers.setup()
    out = capsys.readouterr().out
    assert "模式：FAST（WORKBOOK_FAST=1） - 各类别均衡的子集，少量训练轮次 · 随机种子 42" in out
    assert "数据：" in out and "mode:" not in out
    assert "tensorflow 2.21" in out  # version lines are names and numbers, the same in both


def test_setup_stays_english_elsewhere(capsys):
    helpers.setup()
    out = capsys.readouterr().out
    assert "mode: FAST (WORKBOOK_FAST=1)" in out and "模式" not in out


def test_localize_gives_the_committed_chinese_lesson_what_a_chinese_kernel_prints(capsys, monkeypatch):
    """tools/translate.py rewrites the setup cell's output of each Chinese lesson with ``localize``: it must
    equal the Chinese kernel's own output, line for line, and leave every other line alone."""
    monkeypatch.setenv("WORKBOOK_LANG", "en")
    helpers.setup(seed=7)
    english = capsys.readouterr().out
    monkeypatch.setenv("WORKBOOK_LANG", "zh-CN")
    helpers.setup(seed=7)
    chinese = capsys.readouterr().out
    assert english != chinese and i18n.localize(english) == chinese
    other = "MLP 266,610 and CNN 225,034 parameters, trained in lesson 00\nmode\n"  # not t() lines ("mode" alone is a label)
    assert i18n.localize(other) == other.replace("mode\n", "模式\n")
    versions = "python 3.11.7 · tensorflow 2.21.0 · tf_keras 2.21.0\n"  # setup's one line that is not t()
    assert i18n.localize(versions) == versions


class _Bare(explorer._Explorer):
    def _board_point(self, entry):
        pass


def test_explorer_shared_labels_follow_the_language(monkeypatch):
    panel = _Bare()
    panel._run_row("Run: prune + fine-tune")
    assert panel.run_button.description == "Run: prune + fine-tune"
    assert panel.board_note.value == pointable_board.HINT
    monkeypatch.setenv("WORKBOOK_LANG", "zh-CN")
    panel._run_row("Run: prune + fine-tune")
    assert panel.run_button.description == "运行：剪枝 + 微调"
    assert "点击或悬停看板上的标记" in panel.board_note.value


def test_a_chinese_kernel_prints_lesson_sentences_in_chinese_cell_after_cell(tmp_path):
    """In a real kernel under a zh-CN folder: IPython re-wraps stdout.write for each cell and restores it after
    (InteractiveShell._tee), so the translation must survive from the setup cell to the cells after it; a
    partial line goes out before a display; stderr and unknown lines stay as printed."""
    import nbclient
    import nbformat

    folder = tmp_path / "zh-CN"
    folder.mkdir()
    sentence = "… Not answered yet: replace the None with your answer and run the cell again."
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport helpers\nhelpers.setup()"),
        nbformat.v4.new_code_cell(f"print({sentence!r})\nprint('small', 'epoch  2/12  train loss 0.5000  train acc 72.34 %  1.5 s')\n"
                                  "print('a line nobody translates')\nprint('partial ', end='')\ndisplay('x')"),
        nbformat.v4.new_code_cell(f"import sys\nprint({sentence!r})\nprint({sentence!r}, file=sys.stderr)"),
        nbformat.v4.new_code_cell(f"import threading\nthreading.Timer(0.3, print, ({sentence!r},)).start()"),  # as a widget callback prints
        nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)"),
        nbformat.v4.new_code_cell("from helpers.your_model import model_files\nmodel_files.load('no/such/model.keras')"),
        nbformat.v4.new_code_cell("raise ValueError('library errors stay as they are')"),
    ]  # fmt: skip
    nbclient.NotebookClient(nb, timeout=180, resources={"metadata": {"path": str(folder)}}, allow_errors=True).execute()
    out = [[(o.get("name"), o.get("text")) for o in cell.outputs if o.output_type == "stream"] for cell in nb.cells]
    assert out[0][0][1].startswith("模式：")
    assert out[1][0] == ("stdout", "… 尚未作答：把 None 换成你的答案，再运行这个单元格。\nsmall 第  2/12 轮  训练损失 0.5000  "
                                   "训练准确率 72.34 %  1.5 秒\na line nobody translates\npartial ")  # fmt: skip
    assert out[2] == [("stdout", "… 尚未作答：把 None 换成你的答案，再运行这个单元格。\n"), ("stderr", sentence + "\n")]
    later = "".join(text for cell in out[3:] for name, text in cell if name == "stdout")
    assert later == "… 尚未作答：把 None 换成你的答案，再运行这个单元格。\n"  # printed outside any cell's own run
    # the workbook's own error (a reader's model file that is not there) in Chinese, its type kept
    error = [o for o in nb.cells[5].outputs if o.output_type == "error"][0]
    assert error.ename == "ModelFileError" and error.evalue.startswith("no/such/model.keras 处没有模型文件。请检查路径")
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))  # without its colours
    assert shown == "ModelFileError: " + error.evalue  # the message alone, as WorkbookError shows in English
    library = [o for o in nb.cells[6].outputs if o.output_type == "error"][0]
    assert (library.ename, library.evalue) == ("ValueError", "library errors stay as they are")
