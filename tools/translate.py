"""The Chinese edition: notebooks/zh-CN/<lesson>.ipynb built from the English lesson plus its translation file.

    python tools/translate.py build [LESSON...]     write notebooks/zh-CN/<lesson>.ipynb (every lesson that has a
                                                    translation file when none is named); exit 1 on a missing or
                                                    stale translation, naming lesson, cell id and the English line
    python tools/translate.py status                per lesson: markdown cells missing / stale / ok
    python tools/translate.py stub LESSON           add an entry (empty "zh", current hash) for every missing cell
    python tools/translate.py refresh LESSON CELL   after updating a stale cell's "zh", store the current hash
    python tools/translate.py prints [LESSON]       the lesson's printed sentences no "prints" template translates

A translation file, translations/zh-CN/<lesson>.json (cells in notebook order):

    {"lesson": "00_baseline", "language": "zh-CN",
     "cells": {"<markdown cell id>": {"source_sha256": "<sha256 of ''.join(cell['source'])>", "zh": "<Chinese>"}},
     "prints": {"<English template of a printed line, {name} fields>": "<Chinese template, the same fields>"}}

Only markdown sources change, and the printed lines of the ``helpers.setup()`` cell (in Chinese, as a Chinese kernel
prints them: ``helpers.i18n.localize``): code cells, other outputs and the rest of the JSON are the English
notebook's, so the Chinese edition runs the same code and needs no execution of its own. tests/test_translations.py fails on drift
(an English cell changed since it was translated, a cell without translation, a translation of a cell that no
longer exists, a committed Chinese notebook that differs from what this tool builds).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class Paths:
    """Where the English lessons, the translation files and the built notebooks live (tests use a tmp copy)."""

    english: Path = ROOT / "notebooks"
    translations: Path = ROOT / "translations" / LANGUAGE
    built: Path = ROOT / "notebooks" / LANGUAGE


class TranslationError(Exception):
    """A lesson cannot be built: its problems, one line each, name the cell and its English first line."""


@dataclass
class Report:
    """One lesson's state: cell ids per kind (``stale``: the English changed since the translation's hash)."""

    lesson: str
    ok: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # no entry, or an entry whose "zh" is empty
    stale: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # translated ids the English notebook no longer has
    first_lines: dict[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Human-readable lines, one per problem (empty when the lesson can be built)."""
        lines = [f"{self.lesson}: cell {c} has no translation (English: {self.first_lines[c]!r})" for c in self.missing]
        lines += [
            f"{self.lesson}: cell {c} changed in English since it was translated (English: {self.first_lines[c]!r}); "
            f"update its \"zh\", then `python tools/translate.py refresh {self.lesson} {c}`"
            for c in self.stale
        ]
        lines += [f"{self.lesson}: translation of cell {c}, which the English lesson no longer has" for c in self.orphans]
        return lines


def sha256(text: str) -> str:
    """Hex SHA-256 of a cell source (``''.join(cell['source'])``, UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _dumps(obj: dict) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def markdown_cells(nb: dict) -> list[tuple[str, str]]:
    """(cell id, source) of every markdown cell, in notebook order. Raises TranslationError for a cell without id."""
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            if "id" not in cell:
                raise TranslationError(f"markdown cell {index} has no id (nbformat >= 4.5 gives every cell one)")
            cells.append((cell["id"], "".join(cell["source"])))
    return cells


def english(lesson: str, paths: Paths = Paths()) -> dict:
    """The English notebook of ``lesson`` (its stem, e.g. ``00_baseline``)."""
    path = paths.english / f"{lesson}.ipynb"
    if not path.exists():
        raise TranslationError(f"no English lesson {path.relative_to(paths.english.parent)}")
    return _read_json(path)


def translation(lesson: str, paths: Paths = Paths()) -> dict:
    """The translation file of ``lesson``; an empty one (no cells) when it does not exist yet."""
    path = paths.translations / f"{lesson}.json"
    if not path.exists():
        return {"lesson": lesson, "language": LANGUAGE, "cells": {}}
    return _read_json(path)


def check(lesson: str, paths: Paths = Paths()) -> Report:
    """Compare ``lesson``'s translation file with its English notebook, cell by cell."""
    cells = markdown_cells(english(lesson, paths))
    entries = translation(lesson, paths)["cells"]
    report = Report(lesson)
    for cell_id, source in cells:
        report.first_lines[cell_id] = source.strip().splitlines()[0][:80] if source.strip() else ""
        entry = entries.get(cell_id)
        if entry is None or not entry.get("zh", "").strip():
            report.missing.append(cell_id)
        elif entry.get("source_sha256") != sha256(source):
            report.stale.append(cell_id)
        else:
            report.ok.append(cell_id)
    ids = {cell_id for cell_id, _ in cells}
    report.orphans = [cell_id for cell_id in entries if cell_id not in ids]
    return report


