"""The Chinese edition cannot drift: every translated lesson's markdown cells carry the hash of the English
they translate, and the committed notebooks/zh-CN/*.ipynb are exactly what tools/translate.py builds.

When this fails after an English edit: update the cell's "zh" in translations/zh-CN/<lesson>.json, run
`python tools/translate.py refresh <lesson> <cell id>`, then `make zh`.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from helpers import conversion_check, i18n

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("translate", ROOT / "tools" / "translate.py")
translate = importlib.util.module_from_spec(_spec)
sys.modules["translate"] = translate  # dataclasses look their module up there
_spec.loader.exec_module(translate)

PATHS = translate.Paths()
TRANSLATED = translate.translated_lessons(PATHS)
# Lessons without a Chinese translation: none (every lesson is translated). A new English lesson fails
# test_untranslated_lessons_are_listed until it is translated (or, for a while, listed here).
UNTRANSLATED: set[str] = set()


def test_untranslated_lessons_are_listed():
    assert set(translate.english_lessons(PATHS)) - set(TRANSLATED) == UNTRANSLATED


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_translation_is_complete_and_current(lesson):
    data = translate.translation(lesson, PATHS)
    assert (data["lesson"], data["language"]) == (lesson, "zh-CN")
    assert translate.check(lesson, PATHS).problems() == []


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_translation_keeps_code_links_numbers_and_structure(lesson):
    english = dict(translate.markdown_cells(translate.english(lesson, PATHS)))
    cells = translate.translation(lesson, PATHS)["cells"]
    problems = {cell_id: translate.structure_problems(english[cell_id], entry["zh"]) for cell_id, entry in cells.items()}
    assert {cell_id: p for cell_id, p in problems.items() if p} == {}


@pytest.mark.parametrize(
    "english, zh, complaint",
    [
        ("Call `model.fit` once.", "调用一次 model.fit。", "code span"),  # backticks dropped
        ("See <https://ai.google.dev/edge/litert>.", "参见 LiteRT 文档。", "link"),
        ("It is 4x smaller at 90% sparsity.", "它在九成稀疏度下小了 4 倍。", "number"),
        ("## 2 · Setup\n\ntext", "### 2 · 设置\n\n正文", "structure"),  # heading level changed
        ("| a | b |\n|---|---|\n| 1 | 2 |", "| a | b |\n| 1 | 2 |", "structure"),  # table row lost
        ("<details><summary>Solution</summary>\n\n42\n</details>", "答案：42", "structure"),
    ],
)
def test_structure_check_catches_a_careless_translation(english, zh, complaint):
    problems = translate.structure_problems(english, zh)
    assert problems and complaint in " ".join(problems)
    assert translate.structure_problems(english, english) == []


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_committed_chinese_notebook_is_what_the_tool_builds(lesson):
    built = PATHS.built / f"{lesson}.ipynb"
    assert built.exists(), f"{built} missing: run `make zh`"
    assert built.read_text(encoding="utf-8") == translate.build_text(lesson, PATHS), f"{built} is stale: `make zh`"


def test_no_chinese_notebook_without_a_translation():
    assert sorted(p.stem for p in PATHS.built.glob("*.ipynb")) == TRANSLATED


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_only_markdown_sources_differ(lesson):
    """Code cells, outputs and cell metadata are the English notebook's, so the edition needs no execution -
    except the ``helpers.setup()`` cell's printed lines, which are in Chinese (what a Chinese kernel prints)."""
    en = translate.english(lesson, PATHS)
    zh = json.loads((PATHS.built / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    assert len(en["cells"]) == len(zh["cells"])
    setup_cells = 0
    for a, b in zip(en["cells"], zh["cells"], strict=True):
        if a["cell_type"] == "markdown":
            a, b = dict(a, source=None), dict(b, source=None)
        elif "helpers.setup(" in "".join(a["source"]):
            setup_cells += 1
            english = "".join("".join(o.get("text", [])) for o in a["outputs"])
            chinese = "".join("".join(o.get("text", [])) for o in b["outputs"])
            assert chinese.startswith("模式：") and chinese == i18n.localize(english)
            a, b = dict(a, outputs=None), dict(b, outputs=None)
        else:  # printed lines: the "prints" templates' Chinese; every other output the English run's
            for x, y in zip(a["outputs"], b["outputs"], strict=True):
                if x.get("output_type") == "stream" and x.get("name") == "stdout":
                    assert "".join(y["text"]) == i18n.translate_printed("".join(x["text"]), PATHS.translations)
                    x, y = dict(x, text=None), dict(y, text=None)
                elif x.get("output_type") == "stream" and x.get("name") == "stderr":
                    assert "".join(y["text"]) == conversion_check.warnings_in_chinese("".join(x["text"]), PATHS.translations)
                    x, y = dict(x, text=None), dict(y, text=None)
                assert x == y
            a, b = dict(a, outputs=None), dict(b, outputs=None)
        assert a == b
    assert setup_cells == 1
    translate._localize_widgets(en, PATHS)  # the saved widget state: labels and captions as a Chinese kernel shows them
    assert zh["metadata"] == dict(en["metadata"], language="zh-CN")


# ------------------------------------------------------------------ the lessons' printed sentences

PRINTS = {lesson: translate.translation(lesson, PATHS).get("prints", {}) for lesson in TRANSLATED}
CJK = re.compile(r"[\u4e00-\u9fff]")


# Lessons whose printed sentences are not all translated yet (README.zh-CN.md says so); the test below fails when
# one of them is complete, so the list cannot go stale.
PRINTS_PENDING: set[str] = set()


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_every_printed_sentence_has_chinese(lesson):
    """What a lesson prints follows the notebook's language: a new or reworded print in an English lesson
    fails here until its template is in the lesson's "prints" table (`python tools/translate.py prints LESSON`
    lists what is missing)."""
    missing = translate.untranslated_prints(lesson, PATHS)
    if lesson in PRINTS_PENDING:
        assert missing, f"{lesson}: every printed sentence is translated - take it off PRINTS_PENDING"
    else:
        assert missing == []


def test_the_sentence_detector_finds_prose_however_its_words_are_spaced():
    """A printed sentence is caught with one space between words, and with two spaces, a comma, a colon or a dash
    (the lines an earlier detector let through); table rows of numbers and printed code are not sentences."""
    for prose in ("accuracy kept", "Pruned,  accuracy kept", "done:  weights pruned", "Pruned,dense", "sparsity —  kept"):
        assert translate.is_sentence(prose), prose
    for not_prose in ("MLP per-channel   88.6%   88.6%   88.3%", "goal: prune 97/93 + int8        88.69%  -1.43  96.4%",
                      "        x, labels, teacher = self._split(data)", "    def train_step(self, data):",
                      "dense_0 100 · dense_1 50", "float32 20.0 µs"):  # fmt: skip
        assert not translate.is_sentence(not_prose), not_prose


@pytest.mark.parametrize("lesson", TRANSLATED)
def test_print_templates_are_well_formed(lesson):
    """Each template: distinct fields, enough literal text to describe its line (``i18n._template_regex``), the
    same fields in its Chinese, Chinese text in it. (A template need not match this run's lines: the other
    variant of a verdict, a fast-mode line.)"""
    problems = []
    for english, chinese in PRINTS[lesson].items():
        try:
            i18n._template_regex(english, 0 if chinese is None else i18n._MIN_LETTERS)
        except ValueError as error:
            problems.append(str(error))
            continue
        if chinese is None:  # kept English on purpose (a printed file, e.g. a model card)
            continue
        if sorted(i18n.template_fields(chinese)) != sorted(i18n.template_fields(english)):
            problems.append(f"{english!r}: fields {i18n.template_fields(chinese)} in the Chinese")
        if not CJK.search(chinese):
            problems.append(f"{english!r}: no Chinese in {chinese!r}")
    assert problems == []


def test_a_template_means_the_same_in_every_lesson():
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for lesson, table in PRINTS.items():
        for english, chinese in table.items():
            if english in seen and seen[english][1] != chinese:
                clashes.append(f"{english!r}: {seen[english][0]} and {lesson} differ")
            seen.setdefault(english, (lesson, chinese))
    assert clashes == []


def test_translate_printed_reads_whole_lines_only(tmp_path):
    _write(tmp_path / "x.json", {"prints": {"{label}epoch {epoch}/{epochs}  train acc {acc}": "{label}第 {epoch}/{epochs} 轮  训练准确率 {acc}",
                                            "accuracy {acc} (zero-points {{0}})": "准确率 {acc}（零点 {{0}}）"}})
    text = "small epoch  2/12  train acc 72.34 %\nepoch 1/3  train loss 0.4\naccuracy 9% (zero-points {0})\n12,345 B\n"
    assert i18n.translate_printed(text, tmp_path) == (
        "small 第  2/12 轮  训练准确率 72.34 %\nepoch 1/3  train loss 0.4\n准确率 9%（零点 {0}）\n12,345 B\n"
    )
    with pytest.raises(ValueError, match="literal letters"):
        i18n._template_regex("{a}: {b}")


def test_a_chinese_kernel_prints_the_lesson_sentences_in_chinese(tmp_path):
    """``helpers.setup()`` wraps the kernel's stdout in a Chinese notebook (``i18n.install``): a print split
    over several writes still goes out as one translated line, a partial line waits for flush."""
    _write(tmp_path / "x.json", {"prints": {"accuracy {acc}, agreement {agree}": "准确率 {acc}，一致率 {agree}"}})

    class Stream:  # ipykernel's OutStream is a Python object: its write/flush can be replaced on the instance
        def __init__(self):
            self.out, self.flushes = [], 0

        def write(self, text):
            self.out.append(text)

        def flush(self):
            self.flushes += 1

    stream = Stream()
    i18n._print_patterns.cache_clear()
    original = i18n.TRANSLATIONS
    try:
        i18n.TRANSLATIONS = tmp_path
        assert i18n.install(stream) and not i18n.install(stream)  # idempotent
        print("accuracy", "83.1%,", "agreement 99%", file=stream)
        print("progress ", end="", file=stream)
        assert "".join(stream.out) == "准确率 83.1%，一致率 99%\n"
        stream.flush()
        assert "".join(stream.out).endswith("progress ") and stream.flushes == 1
    finally:
        i18n.TRANSLATIONS = original
        i18n._print_patterns.cache_clear()


# ------------------------------------------------------------------ the checks catch what they claim to


@pytest.fixture
def sandbox(tmp_path):
    """A copy of the English lesson 00 and a complete translation of it, built: the tampering tests' base."""
    paths = translate.Paths(tmp_path / "notebooks", tmp_path / "translations" / "zh-CN", tmp_path / "notebooks" / "zh-CN")
    paths.english.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "00_baseline.ipynb", paths.english)
    translate.stub("00_baseline", paths)
    data = translate.translation("00_baseline", paths)
    for cell_id, entry in data["cells"].items():
        entry["zh"] = f"中文 {cell_id}\n第二行"
    _write(paths.translations / "00_baseline.json", data)
    assert translate.build(["00_baseline"], paths) == 0
    return paths


def _write(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _first_markdown(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "markdown")


def test_sandbox_builds_clean(sandbox):
    assert translate.check("00_baseline", sandbox).problems() == []
    zh = json.loads((sandbox.built / "00_baseline.ipynb").read_text(encoding="utf-8"))
    cell = _first_markdown(zh)
    assert cell["source"] == [f"中文 {cell['id']}\n", "第二行"]


def test_an_english_edit_makes_the_translation_stale(sandbox, capsys):
    path = sandbox.english / "00_baseline.ipynb"
    nb = translate._read_json(path)
    cell = _first_markdown(nb)
    cell["source"][-1] += " (edited)"
    _write(path, nb)
    report = translate.check("00_baseline", sandbox)
    assert report.stale == [cell["id"]]
    assert translate.build(["00_baseline"], sandbox) == 1
    error = capsys.readouterr().err
    assert "00_baseline" in error and cell["id"] in error and "# 00 · Baselines" in error
    translate.refresh("00_baseline", cell["id"], sandbox)  # the translator updated "zh"
    assert translate.check("00_baseline", sandbox).problems() == []


def test_a_new_english_cell_is_missing(sandbox):
    path = sandbox.english / "00_baseline.ipynb"
    nb = translate._read_json(path)
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "newcell1", "metadata": {}, "source": ["A new note."]})
    _write(path, nb)
    report = translate.check("00_baseline", sandbox)
    assert report.missing == ["newcell1"]
    with pytest.raises(translate.TranslationError, match="newcell1.*A new note"):
        translate.build_text("00_baseline", sandbox)
    translate.stub("00_baseline", sandbox)
    data = translate.translation("00_baseline", sandbox)
    assert list(data["cells"])[1] == "newcell1" and data["cells"]["newcell1"]["zh"] == ""
    assert translate.check("00_baseline", sandbox).missing == ["newcell1"]  # an empty "zh" is still missing


