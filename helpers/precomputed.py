"""Full-mode reference results, committed in ``data/precomputed/``: what the explorers show at once.

A fresh clone runs the lessons in fast mode, so the reader's own board holds only fast-mode
points. Each lesson's full-mode sweep (all of Fashion-MNIST, full training, as the committed
notebooks were executed) is kept here as one small JSON file per lesson, written by
``make precompute`` (``tools/precompute.py``) and committed:

    {"format": 1, "lesson": "01", "notebook": "notebooks/01_pruning.ipynb",
     "provenance": {"mode": "full", "data": "fashion_mnist", "data_source": ..., "created": ...,
                    "versions": {...}, "produced_by": ...},
     "entries": [results-log entries of the lesson, without ids, artifact paths or times],
     "sweeps": {what an explorer needs beyond the log, e.g. lesson 03's T x alpha grids}}

``load(lesson)`` never raises: a missing file gives ``None`` quietly; a damaged one a
``PrecomputedWarning`` saying how to restore it, and ``None``. ``save`` refuses fast-mode and
digits-fallback results: the references are full-mode Fashion-MNIST only.

The second half keeps sweeps that are not results-log entries (lesson 03's grids) in
``data/cache/sweeps/`` when a lesson computes them, so ``make precompute`` can reuse them.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import config

FORMAT = 1
DIR = config.PROJECT_ROOT / "data" / "precomputed"
LESSONS = {
    "00": "00_baseline",
    "01": "01_pruning",
    "01b": "01b_structured_pruning",
    "02": "02_quantization",
    "02b": "02b_low_bit",
    "03": "03_distillation",
    "04": "04_combined",
    "05": "05_microcontroller",
}
MODE = "full"
DATA = "fashion_mnist"
MAX_BYTES = 100_000
LABEL = "full mode, precomputed"
PACKAGES = ("tensorflow", "tf_keras", "tensorflow-model-optimization", "ai-edge-litert", "numpy")
_DROPPED = ("id", "artifact", "time", "data_source")  # per machine or per run: provenance says it once
FIX = "Run `make precompute` to rebuild it, or `git checkout data/precomputed` to restore the committed copy."


class PrecomputeError(config.WorkbookError, ValueError):
    """Results that must not become a committed reference (fast mode, digits, too big ...)."""


class PrecomputedWarning(UserWarning):
    """A file in data/precomputed/ could not be used; the explorers work on without it."""


def directory() -> Path:
    """``data/precomputed/`` (``WORKBOOK_PRECOMPUTED`` overrides it, e.g. in tests)."""
    return Path(os.environ.get("WORKBOOK_PRECOMPUTED") or DIR)


def path(lesson: str) -> Path:
    if lesson not in LESSONS:
        raise ValueError(f"Unknown lesson {lesson!r}; choose one of {sorted(LESSONS)}.")
    return directory() / f"{LESSONS[lesson]}.json"


# ----------------------------------------------------------------------------- reading


class Reference(dict):
    """One lesson's precomputed file (the parsed JSON), with look-ups for the explorers."""

    @property
    def lesson(self) -> str:
        return self["lesson"]

    @property
    def provenance(self) -> dict:
        return self["provenance"]

    @property
    def entries(self) -> list[dict]:
        """The lesson's full-mode entries, ready for the board: each marked ``reference`` and
        given an id (``ref/<key>``) that cannot clash with a logged experiment's."""
        return self["entries"]

    @property
    def sweeps(self) -> dict:
        return self["sweeps"]

    def entry(self, key: str) -> dict | None:
        return next((e for e in self.entries if e.get("key") == key), None)

    def nearest(self, prefix: str, setting: str, value: float) -> dict | None:
        """Of the entries whose key starts with ``prefix``, the one whose ``settings[setting]``
        is closest to ``value`` (ties: the smaller setting)."""
        found = [
            e
            for e in self.entries
            if str(e.get("key", "")).startswith(prefix) and isinstance(e["settings"].get(setting), (int, float))
        ]
        if not found:
            return None
        return min(found, key=lambda e: (abs(e["settings"][setting] - value), e["settings"][setting]))

    def bit_width(self, bits: int, per_channel: bool, symmetric: bool) -> dict | None:
        """Lesson 02's whole-model fake-quantization row for this setting, if it was swept."""
        sweep = self.sweeps.get("bit_width") or {}
        return next(
            (
                r
                for r in sweep.get("rows", [])
                if r.get("bits") == bits and r.get("per_channel") == per_channel and r.get("symmetric") == symmetric
            ),
            None,
        )

    def grid(self, labels_per_class: int | None) -> dict | None:
        """Lesson 03's validation grid (``Grid.as_dict()``) for that many labels per class."""
        return (self.sweeps.get("grids") or {}).get(grid_name(labels_per_class))

    def describe(self) -> str:
        """Where the numbers come from, in one line: data, file, date."""
        created = self.provenance.get("created", "?")
        return f"Fashion-MNIST, all data, full training · {config.display_path(path(self.lesson))} · {created}"


