"""The results log: every experiment a reader runs, one JSON line each, in ``data/cache/results.jsonl``.

* Append-only. Each entry is written with a single ``write`` to a file opened with ``O_APPEND``
  while holding an exclusive cross-process lock (``filelock``: ``results.jsonl.lock`` beside the
  log; ``fcntl`` on Linux and macOS, ``msvcrt`` on Windows), so two kernels appending at once
  neither interleave nor lose lines. If the file's last line was cut off (a crash mid-write), the next entry starts on a
  new line instead of being glued to it.
* Reading never fails on a damaged line: it is reported (line numbers) and skipped, and the
  file is left as it is.
* Every entry carries a ``key`` (e.g. ``"00/mlp"``, ``"01/explorer/<settings>"``): re-running the
  same lesson step (or a widget with the same settings) appends again, and ``load`` keeps only the
  newest entry of each key, so a re-run replaces its points and never duplicates them.
  ``record`` refuses an entry without a key (older logs may hold keyless entries: they all stay).
* If the log cannot be written, the entry is kept in memory for this session and a warning
  says why; the board still shows it.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import uuid
import warnings
from pathlib import Path

import filelock

from . import config

LOG_NAME = "results.jsonl"
REQUIRED = ("technique", "name", "metrics")
_TEXT_FIELDS = ("technique", "name", "key", "data", "mode", "lesson")

# What each stored metric means (one meaning per field; ``measure.Measurement`` writes most of them):
#   tflite_bytes     the .tflite flatbuffer as stored (raw bytes): what flash holds
#   tflite_gz        that same .tflite, gzipped (``gzip -9``): a download. Never a simulated size.
#   tflite_accuracy  top-1 accuracy of the .tflite on the test set, run by LiteRT (ai_edge_litert)
#   keras_accuracy   top-1 accuracy of the Keras model on the test set; keras_bytes / keras_gz its .h5 file
#   params, nonzeros parameters of the Keras model, and those not exactly zero
#   latency_b1_us    LiteRT, one image, one thread, median (µs); latency_b256_ms the same for a batch of 256
#   packed_bytes     a SIMULATED size: the weights packed at ``settings["bits"]`` bits (no file exists;
#                    entries with ``settings["simulated"] = True`` carry it instead of tflite_bytes/tflite_gz)
#   tflm_accuracy    accuracy run by TensorFlow Lite Micro (lesson 05), when it ran there
# Settings say how the entry was made (sparsity, bits, epochs, ...). Technique ``baseline`` holds the
# references: the lesson-00 baselines and the dense controls fine-tuned as long as a compressed model
# ("MLP, dense control +N epochs"), against which accuracy changes are stated.
METRIC_FIELDS = ("tflite_bytes", "tflite_gz", "tflite_accuracy", "keras_accuracy", "keras_bytes", "keras_gz", "params",
                 "nonzeros", "latency_b1_us", "latency_b256_ms", "packed_bytes", "tflm_accuracy")

_unsaved: list[dict] = []  # entries that could not be written (unwritable log)
LOCK_TIMEOUT = 30.0  # seconds a writer waits for another kernel's append (each takes milliseconds)


def log_path() -> Path:
    return config.cache_dir() / LOG_NAME


def _clean(value):
    """JSON has no NaN/inf: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _clean(value.tolist())
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return str(value)  # paths, enums ...: their text


def record(
    technique: str,
    name: str,
    metrics: dict,
    settings: dict | None = None,
    *,
    lesson: str = "",
    key: str | None = None,
    data=None,
    path: Path | None = None,
    artifact: bytes | None = None,
) -> dict:
    """Append one experiment to the log and return the entry.

    ``metrics`` is usually ``Measurement.as_dict()``; ``settings`` the recipe (sparsity, bits ...).
    ``key`` (required) names a lesson step, e.g. ``"01/sweep/0.9"``, or a widget run with its
    settings; the newest entry of a key supersedes older ones, so a re-run never duplicates.
    Raises ``ValueError`` without a technique, a name or a key, and when a simulated entry
    (``settings["simulated"]``) claims a ``tflite_gz`` (gzipped file) it does not have.
    ``data`` (a ``helpers.data.Dataset``) stamps the data set and mode, so the board never
    mixes fast-mode points or the digits fallback with full Fashion-MNIST results.
    ``artifact`` (a .tflite flatbuffer) is kept next to the log, so the experiment can be
    exported later (``helpers.combining.export``); the entry records its path relative to the cache.
    """
    if not technique or not name:
        raise ValueError("record() needs a technique and a name for the experiment.")
    if not key:
        raise ValueError(
            f"record({technique!r}, {name!r}, ...) needs a key naming the step (e.g. key=\"01/sweep/0.9\"): "
            "a re-run then replaces its entry instead of adding a duplicate to the board."
        )
    if hasattr(metrics, "as_dict"):
        metrics = metrics.as_dict()
    if (settings or {}).get("simulated") and "tflite_gz" in metrics:
        raise ValueError(
            f"{name!r} is simulated (no .tflite exists): put its size in metrics['packed_bytes'], not in "
            "'tflite_gz', which always means a gzipped .tflite file."
        )
    entry = _clean(
        {
            "id": uuid.uuid4().hex[:12],
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "lesson": lesson,
            "key": key,
            "technique": technique,
            "name": name,
            "settings": settings or {},
            "metrics": dict(metrics),
            "data": getattr(data, "name", None),
            "data_source": getattr(data, "source", None),
            "mode": getattr(data, "mode", config.current_mode().name),
        }
    )
    target = path or log_path()
    if artifact is not None:
        stored = _save_artifact(target.parent, entry["id"], artifact)
        if stored:
            entry["artifact"] = stored
    line = (json.dumps(entry, sort_keys=True, allow_nan=False) + "\n").encode()
    try:
        append_line(target, line)
    except OSError as exc:
        _unsaved.append(entry)
        warnings.warn(
            f"Could not write the results log {config.display_path(target)} ({exc}). This result "
            "is kept in memory for this session and still shows on the board. Make data/cache "
            "writable (or set WORKBOOK_CACHE) to keep results across sessions.",
            stacklevel=2,
        )
    return entry