def test_a_translation_of_a_removed_cell_is_an_orphan(sandbox):
    path = sandbox.english / "00_baseline.ipynb"
    nb = translate._read_json(path)
    removed = _first_markdown(nb)["id"]
    nb["cells"] = [c for c in nb["cells"] if c["id"] != removed]
    _write(path, nb)
    assert translate.check("00_baseline", sandbox).orphans == [removed]
    with pytest.raises(translate.TranslationError, match=f"{removed}.*no longer has"):
        translate.build_text("00_baseline", sandbox)


def test_a_hand_edited_chinese_notebook_differs_from_the_build(sandbox):
    built = sandbox.built / "00_baseline.ipynb"
    zh = translate._read_json(built)
    code = next(c for c in zh["cells"] if c["cell_type"] == "code")
    code["source"].append("\nprint('only in Chinese')")
    _write(built, zh)
    assert built.read_text(encoding="utf-8") != translate.build_text("00_baseline", sandbox)


def test_cli_exit_codes(sandbox, monkeypatch, capsys):
    monkeypatch.setattr(translate, "Paths", lambda: sandbox)
    assert translate.main([]) == 2
    assert translate.main(["refresh", "00_baseline", "nosuchcell"]) == 1
    assert "no markdown cell nosuchcell" in capsys.readouterr().err