def grid_name(labels_per_class: int | None) -> str:
    return "all" if labels_per_class is None else str(int(labels_per_class))


def problems(payload, lesson: str | None = None) -> list[str]:
    """What keeps ``payload`` from being a valid reference file (empty list: none)."""
    if not isinstance(payload, dict):
        return ["it is not a JSON object"]
    found = []
    if payload.get("format") != FORMAT:
        found.append(f"format {payload.get('format')!r}, expected {FORMAT}")
    if lesson is not None and payload.get("lesson") != lesson:
        found.append(f"it is for lesson {payload.get('lesson')!r}, not {lesson!r}")
    prov = payload.get("provenance")
    if not isinstance(prov, dict):
        found.append("no provenance")
    else:
        if prov.get("mode") != MODE:
            found.append(f"mode {prov.get('mode')!r} (only full-mode results are references)")
        if prov.get("data") != DATA:
            found.append(f"data {prov.get('data')!r} (only Fashion-MNIST results are references)")
    entries = payload.get("entries")
    if not isinstance(entries, list):
        found.append("no list of entries")
    else:
        for i, e in enumerate(entries):
            if not (
                isinstance(e, dict)
                and isinstance(e.get("name"), str)
                and isinstance(e.get("technique"), str)
                and isinstance(e.get("metrics"), dict)
                and isinstance(e.get("settings"), dict)
            ):
                found.append(f"entry {i} lacks a name, technique, settings or metrics")
                break
            if e.get("mode") != MODE or e.get("data") != DATA:
                found.append(f"entry {e.get('name')!r} is {e.get('mode')} mode on {e.get('data')}, not full on {DATA}")
                break
    if not isinstance(payload.get("sweeps"), dict):
        found.append("no sweeps object")
    return found


def load(lesson: str) -> Reference | None:
    """The lesson's reference, or None: quietly when there is no file, with a
    ``PrecomputedWarning`` (and the fix) when the file is damaged or unreadable."""
    where = path(lesson)
    if not where.is_file():
        return None
    try:
        payload = json.loads(where.read_bytes())
        found = problems(payload, lesson)
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not UTF-8, not JSON
        found = [f"{type(exc).__name__}: {exc}"]
    if found:
        warnings.warn(
            f"{config.display_path(where)} is damaged or unreadable ({'; '.join(found)}), so the explorer "
            f"shows no full-mode reference. {FIX}",
            PrecomputedWarning,
            stacklevel=2,
        )
        return None
    for e in payload["entries"]:
        e["reference"] = True
        e["id"] = f"ref/{e.get('key') or e['name']}"
    return Reference(payload)


def load_all(lessons=tuple(LESSONS)) -> list[Reference]:
    """Every lesson's reference that exists and is sound (damaged ones warn, see ``load``)."""
    return [ref for ref in (load(lesson) for lesson in lessons) if ref is not None]


# ----------------------------------------------------------------------------- writing (tools/precompute.py)