def _save_artifact(root: Path, entry_id: str, blob: bytes) -> str | None:
    """Write ``blob`` to ``root/artifacts/<id>.tflite`` atomically; the relative path, or None."""
    relative = f"artifacts/{entry_id}.tflite"
    target = root / relative
    try:
        config.write_atomic(target, bytes(blob))
        return relative
    except OSError as exc:
        warnings.warn(f"Could not keep the model file for export ({exc}); the result itself is logged.", stacklevel=3)
        return None


def artifact_path(entry: dict, log: Path | None = None) -> Path | None:
    """Where an entry's saved .tflite is, if it has one and the file still exists."""
    relative = entry.get("artifact")
    if not isinstance(relative, str):
        return None
    path = (log or log_path()).parent / relative
    return path if path.is_file() else None


def _lock(path: Path) -> filelock.FileLock:
    """The cross-process lock guarding ``path`` (a ``.lock`` file beside it; the operating system
    releases it when a process dies, so a crashed kernel never leaves the log locked)."""
    return filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)


def append_line(path: Path, line: bytes) -> None:
    """Append ``line`` atomically with respect to other writers using this function.

    Raises ``OSError`` when the file cannot be written or the lock is not had within
    ``LOCK_TIMEOUT`` seconds (``filelock.Timeout`` is a ``TimeoutError``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        _append_locked(path, line)


def _append_locked(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line  # the last line was cut off: do not glue onto it
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


class Log(list):
    """The entries read from the log, plus which lines were damaged and skipped."""

    def __init__(self, entries, damaged_lines=(), path=None):
        super().__init__(entries)
        self.damaged_lines = list(damaged_lines)
        self.path = path

    def report(self) -> str:
        where = config.display_path(self.path) if self.path else "the results log"
        text = f"{len(self)} experiment{'' if len(self) == 1 else 's'} in {where}"
        if self.damaged_lines:
            shown = ", ".join(map(str, self.damaged_lines[:10]))
            more = "" if len(self.damaged_lines) <= 10 else f" and {len(self.damaged_lines) - 10} more"
            text += (
                f"; skipped {len(self.damaged_lines)} damaged line(s) (line {shown}{more}), left in the file untouched"
            )
        return text


def load(path: Path | None = None, *, data=None, mode: str | None = None, technique: str | None = None) -> Log:
    """Read the log. ``data`` keeps only entries of that data set and mode; ``technique``
    filters further. Damaged lines are skipped and reported with a warning, never fatal."""
    path = path or log_path()
    entries, damaged = [], []
    if path.is_file():
        for number, raw in enumerate(_read_lines(path), start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict) or any(k not in entry for k in REQUIRED):
                    raise ValueError("missing fields")
                if not isinstance(entry["metrics"], dict):
                    raise ValueError("metrics is not an object")
                if not all(isinstance(entry.get(k), (str, type(None))) for k in _TEXT_FIELDS):
                    raise ValueError("a text field holds something else")
            except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
                damaged.append(number)
                continue
            entries.append(entry)
    if path == log_path():
        entries += _unsaved
    entries = _newest_per_key(entries)
    if data is not None:
        entries = [e for e in entries if e.get("data") == data.name and e.get("mode") == data.mode]
    if mode is not None:
        entries = [e for e in entries if e.get("mode") == mode]
    if technique is not None:
        entries = [e for e in entries if e.get("technique") == technique]
    log = Log(entries, damaged, path)
    if damaged:
        warnings.warn(log.report(), stacklevel=2)
    return log


def _read_lines(path: Path) -> list[bytes]:
    """The log's lines, read under the writers' lock so no line is read half-written. Where the
    lock cannot be taken (a read-only folder, or a writer stuck past the timeout) the file is
    read as it is: a half-written last line is then reported as damaged, never fatal."""
    try:
        with _lock(path):
            data = path.read_bytes()
    except OSError:
        data = path.read_bytes()
    return io.BytesIO(data).readlines()  # split at b"\n" only, as iterating the file does


def _newest_per_key(entries: list[dict]) -> list[dict]:
    """Drop entries superseded by a later entry with the same key (and data set and mode)."""
    last = {}
    for i, e in enumerate(entries):
        if e.get("key"):
            last[(e["key"], e.get("data"), e.get("mode"))] = i
    return [e for i, e in enumerate(entries) if not e.get("key") or last[(e["key"], e.get("data"), e.get("mode"))] == i]


def pareto_front(entries, size_key: str = "tflite_gz", acc_key: str = "tflite_accuracy") -> list[dict]:
    """Entries no other entry beats on both size (smaller) and accuracy (higher), by size.

    Entries lacking either metric are ignored. Of exact ties (same size and accuracy) the
    first logged is kept.
    """
    usable = [
        e
        for e in entries
        if isinstance(e.get("metrics", {}).get(size_key), (int, float))
        and isinstance(e["metrics"].get(acc_key), (int, float))
    ]
    usable.sort(key=lambda e: (e["metrics"][size_key], -e["metrics"][acc_key]))
    front, best = [], -math.inf
    for e in usable:
        if e["metrics"][acc_key] > best:
            front.append(e)
            best = e["metrics"][acc_key]
    return front