def test_the_chinese_readme_is_linked_and_lists_the_translated_lessons():
    assert "[README.zh-CN.md](README.zh-CN.md)" in "".join((ROOT / "README.md").read_text().splitlines(True)[:4])
    readme = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "[English README](README.md)" in readme
    listed = set(re.findall(r"`zh-CN/(\w+)\.ipynb`", readme))
    assert listed == set(TRANSLATED)  # every translated lesson, no lesson that is not there yet
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / target).exists(), f"README.zh-CN.md links to a missing {target}"


def source_texts(node) -> list[str]:
    """Every text the expression ``node`` (Python source, parsed) can evaluate to: literal parts kept, each
    ``{expression}`` of an f-string as ``X<n>``, any other computed part as ``Y`` (a conditional gives both
    branches, a ``+`` every combination). How the tests read from the source what helpers print or show."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(str(v.value) if isinstance(v, ast.Constant) else f"X{i}" for i, v in enumerate(node.values))]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in source_texts(node.left) for b in source_texts(node.right)]
    if isinstance(node, ast.IfExp):
        return source_texts(node.body) + source_texts(node.orelse)
    return ["Y"]


def _verdict_samples() -> list[tuple[str, str]]:
    """(place, line) for every exercise self-check message helpers print (``verdict(ok, message)``): the message's
    literal text with each ``{expression}`` as ``X<n>`` and each computed part as ``Y``, behind the ✗ mark. A
    message that is all computed (another message passed on) is left out: its parts are checked where written."""

    samples = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "verdict" and len(node.args) >= 2:
                for text in source_texts(node.args[1]):
                    if sum(ch.isalpha() for ch in text.replace("Y", "").replace("X", "")) >= 6:
                        samples.append((f"{path.relative_to(ROOT).as_posix()}:{node.lineno}", "✗ " + text))
    return samples


def test_every_exercise_self_check_message_has_chinese():
    """The exercises' feedback prints only when a student answers, so no committed output holds it: each message
    helpers can print is checked here instead, from the source."""
    samples = _verdict_samples()
    assert len(samples) >= 70
    missing = [f"{place}: {line}" for place, line in samples if i18n.translate_line(line, PATHS.translations) is None]
    assert missing == []
