"""make assignments (tools/assignments.py): an nbgrader course from the lessons' exercises, graded end to end."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("assignments", ROOT / "tools" / "assignments.py")
assignments = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assignments)


def _lesson(number: str) -> dict:
    return json.loads(next((ROOT / "notebooks").glob(f"{number}_*.ipynb")).read_text(encoding="utf-8"))


def test_every_registered_solution_names_an_exercise_of_a_lesson():
    checks = set()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            parts = assignments.exercise_parts("".join(cell["source"])) if cell["cell_type"] == "code" else None
            if parts:
                checks.add(parts[1])
    assert len(checks) >= 15  # every lesson's exercises are found
    assert set(assignments.SOLUTIONS) <= checks  # a renamed check would silently drop a graded exercise


def _solved(check: str, **names):
    """The value a registered solution assigns (its lines run with ``names`` as the lesson's variables)."""
    space = dict(names)
    exec(assignments.SOLUTIONS[check], space)  # noqa: S102 - the workbook's own solution lines
    return next(space[k] for k in ("answer", "answer_macs") if k in space)


def test_each_solution_passes_its_own_check():
    """The solutions an instructor's course grades against are right: each passes the lesson's self-check with the
    arguments the lesson passes (numbers chosen like the lesson's where the check compares with a measurement)."""
    from helpers import models
    from helpers.baseline import exercises as baseline
    from helpers.combining import exercises as combining
    from helpers.distillation import exercises as distillation
    from helpers.microcontroller import exercises as microcontroller
    from helpers.pruning import exercises as pruning
    from helpers.quantization import exercises as quantization
    from helpers.structured_pruning import exercises as structured

    mlp, cnn = models.build_mlp(), models.build_cnn()
    assert baseline.mlp_params(_solved("baseline.exercises.mlp_params"))
    assert baseline.float_tflite_bytes(_solved("baseline.exercises.float_tflite_bytes",
                                               m_cnn=type("M", (), {"params": cnn.count_params()})),
                                       params=cnn.count_params(), measured_bytes=4 * cnn.count_params() + 3_000)  # fmt: skip
    assert baseline.gzip_ratio_guess(_solved("baseline.exercises.gzip_ratio_guess"), raw=1_070_000, gz=990_000)
    assert pruning.pruned_nonzeros(_solved("pruning.exercises.pruned_nonzeros"), mlp, 0.8)
    assert structured.mlp_macs_after_removal(_solved("structured_pruning.exercises.mlp_macs_after_removal"), removed=200)
    assert quantization.int8_tflite_bytes(_solved("quantization.exercises.int8_tflite_bytes", cnn=cnn),
                                          params=cnn.count_params(), measured_bytes=cnn.count_params() + 6_000)  # fmt: skip
    assert distillation.softmax_at_temperature(_solved("distillation.exercises.softmax_at_temperature"),
                                               logits=[3.0, 1.0, 0.2], temperature=2)  # fmt: skip
    assert distillation.t_squared_factor(_solved("distillation.exercises.t_squared_factor"), t_from=8, t_to=16)
    assert combining.cluster_halving(_solved("combining.exercises.cluster_halving"), gz_8=7_700, gz_16=10_000)
    assert microcontroller.predict_arena_head(_solved("microcontroller.exercises.predict_arena_head"),
                                              "c12s2 c24s2 c48s2 flat")  # fmt: skip


def test_graded_cells_carry_nbgrader_metadata_and_no_printed_solution():
    nb, graded, _ = assignments.gradable(_lesson("03"), "03")
    assert graded == ["distillation.exercises.softmax_at_temperature", "distillation.exercises.t_squared_factor"]
    meta = [c["metadata"]["nbgrader"] for c in nb["cells"] if "nbgrader" in c["metadata"]]
    assert [(m["solution"], m["grade"], m.get("points")) for m in meta] == [(True, False, None), (False, True, 1)] * 2
    assert len({m["grade_id"] for m in meta}) == 4
    assert not any("<details><summary>Solution" in "".join(c["source"]) for c in nb["cells"])


@pytest.mark.parametrize(("answer", "points"), [("[0.619, 0.228, 0.153]", True), ("[0.836, 0.113, 0.051]", False),
                                                ("None", False)])  # fmt: skip
def test_a_test_cell_fails_the_typical_wrong_answer(answer, points):
    """The ordinary softmax (T = 1) is the typical wrong answer: its test cell must not give the point."""
    import helpers

    nb, _, _ = assignments.gradable(_lesson("03"), "03")
    test = next("".join(c["source"]) for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    scope = {"helpers": helpers, "answer": eval(answer)}
    if points:
        exec(test, scope)
    else:
        with pytest.raises(AssertionError):
            exec(test, scope)


def _score(course: Path, student: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("03", student)
        return sub.score, sub.max_score


def test_release_submit_autograde_gives_zero_and_full_marks(tmp_path):
    """Lesson 03's exercises (no training): released, an untouched and a solved copy submitted, both autograded."""
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    assert assignments.main(["--course", str(course), "--exercises-only", "03"]) == 0
    release = json.loads((course / "release" / "03" / "03.ipynb").read_text())
    text = json.dumps(release)
    assert "BEGIN SOLUTION" not in text and "0.619" not in text  # the student version holds no solution
    source = json.loads((course / "source" / "03" / "03.ipynb").read_text())
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in source["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}  # fmt: skip
    solved = json.loads(json.dumps(release))
    for cell in solved["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:  # what a student who got it right writes
            cell["source"] = solutions[grade_id].replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION", "")
    for student, nb in (("untouched", release), ("solved", solved)):
        target = course / "submitted" / student / "03" / "03.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    done = assignments.nbgrader(course, "autograde", "03", "--force", check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _score(course, "untouched") == (0.0, 2.0)
    assert _score(course, "solved") == (2.0, 2.0)
    shutil.rmtree(course)
