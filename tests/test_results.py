"""helpers.results: the append-only JSONL log, its damage tolerance, and the Pareto frontier."""

from __future__ import annotations

import json
import multiprocessing
import types
import warnings
from pathlib import Path

import filelock
import numpy as np
import pytest

from helpers import config, results

FASHION_FAST = types.SimpleNamespace(name="fashion_mnist", source="the Debian package", mode="fast")
FASHION_FULL = types.SimpleNamespace(name="fashion_mnist", source="the Debian package", mode="full")
DIGITS_FAST = types.SimpleNamespace(name="digits", source="scikit-learn", mode="fast")

GOOD = {"technique": "pruning", "name": "p50", "metrics": {"tflite_gz": 100, "tflite_accuracy": 0.9}}


def good_line(**changes) -> str:
    return json.dumps({**GOOD, **changes})


# ----------------------------------------------------------------------------- record and load


def test_record_and_load_round_trip(isolated_cache):
    entry = results.record(
        "pruning",
        "50 % sparse",
        {"tflite_gz": 123_456, "tflite_accuracy": 0.8811, "params": 266_610},
        {"sparsity": 0.5, "schedule": ("poly", 3)},
        lesson="01",
        data=FASHION_FAST, key='test/50 % sparse')
    assert results.log_path() == isolated_cache / "results.jsonl"
    assert results.log_path().is_file()
    log = results.load()
    assert len(log) == 1 and log.damaged_lines == []
    got = log[0]
    assert got == json.loads(json.dumps(entry))  # what was returned is what was stored
    assert got["technique"] == "pruning" and got["name"] == "50 % sparse" and got["lesson"] == "01"
    assert got["metrics"] == {"tflite_gz": 123_456, "tflite_accuracy": 0.8811, "params": 266_610}
    assert got["settings"] == {"sparsity": 0.5, "schedule": ["poly", 3]}
    assert got["data"] == "fashion_mnist" and got["data_source"] == "the Debian package"
    assert got["mode"] == "fast"
    assert len(got["id"]) == 12 and got["time"].endswith("+00:00")
    assert "1 experiment in" in log.report()


def test_each_record_is_one_line_and_ids_differ(isolated_cache):
    a = results.record("pruning", "a", {"x": 1}, key='test/a')
    b = results.record("pruning", "b", {"x": 2}, key='test/b')
    lines = results.log_path().read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3  # two lines, each newline-terminated
    assert a["id"] != b["id"]
    assert [e["name"] for e in results.load()] == ["a", "b"]


def test_record_takes_a_measurement_and_numpy_values(isolated_cache):
    import numpy as np

    from helpers.measure import Measurement

    m = Measurement(
        name="m", params=np.int64(10), nonzeros=5, tflite_bytes=100, tflite_gz=90,
        tflite_accuracy=np.float32(0.5), latency_b1_us=1.0, latency_b256_ms=2.0,
    )  # fmt: skip
    results.record("baseline", "m", m, {"bits": np.int32(8)}, key='test/m')
    got = results.load()[0]
    assert got["metrics"]["params"] == 10 and got["metrics"]["tflite_accuracy"] == 0.5
    assert got["metrics"]["keras_bytes"] is None
    assert got["settings"] == {"bits": 8}


def test_nan_and_inf_metrics_are_stored_as_null(isolated_cache):
    results.record("pruning", "diverged", {"tflite_accuracy": float("nan"), "loss": float("inf"), "ok": 1.5}, key='test/diverged')
    text = results.log_path().read_text()
    assert "NaN" not in text and "Infinity" not in text
    got = results.load()[0]["metrics"]
    assert got == {"tflite_accuracy": None, "loss": None, "ok": 1.5}


def test_record_without_data_stamps_the_current_mode(isolated_cache, monkeypatch):
    monkeypatch.setenv("WORKBOOK_FAST", "0")
    entry = results.record("pruning", "x", {}, key='test/x')
    assert entry["mode"] == "full" and entry["data"] is None
    monkeypatch.setenv("WORKBOOK_FAST", "1")
    assert results.record("pruning", "y", {}, key='test/y')["mode"] == "fast"


@pytest.mark.parametrize(("technique", "name"), [("", "x"), ("pruning", ""), (None, "x")])
def test_record_needs_a_technique_and_a_name(isolated_cache, technique, name):
    with pytest.raises(ValueError) as info:
        results.record(technique, name, {"x": 1}, key=f"test/{name}")
    assert "technique and a name" in str(info.value)
    assert not results.log_path().exists()


def test_load_of_a_missing_log_is_empty(isolated_cache):
    log = results.load()
    assert list(log) == [] and log.damaged_lines == []
    assert "0 experiments" in log.report()


# ----------------------------------------------------------------------------- damaged logs


