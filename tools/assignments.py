"""Build an nbgrader course from the lessons' exercises (``make assignments``).

    python tools/assignments.py                     # every lesson -> build/course (source/ and release/)
    python tools/assignments.py --course DIR 00 03  # some lessons, elsewhere
    python tools/assignments.py --exercises-only 03 # an assignment of the exercise cells alone (no training)

Each lesson becomes one assignment, ``source/<lesson>/<lesson>.ipynb``. Every exercise cell
(``answer = None`` then a ``helpers.<lesson>.exercises.<check>(answer, ...)`` call) whose solution is in
``SOLUTIONS`` becomes two nbgrader cells:

* an answer cell (``solution``): the student's ``answer = None`` line, then the solution between
  ``### BEGIN SOLUTION`` / ``### END SOLUTION``, which nbgrader removes from the student version;
* a test cell (``grade``, locked, ``POINTS`` points): ``assert <the lesson's own self-check>``. The check
  prints its verdict and returns False for a missing or wrong answer, so the assert fails: no points.

Exercises without a registered solution stay as they are (practice with the self-check, not graded) and
are listed. Then ``nbgrader generate_assignment`` writes the student versions into ``release/``. Grading:
``nbgrader collect``/``autograde`` as usual, with ``WORKBOOK_FAST=1`` in the grader's environment so a
lesson re-runs in about a minute (the checks hold in both modes). nbgrader's documentation: "Creating and
grading assignments" (cell metadata ``nbgrader.{grade,solution,locked,points,grade_id,schema_version}``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POINTS = 1
#: check (as the lesson calls it, after ``helpers.``) -> the solution's lines. Kept with the lessons' printed
#: solutions (the <details> cell after each exercise); tests/test_assignments.py runs them through the checks.
SOLUTIONS = {
    "baseline.exercises.mlp_params": "answer = (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)",
    "baseline.exercises.float_tflite_bytes": "answer = 4 * m_cnn.params  # 4 bytes per float32 parameter",
    "distillation.exercises.softmax_at_temperature": "answer = [0.619, 0.228, 0.153]  # softmax([1.5, 0.5, 0.1])",
    "distillation.exercises.t_squared_factor": "answer = 4  # (16 / 8) ** 2",
    "baseline.exercises.gzip_ratio_guess": "answer = False  # trained float32 weights: gzip saves under 10 %",
    "pruning.exercises.pruned_nonzeros": (
        "answer = round(0.2 * (784 * 300 + 300 * 100 + 100 * 10)) + (300 + 100 + 10)  # 20 % of kernels + biases"
    ),
    "structured_pruning.exercises.mlp_macs_after_removal": (
        "answer_macs = 784 * 100 + 100 * 100 + 100 * 10  # 100 units kept: dense_1's inputs shrink too"
    ),
    "quantization.exercises.int8_tflite_bytes": "answer = cnn.count_params()  # about one byte per parameter",
    "low_bit.exercises.int4_raw_bytes": (
        'answer = len(float_files["MLP"]) - 3.5 * 266_200 + 12 * 410  # packed int4 + a scale and zero-point per channel'
    ),
    "combining.exercises.cluster_halving": "answer = 0.75  # an index of 3 bits instead of 4",
    "microcontroller.exercises.predict_arena_head": "answer = 2_352 + 1_176  # 14x14x12 in + 7x7x24 out, the largest pair",
}
_CHECK = re.compile(r"^helpers\.([\w.]+\.exercises\.\w+)\((.*)\);?\s*$", re.DOTALL)
_ANSWER = re.compile(r"^(\w+) = None\b")
_DETAILS = re.compile(r"<details><summary>Solution</summary>.*?</details>", re.DOTALL)


def exercise_parts(source: str) -> tuple[str, str, str] | None:
    """(lines before the check, the check's name, the check call) of an exercise cell, else None."""
    lines = source.rstrip().splitlines()
    if not lines or not any(_ANSWER.match(line) for line in lines):
        return None
    found = _CHECK.match(lines[-1])
    if not found:
        return None
    return "\n".join(lines[:-1]), found.group(1), lines[-1].rstrip().rstrip(";")


def _meta(kind: str, grade_id: str) -> dict:
    solution, grade = kind == "answer", kind == "test"
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = POINTS
    return {"nbgrader": meta}


def _code(source: str, metadata: dict) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [], "source": source}


