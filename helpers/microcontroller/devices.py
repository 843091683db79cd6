"""Lesson 05: which models fit a microcontroller device's flash and RAM.

``Device`` / ``DEVICES`` / ``parse_device``: a device's budget (presets, or two sizes typed by the
reader); ``footprint_rows`` / ``best_that_fits``: every model against it, counting the firmware's runtime
(helpers/footprint.py); ``log_models`` / ``reference_models``: the int8 models of the results log
and of lesson 05's full-mode reference, with the tensor arena each needs (helpers/tflm.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import results
from ..combining import export
from . import footprint, lut, tflm


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    flash: int
    ram: int
    example: str = ""
    source: str = ""
    #: what the firmware needs besides the model and its arena ("fits" counts it); footprint.NO_RUNTIME: model only
    runtime: footprint.Runtime = footprint.Runtime()


DEVICES = {
    "Cortex-M0+ · 256 KB flash / 32 KB RAM": Device(
        "Cortex-M0+ · 256 KB flash / 32 KB RAM", 256 * tflm.KIB, 32 * tflm.KIB,
        "Microchip SAMD21G18 (Arduino Zero, MKR devices)",
        "SAMD21 family datasheet: 256 KB flash, 32 KB SRAM for the G18 part"),
    "Cortex-M4F · 1 MB flash / 256 KB RAM": Device(
        "Cortex-M4F · 1 MB flash / 256 KB RAM", 1024 * tflm.KIB, 256 * tflm.KIB,
        "Nordic nRF52840 (Arduino Nano 33 BLE Sense)",
        "nRF52840 product specification: 1 MB flash, 256 KB RAM"),
    "ESP32 · 4 MB flash / 520 KB RAM": Device(
        "ESP32 · 4 MB flash / 520 KB RAM", 4 * 1024 * tflm.KIB, 520 * tflm.KIB,
        "Espressif ESP32-WROOM-32 module",
        "ESP32 datasheet: 520 KB on-chip SRAM; the WROOM-32 module carries 4 MB of SPI flash"),
}
SMALLEST_DEVICE = min(DEVICES.values(), key=lambda b: (b.flash, b.ram))


def parse_device(flash, ram, name: str = "custom device", runtime: footprint.Runtime | None = None) -> Device:
    """A Device from two sizes (bytes, or text like '256 KiB'); nonsense raises tflm.MicroError saying which.
    ``runtime``: the firmware allowance counted by "fits" (default ``footprint.Runtime()``)."""
    sizes = {}
    for what, value in (("flash", flash), ("RAM", ram)):
        try:
            sizes[what] = export.parse_budget(value)
        except export.ExportError as exc:
            raise tflm.MicroError(f"{what} budget: {exc}") from None
        if sizes[what] < tflm.KIB:
            raise tflm.MicroError(f"{what} budget: {sizes[what]} B is below 1 KiB - no TFLM model fits that; check the unit.")
    return Device(name, sizes["flash"], sizes["RAM"], runtime=footprint.Runtime() if runtime is None else runtime)


def device_table() -> str:
    lines = ["| device | flash | RAM | example part | where the figures come from |", "|---|---|---|---|---|"]
    for b in DEVICES.values():
        lines.append(f"| {b.name.split(' · ')[0]} | {b.flash // tflm.KIB:,} KiB | {b.ram // tflm.KIB:,} KiB | {b.example} | {b.source} |")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class FootprintRow:
    name: str
    accuracy: float
    flash: int
    arena: int
    fits_flash: bool
    fits_ram: bool
    id: str | None = None  # the results-log entry, when the model came from there
    reference: bool = False  # a full-mode result from data/precomputed/, not a model made here
    runtime_flash: int = 0  # the device's runtime allowance counted against flash (footprint.Runtime.flash)
    runtime_ram: int = 0  # RAM besides the arena, plus the arena declaration's alignment slack

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram


DEFAULT_OP_TYPES = 3  # operator kernels assumed linked in when a model's own count is unknown


def footprint_rows(models: list[dict], device: Device) -> list[FootprintRow]:
    """Each model (dicts with name, accuracy, flash, arena, optionally op_types) against ``device``,
    most accurate first. "Fits" is the honest fit (``footprint``): model + the device's runtime
    allowance for flash; the arena as declared (aligned, with slack) + runtime RAM for RAM."""
    rows = []
    for m in models:
        flash, arena = int(m["flash"]), int(m["arena"])
        rt = device.runtime
        extra_flash = rt.flash(int(m.get("op_types") or DEFAULT_OP_TYPES))
        extra_ram = rt.ram + (footprint.arena_declaration(arena) - arena if rt != footprint.NO_RUNTIME else 0)
        rows.append(FootprintRow(m["name"], float(m["accuracy"]), flash, arena, flash + extra_flash <= device.flash,
                           arena + extra_ram <= device.ram, m.get("id"), bool(m.get("reference")), extra_flash, extra_ram))
    return sorted(rows, key=lambda r: (-r.accuracy, r.flash))


def best_that_fits(models: list[dict], device: Device, *, reference: bool = False) -> FootprintRow | None:
    """The most accurate model that fits both flash and RAM (smaller flash breaks ties), or None.
    Only the reader's own models count, unless ``reference`` asks for the precomputed ones."""
    fitting = [r for r in footprint_rows(models, device) if r.fits and r.reference == reference]
    return fitting[0] if fitting else None