def test_damaged_lines_are_skipped_reported_and_left_alone(tmp_path):
    path = tmp_path / "results.jsonl"
    content = (
        "\n".join(
            [
                good_line(name="first"),  # 1
                "this is not json {",  # 2
                "",  # 3: blank lines are not damage
                json.dumps({"technique": "pruning", "name": "no metrics"}),  # 4
                json.dumps([1, 2, 3]),  # 5
                json.dumps({**GOOD, "metrics": [0.9, 100]}),  # 6
                good_line(name="last"),  # 7
                '"just a string"',  # 8
            ]
        )
        + "\n"
    )
    path.write_text(content)
    before = path.read_bytes()
    with pytest.warns(UserWarning) as caught:
        log = results.load(path)
    assert [e["name"] for e in log] == ["first", "last"]
    assert log.damaged_lines == [2, 4, 5, 6, 8]
    report = log.report()
    assert "skipped 5 damaged line(s)" in report
    assert "line 2, 4, 5, 6, 8" in report
    assert "untouched" in report
    assert any(report in str(w.message) for w in caught)
    assert path.read_bytes() == before


def test_many_damaged_lines_are_summarised(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("garbage\n" * 13)
    with pytest.warns(UserWarning, match="and 3 more"):
        log = results.load(path)
    assert log.damaged_lines == list(range(1, 14))
    assert "line 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 3 more" in log.report()


def test_binary_garbage_is_a_damaged_line_not_a_crash(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(good_line().encode() + b"\n\xff\xfe\x00\x81 garbage\n")
    with pytest.warns(UserWarning):
        log = results.load(path)
    assert len(log) == 1 and log.damaged_lines == [2]


@pytest.mark.parametrize(
    "line",
    [
        good_line(key=["00", "mlp"]),  # a list where a string key belongs
        good_line(key="00/mlp", data={"name": "fashion_mnist"}),  # an object where a name belongs
        "[" * 10_000,  # a runaway line of brackets
    ],
    ids=["list-key", "object-data", "deeply-nested"],
)
def test_load_never_fails_on_a_damaged_line(tmp_path, line):
    """The module promises: reading never fails on a damaged line; it is reported and skipped."""
    path = tmp_path / "results.jsonl"
    path.write_text(good_line(name="fine") + "\n" + line + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = results.load(path)
    assert "fine" in [e["name"] for e in log]


def test_a_cut_off_last_line_does_not_swallow_the_next_entry(isolated_cache):
    path = results.log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    first = good_line(name="before the crash")
    cut = good_line(name="cut off")[:25]
    path.write_text(first + "\n" + cut)  # a crash mid-write: no trailing newline
    results.record("quantization", "after the crash", {"tflite_gz": 50, "tflite_accuracy": 0.8}, key='test/after the crash')
    raw = path.read_text()
    assert raw.startswith(first + "\n" + cut + "\n")  # the damaged line is kept as it was
    assert raw.endswith("\n")
    with pytest.warns(UserWarning, match="line 2"):
        log = results.load()
    assert [e["name"] for e in log] == ["before the crash", "after the crash"]
    assert log.damaged_lines == [2]


# ----------------------------------------------------------------------------- concurrent writers


def _append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        entry = {"technique": "t", "name": f"w{worker}-{i}", "metrics": {}, "pad": chr(97 + worker) * 2_000}
        results.append_line(Path(path), (json.dumps(entry) + "\n").encode())


def test_concurrent_appends_neither_interleave_nor_lose_lines(tmp_path):
    """2 writers x 1,000 entries of 2 kB at once: every line whole, none lost, each writer's in order."""
    path = tmp_path / "shared.jsonl"
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")  # Windows has only spawn
    writers, count = 2, 1_000
    workers = [ctx.Process(target=_append_many, args=(str(path), w, count)) for w in range(writers)]
    for p in workers:
        p.start()
    seen_while_writing = results.load(path)  # a reader in the middle of it never sees half a line
    assert seen_while_writing.damaged_lines == []
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * writers
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # raises if any line is interleaved
    assert len(parsed) == writers * count
    assert sorted(e["name"] for e in parsed) == sorted(f"w{w}-{i}" for w in range(writers) for i in range(count))
    for e in parsed:
        assert e["pad"] == chr(97 + int(e["name"][1])) * 2_000  # its own writer's padding, whole
    # And each writer's own lines stay in order.
    for w in range(writers):
        mine = [int(e["name"].split("-")[1]) for e in parsed if e["name"].startswith(f"w{w}-")]
        assert mine == list(range(count))


def test_the_log_lock_is_filelock_not_fcntl():
    """helpers.results locks through filelock (Windows has no fcntl); the lock sits beside the log."""
    assert "fcntl" not in results.__dict__
    lock = results._lock(Path("somewhere") / "results.jsonl")
    assert isinstance(lock, filelock.BaseFileLock)
    assert lock.lock_file.endswith("results.jsonl.lock")


def test_a_writer_that_cannot_get_the_lock_keeps_the_entry_in_memory(isolated_cache, monkeypatch):
    """Another kernel holding the lock past LOCK_TIMEOUT: record() warns and keeps the entry, nothing is lost."""
    monkeypatch.setattr(results, "LOCK_TIMEOUT", 0.2)
    path = results.log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".lock"):  # flock is per open file: this blocks the writer below
        with pytest.warns(UserWarning, match="Could not write the results log"):
            entry = results.record("pruning", "waited", {"tflite_gz": 1, "tflite_accuracy": 0.5}, key='test/waited')
    assert results._unsaved == [entry]
    assert [e["name"] for e in results.load()] == ["waited"]


# ----------------------------------------------------------------------------- unwritable logs


def test_an_unwritable_log_path_keeps_the_entry_in_memory(isolated_cache, blocked_dir):
    target = blocked_dir / "results.jsonl"
    with pytest.warns(UserWarning) as caught:
        entry = results.record("pruning", "kept", {"tflite_gz": 1, "tflite_accuracy": 0.5}, path=target, key='test/kept')
    message = " ".join(str(w.message) for w in caught)
    assert "Could not write the results log" in message and str(target) in message
    assert "kept in memory" in message
    assert "WORKBOOK_CACHE" in message and "writable" in message  # the fix
    assert entry["name"] == "kept"
    assert results._unsaved == [entry]
    # The board reads the default log: the in-memory entry shows there.
    assert [e["name"] for e in results.load()] == ["kept"]
    assert not target.exists()


def test_an_unwritable_default_log_still_shows_on_the_board(isolated_cache):
    # A directory where the log file belongs: opening it for append fails, even as root.
    config.cache_dir()
    results.log_path().mkdir()
    with pytest.warns(UserWarning, match="kept in memory"):
        results.record("pruning", "in memory", {"tflite_gz": 1, "tflite_accuracy": 0.5}, data=FASHION_FAST, key='test/in memory')
    log = results.load(data=FASHION_FAST)
    assert [e["name"] for e in log] == ["in memory"]
    assert results.load(data=DIGITS_FAST) == []  # filters still apply to in-memory entries


def test_results_survive_a_session_with_an_unwritable_cache_dir(blocked_dir, private_tempdir, monkeypatch):
    """With WORKBOOK_CACHE unusable, results go to the session's temp dir and must be found there."""
    monkeypatch.setenv("WORKBOOK_CACHE", str(blocked_dir))
    config.reset_cache_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results.record("pruning", "logged", {"tflite_gz": 1, "tflite_accuracy": 0.5}, data=FASHION_FAST, key='test/logged')
        log = results.load(data=FASHION_FAST)
    assert [e["name"] for e in log] == ["logged"]


# ----------------------------------------------------------------------------- filters and keys


def test_load_filters_by_data_mode_and_technique(isolated_cache):
    results.record("pruning", "fashion fast pruning", {}, data=FASHION_FAST, key='test/fashion fast pruning')
    results.record("quantization", "fashion fast quant", {}, data=FASHION_FAST, key='test/fashion fast quant')
    results.record("pruning", "fashion full pruning", {}, data=FASHION_FULL, key='test/fashion full pruning')
    results.record("pruning", "digits fast pruning", {}, data=DIGITS_FAST, key='test/digits fast pruning')
    names = lambda log: [e["name"] for e in log]  # noqa: E731
    assert names(results.load(data=FASHION_FAST)) == ["fashion fast pruning", "fashion fast quant"]
    assert names(results.load(data=FASHION_FULL)) == ["fashion full pruning"]
    assert names(results.load(data=DIGITS_FAST)) == ["digits fast pruning"]
    assert names(results.load(data=FASHION_FAST, technique="pruning")) == ["fashion fast pruning"]
    assert names(results.load(mode="fast", technique="pruning")) == ["fashion fast pruning", "digits fast pruning"]
    assert len(results.load()) == 4


def test_newest_entry_of_a_key_supersedes_older_ones(isolated_cache):
    results.record("baseline", "mlp run 1", {"tflite_accuracy": 0.80}, key="00/mlp", data=FASHION_FAST)
    results.record("pruning", "widget a", {}, data=FASHION_FAST, key="01/explorer/a")
    results.record("baseline", "mlp run 2", {"tflite_accuracy": 0.81}, key="00/mlp", data=FASHION_FAST)
    results.record("pruning", "widget b", {}, data=FASHION_FAST, key="01/explorer/b")
    results.record("pruning", "widget a again", {}, data=FASHION_FAST, key="01/explorer/a")  # the same settings re-run
    results.record("baseline", "mlp full", {"tflite_accuracy": 0.88}, key="00/mlp", data=FASHION_FULL)
    assert [e["name"] for e in results.load(data=FASHION_FAST)] == ["mlp run 2", "widget b", "widget a again"]
    # The same key on other data or mode is a different point.
    assert [e["name"] for e in results.load(data=FASHION_FULL)] == ["mlp full"]
    assert len(results.log_path().read_text().splitlines()) == 6  # nothing deleted from the file


def test_record_refuses_an_entry_without_a_key(isolated_cache):
    """The wrong behaviour rejected: a keyless entry, which every re-run of its cell would duplicate on the board."""
    with pytest.raises(ValueError, match="needs a key"):
        results.record("pruning", "no key", {"tflite_accuracy": 0.5}, data=FASHION_FAST)
    assert not results.log_path().exists()


def test_record_refuses_a_simulated_size_in_the_gzipped_field(isolated_cache):
    """The wrong answer rejected: packed (simulated, raw) bytes stored as ``tflite_gz``, a gzipped file."""
    with pytest.raises(ValueError, match="packed_bytes"):
        results.record("quantization", "4-bit (simulated)", {"tflite_gz": 100, "tflite_accuracy": 0.5},
                       {"simulated": True}, key="02/explorer/x", data=FASHION_FAST)


# ----------------------------------------------------------------------------- Pareto frontier


def point(name, size, acc, technique="pruning"):
    return {"technique": technique, "name": name, "metrics": {"tflite_gz": size, "tflite_accuracy": acc}}


def names_of(entries):
    return [e["name"] for e in entries]


def test_pareto_front_of_nothing_is_empty():
    assert results.pareto_front([]) == []


def test_pareto_front_of_one_point_is_that_point():
    only = point("only", 10, 0.5)
    assert results.pareto_front([only]) == [only]


def test_pareto_front_drops_dominated_points_and_sorts_by_size():
    entries = [
        point("big and best", 400, 0.95),
        point("dominated", 300, 0.80),  # beaten by "small and good"
        point("small and good", 200, 0.85),
        point("tiny", 50, 0.60),
        point("mid", 250, 0.90),
        point("also dominated", 500, 0.95),  # same accuracy as a smaller one
    ]
    assert names_of(results.pareto_front(entries)) == ["tiny", "small and good", "mid", "big and best"]


def test_pareto_front_keeps_the_first_of_exact_ties():
    entries = [point("first", 100, 0.9), point("second", 100, 0.9), point("third", 100, 0.9)]
    assert names_of(results.pareto_front(entries)) == ["first"]
    assert names_of(results.pareto_front(entries[::-1])) == ["third"]


def test_pareto_front_same_size_keeps_the_more_accurate():
    assert names_of(results.pareto_front([point("worse", 100, 0.7), point("better", 100, 0.8)])) == ["better"]


def test_pareto_front_ignores_entries_missing_metrics():
    entries = [
        point("ok", 100, 0.8),
        {"technique": "pruning", "name": "no size", "metrics": {"tflite_accuracy": 0.99}},
        {"technique": "pruning", "name": "null accuracy", "metrics": {"tflite_gz": 1, "tflite_accuracy": None}},
        {"technique": "pruning", "name": "no metrics"},
    ]
    assert names_of(results.pareto_front(entries)) == ["ok"]


def test_pareto_front_other_keys():
    entries = [
        {
            "name": "a",
            "metrics": {"tflite_bytes": 10, "keras_accuracy": 0.5, "tflite_gz": 1000, "tflite_accuracy": 0.9},
        },
        {"name": "b", "metrics": {"tflite_bytes": 20, "keras_accuracy": 0.6, "tflite_gz": 1, "tflite_accuracy": 0.1}},
    ]
    assert names_of(results.pareto_front(entries, size_key="tflite_bytes", acc_key="keras_accuracy")) == ["a", "b"]
    assert names_of(results.pareto_front(entries)) == ["b", "a"]


def test_settings_with_numpy_arrays_and_paths_are_stored(isolated_cache):
    from pathlib import Path

    entry = results.record(
        "pruning", "np", {"tflite_gz": np.int64(5), "tflite_accuracy": np.float32(0.5)},
        {"per_layer": np.array([0.5, 0.9]), "file": Path("x/y.tflite"), "flag": np.bool_(True)}, key='test/np')  # fmt: skip
    loaded = results.load()[-1]
    assert loaded["id"] == entry["id"]
    assert loaded["settings"] == {"per_layer": [0.5, 0.9], "file": "x/y.tflite", "flag": True}
    assert loaded["metrics"] == {"tflite_gz": 5, "tflite_accuracy": 0.5}
