"""The class on one board (helpers/ui/class_board.py): damaged lines, foreign files, duplicate names, no overwrite."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from helpers.ui import class_board  # noqa: E402


def _entry(name, gz, acc, mode="fast", technique="pruning", key=None):
    e = {"id": name, "name": name, "technique": technique, "data": "fashion_mnist", "mode": mode,
         "metrics": {"tflite_gz": gz, "tflite_bytes": gz * 2, "tflite_accuracy": acc}}  # fmt: skip
    if key:
        e["key"] = key
    return e


def _jsonl(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "class"
    _jsonl(d / "alice.jsonl", [_entry("mlp", 200_000, 0.86), _entry("pruned", 20_000, 0.85), '{"cut off', _entry("int8", 60_000, 0.86)])
    _jsonl(d / "bob" / "results.jsonl", [_entry("mlp", 200_000, 0.85, key="00/mlp"), _entry("mlp", 210_000, 0.855, key="00/mlp"),
                                         _entry("full", 200_000, 0.88, mode="full")])  # fmt: skip
    _jsonl(d / "sec1" / "carol.jsonl", [_entry("a", 30_000, 0.80)])
    _jsonl(d / "sec2" / "carol.jsonl", [_entry("b", 40_000, 0.82)])
    (d / "notes.json").write_text(json.dumps({"course": "compression", "week": 3}))  # foreign JSON
    (d / "dan.json").write_text(json.dumps([_entry("exported", 15_000, 0.84)]))  # exported entries
    (d / "photo.png").write_bytes(b"\x89PNG")
    return d


def _snapshot(d):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


def test_every_student_is_read_and_labelled_damage_and_foreign_files_reported(folder):
    before = _snapshot(folder)
    log = class_board.load_class(folder)
    assert _snapshot(folder) == before  # nothing written, no lock file beside a log
    assert set(log.students) == {"alice", "bob", "carol (sec1/carol.jsonl)", "carol (sec2/carol.jsonl)", "dan"}
    names = {e["name"] for e in log.entries}
    assert {"alice: pruned", "dan: exported", "carol (sec1/carol.jsonl): a"} <= names
    # the wrong behaviour: two Carols merged into one student, or one silently dropped
    assert len([e for e in log.entries if e["student"].startswith("carol")]) == 2
    assert len([e for e in log.entries if e["student"] == "bob" and e["mode"] == "fast"]) == 1  # newest of a key
    text = "\n".join(log.problems)
    assert "alice.jsonl: damaged line(s) 3" in text
    assert "notes.json: is JSON but holds no results-log entry" in text
    assert "photo.png: not a .jsonl or .json file" in text
    assert len(log.entries) == 3 + 2 + 2 + 1


def test_one_board_of_one_mode_with_each_students_frontier_labelled(folder):
    log = class_board.load_class(folder)
    fig, shown, note = class_board.class_board(log)
    assert {e["mode"] for e in shown} == {"fast"} and note.startswith("1 points of other")
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert any("alice: pruned" in t for t in labels) and any("dan: exported" in t for t in labels)
    assert not any("alice: mlp" in t for t in labels)  # dominated by alice's own int8 point: not ringed


def test_the_cli_never_overwrites_the_board(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "board.png"
    out.write_bytes(b"an earlier board")
    monkeypatch.chdir(tmp_path)
    assert class_board.main([str(folder), "--out", str(out)]) == 0
    assert out.read_bytes() == b"an earlier board"
    assert (tmp_path / "board-1.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "not overwritten" in printed and "5 students" in printed and "damaged line(s) 3" in printed


def test_a_missing_folder_is_explained(tmp_path, capsys):
    assert class_board.main([str(tmp_path / "nope")]) == 2
    assert "one results.jsonl per student" in capsys.readouterr().out
