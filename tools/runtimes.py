"""Every lesson's run time in one file, data/runtimes.json, and the README's lesson table generated from it.

    python tools/runtimes.py record full LESSON SECONDS   # make execute calls this after each lesson
    python tools/runtimes.py envelope FILE.jsonl          # fast mode, from tools/envelope.py --jsonl (2-CPU rows)
    python tools/runtimes.py readme                       # rewrite the README table's run-time column
    python tools/runtimes.py check                        # exit 1 when the README disagrees with the file

Fast mode is CPU seconds of the lesson's kernel tree at 2 CPUs (``make bench``'s envelope: the number to size a
machine by; wall time on a quiet 2-core machine is close to it). Full mode is the wall time of the lesson in
``make execute`` (in order, from an empty cache). Each entry keeps where it came from (the commit, the date), so a
number is never separated from how it was measured. ``tests/test_runtimes.py`` fails when the README's column and
this file disagree.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "data" / "runtimes.json"
README = ROOT / "README.md"
HEADER = "| lesson | path | what it teaches | read | run, fast / full |"  # the lesson table's first line
ROW = re.compile(r"^\| `(?P<lesson>\d\d[a-z]?_\w+)` \|(?P<middle>.*)\| (?P<run>[^|]*) \|$")


def load(path: Path = FILE) -> dict:
    """``{"fast": {lesson: entry}, "full": {lesson: entry}}``; an entry is ``{"seconds", "commit", "date"}``
    (plus ``"at_least": true`` when the run stopped early, so the time is a lower bound)."""
    if not path.exists():
        return {"fast": {}, "full": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"fast": data.get("fast", {}), "full": data.get("full", {})}


def save(data: dict, path: Path = FILE) -> None:
    ordered = {mode: dict(sorted(data[mode].items())) for mode in ("fast", "full")}
    path.write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def lesson_name(value: str) -> str:
    """``"notebooks/03_distillation.ipynb"`` or ``"03_distillation"`` -> ``"03_distillation"``; a bare number
    (``"03"``) is refused: the file is keyed by the notebook's name."""
    stem = Path(value).stem
    if not re.fullmatch(r"\d\d[a-z]?_\w+", stem):
        raise ValueError(f"{value!r}: give the lesson's notebook (notebooks/03_distillation.ipynb) or its name.")
    return stem


def record(data: dict, mode: str, lesson: str, seconds: float, *, at_least: bool = False, commit: str | None = None,
           date: str | None = None) -> dict:
    """Replace (never append) ``lesson``'s ``mode`` entry. Raises ValueError on a nonsense mode or time."""
    if mode not in ("fast", "full"):
        raise ValueError(f"mode must be 'fast' or 'full', not {mode!r}.")
    if not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"seconds = {seconds!r}: a run time is a positive number of seconds.")
    entry = {"seconds": round(float(seconds)), "commit": commit or _commit(),
             "date": date or _dt.date.today().isoformat()}  # fmt: skip
    if at_least:
        entry["at_least"] = True
    data[mode][lesson_name(lesson)] = entry
    return data


def from_envelope(data: dict, rows: list[dict]) -> dict:
    """Fast-mode entries from tools/envelope.py's JSON lines: the 2-CPU rows' CPU seconds; a failed run is a
    lower bound (it stopped early)."""
    for row in rows:
        if row.get("mode") == "fast" and row.get("cpus") == 2:
            record(data, "fast", row["lesson"], row["cpu_s"], at_least=row.get("returncode", 0) != 0,
                   commit=row.get("commit"), date=row.get("date"))  # fmt: skip
    return data


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min {seconds % 60:02d} s"


def cell(data: dict, lesson: str) -> str:
    """The README's run-time cell: ``"12 s / 3 min 38 s"`` (fast CPU s / full wall); ``?`` where unmeasured."""
    fast, full = data["fast"].get(lesson), data["full"].get(lesson)
    left = "?" if fast is None else ("≥ " if fast.get("at_least") else "") + f"{fast['seconds']} s"
    right = "?" if full is None else ("≥ " if full.get("at_least") else "") + _duration(full["seconds"])
    return f"{left} / {right}"


def _table_lines(lines: list[str]) -> range:
    """The indices of the lesson table's rows (below ``HEADER`` and its rule, up to the first non-table line)."""
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == HEADER]
    if len(starts) != 1:
        raise ValueError(f"README.md must hold the lesson table's header exactly once ({HEADER!r}).")
    end = starts[0] + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return range(starts[0] + 2, end)


def readme_rows(text: str) -> dict[str, str]:
    """``{lesson: its run-time cell}`` as the README's lesson table has it."""
    lines = text.splitlines()
    return {m["lesson"]: m["run"].strip() for m in (ROW.match(lines[i]) for i in _table_lines(lines)) if m}


def rewrite(text: str, data: dict) -> str:
    """``text`` with the lesson table's run-time column rendered from ``data`` (nothing else changes)."""
    lines = text.splitlines(keepends=True)
    for i in _table_lines(lines):
        m = ROW.match(lines[i].rstrip("\n"))
        if m:
            lines[i] = f"| `{m['lesson']}` |{m['middle']}| {cell(data, m['lesson'])} |\n"
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    data = load()
    if args[:2] == ["record", "full"] and len(args) == 4:
        save(record(data, "full", args[2], float(args[3])))
    elif args[:1] == ["envelope"] and len(args) == 2:
        rows = [json.loads(line) for line in Path(args[1]).read_text(encoding="utf-8").splitlines() if line.strip()]
        save(from_envelope(data, rows))
    elif args == ["readme"]:
        README.write_text(rewrite(README.read_text(encoding="utf-8"), data), encoding="utf-8")
    elif args == ["check"]:
        text = README.read_text(encoding="utf-8")
        if rewrite(text, data) != text:
            print("README.md's run-time column differs from data/runtimes.json: python tools/runtimes.py readme")
            return 1
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