def _round(value):
    """Floats to 6 significant digits (accuracies are 4 decimals already; latencies, ratios ...)."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def strip(entry: dict) -> dict:
    """A results-log entry without what belongs to one machine or run (id, artifact path, time,
    data source: the provenance records those once)."""
    return _round({k: v for k, v in entry.items() if k not in _DROPPED and k != "reference"})


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def refuse_unless_full_fashion(items, what: str) -> None:
    """Raise ``PrecomputeError`` unless every item (entries or datasets: ``mode``/``data`` keys
    or ``mode``/``name`` attributes) is full mode on Fashion-MNIST."""
    for item in items:
        if isinstance(item, dict):
            mode, data = item.get("mode"), item.get("data")
        else:
            mode, data = getattr(item, "mode", None), getattr(item, "name", None)
        if mode != MODE:
            raise PrecomputeError(
                f"Refusing to write a precomputed reference from {mode}-mode results ({what}): the committed "
                "references are full mode only. Run `make precompute` without WORKBOOK_FAST (or WORKBOOK_FAST=0)."
            )
        if data != DATA:
            raise PrecomputeError(
                f"Refusing to write a precomputed reference from {data!r} results ({what}): the references are "
                "Fashion-MNIST only, not the digits fallback. Install dataset-fashion-mnist or go online "
                "(`make data`), then run `make precompute` again."
            )


def build(
    lesson: str, entries: list[dict], sweeps: dict | None = None, *, produced_by: str, data_source: str = ""
) -> dict:
    """The payload of a lesson's file from its full-mode results-log ``entries`` and ``sweeps``."""
    if lesson not in LESSONS:
        raise ValueError(f"Unknown lesson {lesson!r}; choose one of {sorted(LESSONS)}.")
    if not entries:
        raise PrecomputeError(f"No full-mode results for lesson {lesson}: nothing to precompute.")
    refuse_unless_full_fashion(entries, f"lesson {lesson}'s results log entries")
    times = sorted(e["time"] for e in entries if isinstance(e.get("time"), str))
    sources = sorted({e.get("data_source") for e in entries if e.get("data_source")})
    return {
        "format": FORMAT,
        "lesson": lesson,
        "notebook": f"notebooks/{LESSONS[lesson]}.ipynb",
        "provenance": {
            "mode": MODE,
            "data": DATA,
            "data_source": data_source or ", ".join(sources),
            "created": datetime.date.today().isoformat(),
            "results_logged": [times[0], times[-1]] if times else [],
            "versions": versions(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (latencies are this machine's)",
            "produced_by": produced_by,
        },
        "entries": [strip(e) for e in entries],
        "sweeps": _round(sweeps or {}),
    }


def encode(payload: dict) -> bytes:
    return (json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()


def save(lesson: str, payload: dict) -> Path:
    """Check ``payload`` (full mode, Fashion-MNIST, well formed, under ``MAX_BYTES``) and write it
    atomically to ``data/precomputed/<lesson>.json``. Raises ``PrecomputeError`` otherwise."""
    prov = payload.get("provenance") if isinstance(payload, dict) else None
    if isinstance(prov, dict):
        refuse_unless_full_fashion([prov], f"the provenance of lesson {lesson}")
    if isinstance(payload, dict) and isinstance(payload.get("entries"), list):
        refuse_unless_full_fashion([e for e in payload["entries"] if isinstance(e, dict)], f"lesson {lesson}'s entries")
    found = problems(payload, lesson)
    if found:
        raise PrecomputeError(f"Not a valid reference for lesson {lesson}: {'; '.join(found)}.")
    blob = encode(payload)
    if len(blob) > MAX_BYTES:
        raise PrecomputeError(
            f"The reference for lesson {lesson} would be {len(blob):,} bytes (limit {MAX_BYTES:,}): keep it small."
        )
    target = path(lesson)
    config.write_atomic(target, blob)
    return target


# ----------------------------------------------------------------------------- sweeps kept in data/cache


def _sweep_path(name: str, data) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return (
        config.cache_dir() / "sweeps" / f"{safe}-{getattr(data, 'name', 'data')}-{getattr(data, 'mode', 'mode')}.json"
    )


def keep_sweep(name: str, value: dict, data) -> Path | None:
    """Remember a sweep a lesson computed (e.g. a distillation grid) in ``data/cache/sweeps/``,
    stamped with the data set and mode; the newest of a name wins. Never raises."""
    target = _sweep_path(name, data)
    record = {
        "name": name,
        "data": getattr(data, "name", None),
        "mode": getattr(data, "mode", None),
        "data_source": getattr(data, "source", None),
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "value": value,
    }
    try:
        config.write_atomic(target, json.dumps(record, allow_nan=False, default=str).encode())
        return target
    except (OSError, ValueError):
        return None  # a cache: the lesson goes on without it


def kept_sweep(name: str, data) -> dict | None:
    """The record ``keep_sweep`` wrote for ``name`` on ``data`` (with ``value``), or None."""
    try:
        record = json.loads(_sweep_path(name, data).read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("value"), dict) else None