def gradable(nb: dict, lesson: str) -> tuple[dict, list[str], list[str]]:
    """The lesson ``nb`` with its exercises turned into nbgrader answer + test cells.
    Returns (notebook, graded check names, ungraded check names)."""
    out = copy.deepcopy(nb)
    cells, graded, ungraded = [], [], []
    for cell in out["cells"]:
        parts = exercise_parts("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if cell["cell_type"] == "markdown":  # the lesson's printed solutions stay out of the student version
            text = _DETAILS.sub("", "".join(cell["source"])).strip()
            if not text:
                continue
            cell["source"] = text
        if parts is None or parts[1] not in SOLUTIONS:
            if parts is not None:
                ungraded.append(parts[1])
            cell.pop("id", None)
            cell["outputs"], cell["execution_count"] = ([], None) if cell["cell_type"] == "code" else (None, None)
            if cell["cell_type"] != "code":
                cell.pop("outputs"), cell.pop("execution_count")
            cells.append(cell)
            continue
        before, check, call = parts
        n = len(graded) + 1
        answer = f"{before}\n### BEGIN SOLUTION\n{SOLUTIONS[check]}\n### END SOLUTION"
        cells.append(_code(answer, _meta("answer", f"{lesson}-exercise-{n}-answer")))
        cells.append(_code(f"assert {call}, 'See the check above: not yet right.'", _meta("test", f"{lesson}-exercise-{n}-check")))
        graded.append(check)
    out["cells"] = cells
    out["nbformat"], out["nbformat_minor"] = 4, 4  # nbgrader gives cells their own ids (4.5 would need them)
    return out, graded, ungraded


def exercises_only(nb: dict) -> dict:
    """The lesson reduced to ``import helpers; helpers.setup()`` and its exercise cells with their prompts
    (the markdown cell just before each): a short assignment, for exercises that use no earlier cell's
    variables (lesson 03's; lesson 00's use its measured models and need the whole lesson)."""
    out = copy.deepcopy(nb)
    keep = [_code("import helpers\n\nmode = helpers.setup()", {})]
    for i, cell in enumerate(out["cells"]):
        if cell["cell_type"] == "code" and exercise_parts("".join(cell["source"])):
            if i and out["cells"][i - 1]["cell_type"] == "markdown" and out["cells"][i - 1] not in keep:
                keep.append(out["cells"][i - 1])
            keep.append(cell)
    out["cells"] = keep
    return out


CONFIG = '''c = get_config()  # noqa: F821 - nbgrader's config file
c.CourseDirectory.course_id = "compression-workbook"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ClearSolutions.code_stub = {{"python": "# your answer: replace None above"}}
c.ExecutePreprocessor.timeout = 1800
'''


def write_course(course: Path, lessons: list[str], only_exercises: bool = False) -> dict[str, tuple[list, list]]:
    """source/<lesson>/<lesson>.ipynb for each lesson and nbgrader_config.py; nothing else is touched.
    Returns lesson -> (graded, ungraded) check names."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), db=str(course / "gradebook.db")), encoding="utf-8")
    report = {}
    for lesson in lessons:
        path = next((ROOT / "notebooks").glob(f"{lesson}_*.ipynb"), None)
        if path is None:
            raise SystemExit(f"No lesson {lesson!r} in notebooks/.")
        nb = json.loads(path.read_text(encoding="utf-8"))
        nb, graded, ungraded = gradable(exercises_only(nb) if only_exercises else nb, lesson)
        target = course / "source" / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        report[lesson] = (graded, ungraded)
    return report


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in ``course`` with the workbook importable and fast mode on."""
    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` (its database migrations) from the PATH
    env = dict(os.environ, PYTHONPATH=str(ROOT), WORKBOOK_FAST="1", PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
    return subprocess.run([*cmd, *args], cwd=course, env=env, capture_output=True, text=True, check=check)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=ROOT / "build" / "course")
    parser.add_argument("--exercises-only", action="store_true", help="only each lesson's exercise cells")
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: every lesson with an exercise)")
    args = parser.parse_args(argv)
    lessons = args.lessons or [p.name.split("_")[0] for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    report = write_course(args.course, lessons, args.exercises_only)
    for lesson, (graded, ungraded) in report.items():
        if not graded:
            print(f"{lesson}: no graded exercise" + (f" ({len(ungraded)} practice only)" if ungraded else ""))
            continue
        done = nbgrader(args.course, "generate_assignment", lesson, "--force", check=False)
        if done.returncode:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            return 1
        print(f"{lesson}: {len(graded)} graded ({POINTS} point each): {', '.join(graded)}"
              + (f"; practice only (no registered solution): {', '.join(ungraded)}" if ungraded else ""))  # fmt: skip
    print(f"course in {args.course}: student versions in release/, grade with nbgrader autograde (WORKBOOK_FAST=1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
