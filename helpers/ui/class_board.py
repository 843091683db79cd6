"""The class on one board: every student's results log in one folder, drawn as one size-vs-accuracy board.

    python -m helpers.ui.class_board DIR [--out class-board.png] [--mode fast|full] [--data NAME]

``DIR`` holds one results log per student: ``<student>.jsonl`` or ``<student>/results.jsonl`` (a copy of
their ``data/cache/results.jsonl``), or exported entries (``<student>.json``: one entry or a list). Each
student's points are named ``<student>: <point>`` and each student's own frontier is ringed and labelled
on the board. Damaged lines are reported (file and line numbers) and skipped; files with no usable entry
(foreign JSON, other files) are reported and skipped; two files that would give the same student name
are told apart by their folder. Nothing in ``DIR`` is written (no lock files either: the logs are read
as plain files), and the board goes to a new file: an existing one is never overwritten.
"""

from __future__ import annotations

import argparse
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import results
from . import board_plots


@dataclass
class ClassLog:
    """Everyone's entries (names prefixed by their student), and what was skipped and why."""

    entries: list[dict] = field(default_factory=list)
    students: dict[str, str] = field(default_factory=dict)  # student label -> file (relative to DIR)
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{len(self.students)} students, {len(self.entries)} points"]
        return "\n".join(lines + [f"  skipped: {p}" for p in self.problems])


def _valid(entry) -> bool:
    return (isinstance(entry, dict) and all(k in entry for k in results.REQUIRED)
            and isinstance(entry["metrics"], dict) and isinstance(entry.get("name"), str))  # fmt: skip


def _read(path: Path) -> tuple[list[dict], list[int], str | None]:
    """(entries, damaged line numbers, a reason the whole file is foreign or None). Read-only."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [], f"cannot be read as UTF-8 text ({type(exc).__name__})"
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return [], [], "is not valid JSON"
        items = data if isinstance(data, list) else [data]
        good = [e for e in items if _valid(e)]
        return good, [], None if good else "is JSON but holds no results-log entry (technique, name, metrics)"
    entries, damaged = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            entry = None
        (entries.append(entry) if _valid(entry) else damaged.append(number))
    if not entries:
        return [], damaged, "holds no results-log entry"
    return entries, damaged, None


def _student(path: Path, folder: Path) -> str:
    return path.parent.name if path.stem == "results" and path.parent != folder else path.stem


def load_class(folder: Path) -> ClassLog:
    """Every student's entries under ``folder`` (see the module's text). Raises FileNotFoundError with
    advice when ``folder`` is not a directory."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder. Point at a folder holding one results.jsonl per "
                                "student (<student>.jsonl or <student>/results.jsonl).")  # fmt: skip
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    names = collections.Counter(_student(p, folder) for p in files if p.suffix in (".jsonl", ".json"))
    log = ClassLog()
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if path.suffix not in (".jsonl", ".json"):
            if not path.name.endswith(".lock"):
                log.problems.append(f"{rel}: not a .jsonl or .json file")
            continue
        entries, damaged, foreign = _read(path)
        if foreign:
            log.problems.append(f"{rel}: {foreign}")
            continue
        if damaged:
            log.problems.append(f"{rel}: damaged line(s) {', '.join(map(str, damaged))} (the rest is used)")
        student = _student(path, folder)
        if names[student] > 1:  # two files, one name: tell them apart by where they are
            student = f"{student} ({path.parent.relative_to(folder).as_posix() or '.'}/{path.name})"
        log.students[student] = rel
        for i, entry in enumerate(results._newest_per_key(entries)):
            entry = dict(entry, student=student, name=f"{student}: {entry['name']}", id=f"{student}#{entry.get('id', i)}")
            log.entries.append(entry)
    return log


def class_board(log: ClassLog, data: str | None = None, mode: str | None = None, size_key: str = "tflite_gz"):
    """One board of ``log``'s entries of one data set and mode (default: the most common pair); each
    student's own Pareto frontier is ringed and labelled. Returns (figure, entries drawn, note)."""
    pairs = collections.Counter((e.get("data"), e.get("mode")) for e in log.entries)
    if not pairs:
        return board_plots.board([], title="the class: no points"), [], "no points"
    want = (data, mode) if data and mode else next(p for p, _ in pairs.most_common()
                                                    if (data is None or p[0] == data) and (mode is None or p[1] == mode))  # fmt: skip
    shown = [e for e in log.entries if (e.get("data"), e.get("mode")) == want]
    others = len(log.entries) - len(shown)
    highlight = []
    for student in log.students:
        highlight += [e["id"] for e in results.pareto_front([e for e in shown if e["student"] == student], size_key=size_key)]
    title = f"the class: {len({e['student'] for e in shown})} students, {want[0]}, {want[1]} mode"
    fig = board_plots.board(shown, highlight=highlight, title=title, size_key=size_key)
    note = f"{others} points of other data sets or modes not on this board" if others else ""
    return fig, shown, note


def free_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``<stem>-1<suffix>``, ``-2``, ...: never overwrite."""
    path, n = Path(path), 1
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("class-board.png"))
    parser.add_argument("--mode", choices=["fast", "full"])
    parser.add_argument("--data", help="data set name as logged (e.g. fashion_mnist)")
    args = parser.parse_args(argv)
    try:
        log = load_class(args.folder)
    except FileNotFoundError as exc:
        print(exc)
        return 2
    print(log.report())
    fig, shown, note = class_board(log, args.data, args.mode)
    out = free_path(args.out)
    fig.savefig(out, dpi=100)
    print(f"board of {len(shown)} points written to {out}" + (f" ({args.out} exists: not overwritten)" if out != args.out else "")
          + (f"; {note}" if note else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