_CODE = re.compile(r"(?<!`)`(?!`)[^`\n]+(?:\n[^`\n]+)?`(?!`)")  # a span may wrap onto one more line; fences are not spans
_URL = re.compile(r"https?://[^\s<>)\]]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def structure_problems(english_text: str, zh: str) -> list[str]:
    """What a translation must keep of its English cell: every code span, URL and number, the same headings
    (levels, in order), code fences, ``<details>`` blocks and table rows. Empty when it keeps them all."""
    problems = []
    for what, pattern in (("code span", _CODE), ("link", _URL), ("number", _NUMBER)):
        found = lambda text, pattern=pattern: {" ".join(item.split()) for item in pattern.findall(text)}  # noqa: E731
        lost = sorted(found(english_text) - found(zh))
        if lost:
            problems.append(f"lost {what}(s) {lost}")

    def shape(text: str) -> list[str]:
        lines = [line.strip() for line in text.splitlines()]
        return [
            "#" * (len(line) - len(line.lstrip("#"))) if line.startswith("#") else line[:3] if line.startswith("```")
            else "<details>" if line.startswith("<details>") else "|" if line.startswith("|") else ""
            for line in lines
        ]

    def kinds(text: str) -> list[str]:
        return [k for k in shape(text) if k]

    if kinds(english_text) != kinds(zh):
        problems.append(f"structure differs: English {kinds(english_text)} vs translation {kinds(zh)}")
    return problems


def build_text(lesson: str, paths: Paths = Paths()) -> str:
    """The Chinese notebook's JSON text. Raises TranslationError listing every problem of the lesson."""
    report = check(lesson, paths)
    if report.problems():
        raise TranslationError("\n".join(report.problems()))
    nb = english(lesson, paths)
    entries = translation(lesson, paths)["cells"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = entries[cell["id"]]["zh"].splitlines(keepends=True)
        else:
            _localize_prints(cell, paths)
    _localize_widgets(nb, paths)
    nb["metadata"]["language"] = LANGUAGE
    return _dumps(nb)


def _helpers():
    """``helpers.i18n`` and ``helpers.conversion_check``, imported on first use (``helpers/__init__`` imports
    TensorFlow: only when a lesson is built or its prints are listed)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from helpers import conversion_check, i18n

    return i18n, conversion_check


#: The widget models whose ``value`` is a caption (HTML or plain text a reader reads).
CAPTION_MODELS = ("HTMLModel", "HTMLMathModel", "LabelModel")


def _localize_widgets(nb: dict, paths: Paths) -> None:
    """The notebook's saved widget state (what JupyterLab, nbviewer and GitHub draw for an explorer before its cell
    runs) as a Chinese kernel leaves it: controls' labels, tooltips, placeholders and options from
    ``helpers.i18n.ZH`` (``label_in_chinese``), captions from the "prints" templates (``caption_in_chinese``: the
    ``helpers.ui.caption.Caption`` widgets do the same in a reader's kernel)."""
    i18n, _ = _helpers()
    states = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in states.get("state", {}).values():
        state = model.get("state", {})
        for key in ("description", "tooltip", "placeholder"):
            if isinstance(state.get(key), str):
                state[key] = i18n.label_in_chinese(state[key])
        if isinstance(state.get("_options_labels"), list):
            state["_options_labels"] = [i18n.label_in_chinese(label) for label in state["_options_labels"]]
        if model.get("model_name") in CAPTION_MODELS and isinstance(state.get("value"), str):
            state["value"] = i18n.caption_in_chinese(state["value"], paths.translations)


def _localize_prints(cell: dict, paths: Paths) -> None:
    """A code cell's printed lines as a Chinese kernel prints them, so the committed Chinese lesson shows what
    its reader's own run shows: ``helpers.setup()``'s lines from ``helpers.i18n.t`` (``i18n.localize``), every
    other line a "prints" template of the translation files matches (``i18n.translate_printed``; the kernel
    wraps stdout with the same function). Figures, tables of numbers and other outputs stay the English run's."""
    i18n, conversion_check = _helpers()
    setup = "helpers.setup(" in "".join(cell.get("source", ""))
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") in ("stdout", "stderr"):
            text = "".join(output["text"])
            if output["name"] == "stderr":  # the workbook's ConversionWarnings, as a Chinese kernel formats them
                text = conversion_check.warnings_in_chinese(text, paths.translations)
            else:
                text = i18n.localize(text) if setup else i18n.translate_printed(text, paths.translations)
            output["text"] = text.splitlines(keepends=True) if isinstance(output["text"], list) else text


#: A printed line that reads as a sentence: two words in a row, the first capitalised or not, the second in lower
#: case ("accuracy 83.09%", "Training small_resnet: …"). Tables of numbers and layer names do not.
SENTENCE = re.compile(r"\b[A-Za-z][a-z]+ [a-z]{2,}\b")
#: Two words apart by more than one space, a comma, a semicolon, a colon or a dash ("pruned,  accuracy kept"):
#: a sentence too, unless the line is a table row (two or more number cells after wide gaps) or printed code.
WIDE_WORDS = re.compile(r"\b[A-Za-z][a-z]+(?: {2,}|, ?|; ?|: ?| *[-–—] *)[a-z]{2,}\b")
TABLE_ROW = re.compile(r"(?: {2,}[-+]?\d[\w.,%+-]*){2,}")
CODE_LINE = re.compile(r"^\s*(?:def |class |return\b|[\w.]+(?:, [\w.]+)* = )|\bself\.")


def is_sentence(line: str) -> bool:
    """Whether a printed ``line`` reads as English prose that needs a "prints" template."""
    if SENTENCE.search(line):
        return True
    return bool(WIDE_WORDS.search(line)) and not TABLE_ROW.search(line) and not CODE_LINE.search(line)


def printed_lines(nb: dict) -> list[str]:
    """Every line the notebook's code cells printed to stdout, in order (the ``helpers.setup()`` cell's excluded:
    its lines come from ``helpers.i18n.ZH``)."""
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "helpers.setup(" in "".join(cell["source"]):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                lines += "".join(output["text"]).splitlines()
    return lines


def untranslated_prints(lesson: str, paths: Paths = Paths()) -> list[str]:
    """The English lesson's printed sentences (``is_sentence``) that no "prints" template of the translation files
    matches, each once, in order: what a translator adds to the lesson's "prints" table."""
    i18n, _ = _helpers()
    seen, out = set(), []
    for line in printed_lines(english(lesson, paths)):
        if line in seen or not is_sentence(line) or i18n.matching_template(line, paths.translations) is not None:
            continue
        seen.add(line)
        out.append(line)
    return out


def translated_lessons(paths: Paths = Paths()) -> list[str]:
    """Lessons that have a translation file, sorted (``ui.json``, the controls' strings, is not a lesson)."""
    return sorted(p.stem for p in paths.translations.glob("*.json") if p.name != "ui.json")


def english_lessons(paths: Paths = Paths()) -> list[str]:
    """Every English lesson's stem, sorted."""
    return sorted(p.stem for p in paths.english.glob("*.ipynb"))


def build(lessons: list[str], paths: Paths = Paths()) -> int:
    """Write the Chinese notebooks of ``lessons``; print each problem and return 1 if any lesson failed."""
    failed = False
    paths.built.mkdir(parents=True, exist_ok=True)
    for lesson in lessons:
        try:
            text = build_text(lesson, paths)
        except TranslationError as error:
            print(error, file=sys.stderr)
            failed = True
            continue
        target = paths.built / f"{lesson}.ipynb"
        changed = not target.exists() or target.read_text(encoding="utf-8") != text
        if changed:
            target.write_text(text, encoding="utf-8")
        print(f"{target.relative_to(paths.built.parent.parent)}: {'written' if changed else 'up to date'}")
    return 1 if failed else 0


def status(paths: Paths = Paths()) -> int:
    """Print, per English lesson, how many markdown cells are ok / stale / missing (and orphans)."""
    for lesson in english_lessons(paths):
        r = check(lesson, paths)
        total = len(r.ok) + len(r.stale) + len(r.missing)
        line = f"{lesson:<24} ok {len(r.ok):>3}/{total:<3} stale {len(r.stale):>3}  missing {len(r.missing):>3}"
        if r.orphans:
            line += f"  orphans {len(r.orphans)}"
        print(line)
        for problem in r.problems() if r.ok or r.stale else []:
            print(f"    {problem}")
    return 0


def stub(lesson: str, paths: Paths = Paths()) -> int:
    """Add entries with an empty "zh" and the current hash for the missing cells; keep notebook order."""
    cells = markdown_cells(english(lesson, paths))
    data = translation(lesson, paths)
    old = data["cells"]
    new = {}
    for cell_id, source in cells:
        new[cell_id] = old.get(cell_id) or {"source_sha256": sha256(source), "zh": ""}
    new.update({k: v for k, v in old.items() if k not in new})  # orphans stay visible until removed by hand
    added = len(new) - len(old)
    data["cells"] = new
    paths.translations.mkdir(parents=True, exist_ok=True)
    (paths.translations / f"{lesson}.json").write_text(_dumps(data), encoding="utf-8")
    print(f"{lesson}: {added} cell(s) added with an empty \"zh\" to fill in")
    return 0


def refresh(lesson: str, cell_id: str, paths: Paths = Paths()) -> int:
    """Store the current English hash for ``cell_id`` (after its translation was brought up to date)."""
    sources = dict(markdown_cells(english(lesson, paths)))
    data = translation(lesson, paths)
    if cell_id not in sources:
        raise TranslationError(f"{lesson} has no markdown cell {cell_id}")
    if cell_id not in data["cells"]:
        raise TranslationError(f"{lesson}: cell {cell_id} has no translation yet; run `stub {lesson}` first")
    data["cells"][cell_id]["source_sha256"] = sha256(sources[cell_id])
    (paths.translations / f"{lesson}.json").write_text(_dumps(data), encoding="utf-8")
    print(f"{lesson}: cell {cell_id} now translates the current English")
    return 0


def prints(lessons: list[str], paths: Paths = Paths()) -> int:
    """Print each lesson's untranslated printed sentences (one per line, after a header); exit 1 when any."""
    missing = 0
    for lesson in lessons or translated_lessons(paths):
        lines = untranslated_prints(lesson, paths)
        missing += len(lines)
        print(f"{lesson}: {len(lines)} printed sentence(s) without a \"prints\" template")
        for line in lines:
            print(f"    {line}")
    return 1 if missing else 0


def main(argv: list[str]) -> int:
    usage = __doc__.split("\n\n")[1]
    if not argv or argv[0] not in {"build", "status", "stub", "refresh", "prints"}:
        print(usage, file=sys.stderr)
        return 2
    command, args, paths = argv[0], argv[1:], Paths()
    try:
        if command == "build":
            return build(args or translated_lessons(paths), paths)
        if command == "status":
            return status(paths)
        if command == "stub" and len(args) == 1:
            return stub(args[0], paths)
        if command == "refresh" and len(args) == 2:
            return refresh(args[0], args[1], paths)
        if command == "prints" and len(args) <= 1:
            return prints(args, paths)
    except TranslationError as error:
        print(error, file=sys.stderr)
        return 1
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
