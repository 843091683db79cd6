"""Export the best model under a size budget: the .tflite, a model card, and a re-measurement.

* ``parse_budget``: "25 KB", "0.5 MiB", 30000 -> bytes, with a clear message for nonsense.
* ``best_under_budget``: of the logged experiments that kept their .tflite (``results.record(...,
  artifact=...)``), the most accurate one whose size fits the budget - always a point on the
  Pareto frontier.
* ``export``: copy that .tflite out, write a model card (recipe, accuracy, size raw/gz, latency,
  data, date), reload the written file in LiteRT and measure it again.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import re
from pathlib import Path

from .. import config, measure, results
from ..quantization import quantize

UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


class ExportError(config.WorkbookError, ValueError):
    """A budget or export request that cannot be met; the message says what to do."""


def parse_budget(value) -> int:
    """Bytes from 30000, 30_000.0, "30000", "25 KB", "24.4 KiB", "1 MB"; errors say why."""
    if isinstance(value, bool) or value is None:
        raise ExportError(f"A size budget is a number of bytes or a size like '25 KB', not {value!r}.")
    if isinstance(value, (int, float)):
        number, unit = float(value), "b"
    else:
        match = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not match:
            raise ExportError(f"Could not read {value!r} as a size; write e.g. 25000, '25 KB' or '24.4 KiB'.")
        number, unit = float(match.group(1)), (match.group(2) or "b").lower()
        if unit not in UNITS:
            raise ExportError(f"Unknown unit {match.group(2)!r} in {value!r}; use B, KB, KiB, MB, MiB, GB or GiB.")
    size = number * UNITS[unit]
    if not math.isfinite(size) or size <= 0:
        raise ExportError(f"A size budget must be above zero bytes (got {value!r}).")
    if size > 10 * 1024**3:
        raise ExportError(f"{value!r} is over 10 GiB - no model here comes near it; check the unit.")
    return int(size)


def exportable(entries, size_key: str = "tflite_gz") -> list[dict]:
    """Entries that kept their .tflite file and have the size and accuracy to compare."""
    return [
        e
        for e in entries
        if results.artifact_path(e) is not None
        and isinstance(e.get("metrics", {}).get(size_key), (int, float))
        and isinstance(e["metrics"].get("tflite_accuracy"), (int, float))
    ]


def best_under_budget(entries, budget, size_key: str = "tflite_gz") -> dict:
    """The most accurate exportable entry with ``size_key`` <= budget (ties: the smaller)."""
    limit = parse_budget(budget)
    candidates = exportable(entries, size_key)
    if not candidates:
        raise ExportError(
            "No logged experiment kept its .tflite file, so there is nothing to export yet: run the "
            "lesson's pipeline cells (they record their models with artifact=...)."
        )
    fitting = [e for e in candidates if e["metrics"][size_key] <= limit]
    if not fitting:
        smallest = min(candidates, key=lambda e: e["metrics"][size_key])
        raise ExportError(
            f"Nothing fits {limit:,} B ({size_key}); the smallest exportable model is "
            f"{smallest['name']!r} at {smallest['metrics'][size_key]:,} B. Raise the budget."
        )
    front = results.pareto_front(fitting, size_key=size_key)
    return max(front, key=lambda e: (e["metrics"]["tflite_accuracy"], -e["metrics"][size_key]))


@dataclasses.dataclass
class Exported:
    model_path: Path
    card_path: Path
    card: dict
    remeasured_accuracy: float
    remeasured_latency_us: float

    def summary(self) -> str:
        c = self.card
        return (
            f"{config.display_path(self.model_path)}: {c['bytes']:,} B ({c['bytes_gzipped']:,} B gzipped), "
            f"accuracy re-measured {self.remeasured_accuracy:.2%} (logged {c['accuracy']:.2%}), "
            f"{self.remeasured_latency_us:.1f} µs per image"
        )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "model"


def export(entry: dict, data, directory: Path | None = None, model_name: str | None = None) -> Exported:
    """Write ``entry``'s .tflite and a model card (JSON + Markdown) to ``directory`` (default
    ``data/cache/exports``), reload the written file in LiteRT and re-measure it on ``data``.
    ``model_name`` (the source model's name) leads the file names and is named in the card, so the
    exports of different models do not overwrite each other; the card also lists the data's classes."""
    source = results.artifact_path(entry)
    if source is None:
        raise ExportError(f"{entry.get('name')!r} has no saved .tflite to export; pick an entry with one.")
    blob = source.read_bytes()
    directory = Path(directory) if directory else config.cache_dir() / "exports"
    directory.mkdir(parents=True, exist_ok=True)
    stem = _slug(f"{model_name} {entry['name']}" if model_name else entry["name"])
    model_path = directory / f"{stem}.tflite"
    config.write_atomic(model_path, blob)

    written = model_path.read_bytes()  # measure what is on disk, not what is in memory
    try:
        accuracy = measure.tflite_accuracy(written, data.x_test, data.y_test)
        latency = measure.tflite_latency(written, data.x_test, batch=1, runs=200) * 1e6
    except (ValueError, RuntimeError) as exc:
        raise ExportError(
            f"LiteRT cannot run {entry['name']!r} to re-measure it ({str(exc).split('Node number')[0].strip()}). "
            "A TFLM-only model (LUT-compressed: DECODE operators) is exported for a board with "
            "helpers.microcontroller.c_export.write_c_files (lesson 05); pick another model here."
        ) from None
    m = entry["metrics"]
    # Re-measured in LiteRT: compare with the entry's LiteRT accuracy (tflite_accuracy; entries logged by lesson 05
    # before issue 22 held TFLM's there and LiteRT's in litert_accuracy).
    logged = m["litert_accuracy"] if isinstance(m.get("litert_accuracy"), float) else m["tflite_accuracy"]
    card = {
        "name": f"{model_name}: {entry['name']}" if model_name else entry["name"],
        **({"model": model_name} if model_name else {}),
        "classes": list(getattr(data, "class_names", ()) or ()),
        "file": model_path.name,
        "sha256": hashlib.sha256(written).hexdigest(),
        "recipe": {"technique": entry.get("technique"), "lesson": entry.get("lesson"), **(entry.get("settings") or {})},
        "accuracy": logged,
        "accuracy_remeasured": accuracy,
        "bytes": len(written),
        "bytes_gzipped": measure.gzipped_size(written),
        "latency_b1_us": round(latency, 2),
        "io_types": list(quantize.io_types(written)),
        "data": f"{entry.get('data')} ({entry.get('mode')} mode, test set of {len(data.y_test):,} images)",
        "logged": entry.get("time"),
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    card_path = directory / f"{stem}.json"
    config.write_atomic(card_path, (json.dumps(card, indent=1, default=str) + "\n").encode())
    config.write_atomic(directory / f"{stem}.md", model_card_markdown(card).encode())
    return Exported(model_path, card_path, card, accuracy, latency)


def model_card_markdown(card: dict) -> str:
    recipe = "\n".join(f"| {k} | {v} |" for k, v in card["recipe"].items())
    return (
        f"# {card['name']}\n\n"
        f"| | |\n|---|---|\n| file | `{card['file']}` ({card['bytes']:,} B, {card['bytes_gzipped']:,} B gzipped) |\n"
        f"| accuracy | {card['accuracy']:.2%} logged, {card['accuracy_remeasured']:.2%} re-measured from the file |\n"
        f"| latency | {card['latency_b1_us']} µs per image (LiteRT, 1 thread, median) |\n"
        f"| input / output | {' / '.join(card['io_types'])} |\n| data | {card['data']} |\n"
        + (f"| model | {card['model']} |\n| classes | {', '.join(card['classes'])} |\n" if card.get("model") else "")
        + f"| logged / exported | {card['logged']} / {card['exported']} |\n| sha256 | `{card['sha256']}` |\n\n"
        f"## Recipe\n\n| setting | value |\n|---|---|\n{recipe}\n"
    )


def lessons_up_to(entries, last: str = "04"):
    """The entries logged by lessons up to ``last`` (``"00"`` ... ``"04"``, ``"01b"`` and ``"02b"`` included):
    what a student who ran the lessons in order has on the board at this lesson. Lesson 04's committed
    frontier, export and exercise use it, so their outputs never depend on entries a later lesson
    (05, 06) left in the log. Keeps the log's damaged-line report."""
    from .. import results
    kept = [e for e in entries if str(e.get("lesson", "")) <= last]
    return results.Log(kept, getattr(entries, "damaged_lines", ()), getattr(entries, "path", None))