# ----------------------------------------------------------------------------- the results log's int8 models


def reference_models(ref=None) -> list[dict]:
    """Lesson 05's full-mode footprints from data/precomputed/05_microcontroller.json (``ref``:
    an already loaded ``precomputed.Reference``), as fit-to-device models marked ``reference``."""
    from .. import precomputed
    ref = precomputed.load("05") if ref is None else ref
    found = []
    for e in ref.entries if ref is not None else []:
        m = e.get("metrics", {})
        if isinstance(m.get("tflm_arena"), int) and isinstance(m.get("tflite_bytes"), int):
            found.append({"name": e["name"], "accuracy": _device_accuracy(m), "flash": m["tflite_bytes"],
                          "arena": m["tflm_arena"], "reference": True, "id": e.get("id"), "op_types": m.get("op_types")})
    return found


def _device_accuracy(metrics: dict) -> float:
    """The accuracy on the device: TFLM's where it was measured (``tflm_accuracy``), else LiteRT's
    (``tflite_accuracy``; TFLM agrees with it on int8 models within 0.1 pp, lesson 05 section 3)."""
    value = metrics.get("tflm_accuracy")
    return float(value if isinstance(value, (int, float)) else metrics.get("tflite_accuracy") or 0.0)


def artifact_bytes(row: FootprintRow, log: Path | None = None) -> bytes:
    """The .tflite of a fit row that came from the results log (tflm.MicroError if it is gone)."""
    entry = next((e for e in results.load(log) if e.get("id") == row.id), None)
    path = results.artifact_path(entry, log) if entry else None
    if path is None:
        raise tflm.MicroError(f"The model file of {row.name!r} is no longer in the cache; re-run the lesson that made it.")
    return path.read_bytes()


def log_models(data=None, log: Path | None = None) -> list[dict]:
    """Every experiment in the results log (this data set and mode) whose kept .tflite is full-integer
    int8, as {name, accuracy, flash, arena, lesson, key}. The arena is the one logged with the entry
    (lesson 05 logs ``tflm_arena``), else searched once per model and cached; where TFLM is missing,
    only entries that carry a logged arena can be placed."""
    found = []
    for entry in results.load(log, data=data):
        path = results.artifact_path(entry, log)
        if path is None or not path.exists():
            continue
        blob = path.read_bytes()
        metrics = entry.get("metrics", {})
        logged_arena = metrics.get("tflm_arena")
        try:
            if tflm.input_type(blob) != "INT8" and not lut.weight_tensors(blob):
                continue  # a float model: devices run int8
            if isinstance(logged_arena, int) and not isinstance(logged_arena, bool):
                arena = logged_arena
            elif tflm.available():
                arena = tflm.smallest_arena(blob).bytes
            else:
                continue  # no TFLM here to find its arena
        except Exception:  # noqa: BLE001 - a model TFLM cannot run (or a damaged file) is not a candidate
            continue
        found.append({
            "name": entry.get("name", "?"), "accuracy": _device_accuracy(metrics), "flash": len(blob),
            "arena": arena, "lesson": entry.get("lesson", ""), "key": entry.get("key"), "id": entry.get("id"),
            "op_types": len(footprint.op_types(blob)),
        })
    return found
