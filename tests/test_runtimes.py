"""The README's run-time column is data/runtimes.json rendered (tools/runtimes.py): one place for every run time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import runtimes  # noqa: E402

TABLE = f"""intro
{runtimes.HEADER}
|---|---|---|---|---|
| `00_baseline` | core | why | 15 min | 1 s / 0 min 01 s |
| `01_pruning` | core | pruning | 25 min | 1 s / 0 min 01 s |

| lesson (fast mode) | 2 CPUs: peak memory | CPU time | wall time | x | y | z |
| `00_baseline` | 1.17 GB | 12 s | 90 s | 1 | 2 | 3 |
"""


def test_the_readme_shows_what_the_file_holds():
    text = runtimes.README.read_text(encoding="utf-8")
    data = runtimes.load()
    assert runtimes.rewrite(text, data) == text, "README.md's run-time column is stale: python tools/runtimes.py readme"
    lessons = sorted(p.stem for p in (runtimes.ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert sorted(runtimes.readme_rows(text)) == lessons, "every lesson has a row in the lesson table"
    assert all(lesson in data["full"] and lesson in data["fast"] for lesson in lessons), "every lesson has both times"


def test_rewrite_changes_only_the_lesson_tables_run_column():
    data = {"fast": {}, "full": {}}
    runtimes.record(data, "fast", "notebooks/00_baseline.ipynb", 12.4, commit="abc", date="2026-12-05")
    runtimes.record(data, "full", "00_baseline", 218, commit="abc", date="2026-12-05")
    out = runtimes.rewrite(TABLE, data)
    assert "| `00_baseline` | core | why | 15 min | 12 s / 3 min 38 s |" in out
    assert "| `01_pruning` | core | pruning | 25 min | ? / ? |" in out  # unmeasured says so, no stale number kept
    assert "| `00_baseline` | 1.17 GB | 12 s | 90 s | 1 | 2 | 3 |" in out  # the envelope table is not the lesson table


def test_a_rerun_replaces_its_entry_and_a_stopped_run_is_a_lower_bound():
    data = {"fast": {}, "full": {}}
    runtimes.record(data, "full", "03_distillation", 300, commit="a", date="d")
    runtimes.record(data, "full", "03_distillation", 361, commit="b", date="d")
    assert data["full"] == {"03_distillation": {"seconds": 361, "commit": "b", "date": "d"}}
    runtimes.from_envelope(data, [{"lesson": "05_microcontroller", "mode": "fast", "cpus": 2, "cpu_s": 29.2,
                                   "returncode": 1},
                                  {"lesson": "05_microcontroller", "mode": "fast", "cpus": 1, "cpu_s": 99}])  # fmt: skip
    assert data["fast"]["05_microcontroller"]["seconds"] == 29 and data["fast"]["05_microcontroller"]["at_least"]
    assert runtimes.cell(data, "05_microcontroller") == "≥ 29 s / ?"


@pytest.mark.parametrize(("mode", "lesson", "seconds"), [("slow", "00_baseline", 1), ("full", "00", 1),
                                                           ("full", "00_baseline", 0), ("full", "00_baseline", "5")])
def test_nonsense_is_refused(mode, lesson, seconds):
    with pytest.raises(ValueError):
        runtimes.record({"fast": {}, "full": {}}, mode, lesson, seconds)


def test_a_readme_without_the_table_is_an_error():
    with pytest.raises(ValueError, match="lesson table"):
        runtimes.readme_rows("no table here")
