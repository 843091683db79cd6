"""Lesson 05: a model run on TFLM with its smallest arena - predictions, accuracy and the measured footprint.

* ``tflm_predict``: class scores from TFLM, one image at a time as on a device.
* ``footprint`` / ``Footprint``: flash (the raw ``.tflite``), the smallest arena (``tflm.smallest_arena``),
  TFLM's accuracy with exactly that arena against LiteRT's, host time per inference.
* ``reference_footprint`` / ``reference_metrics``: the same from lesson 05's committed full-mode run, where
  TFLM is missing (macOS, Windows), marked †.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import litert_run, measure
from .tflm import NO_TFLM_LABEL, MicroError, available, interpreter, smallest_arena


def _as_litert_detail(detail: dict) -> dict:
    """TFLM's tensor details in LiteRT's shape, so ``measure``'s (de)quantization serves both runtimes."""
    q = detail["quantization_parameters"]
    if len(q["scales"]) == 0:  # a float tensor: LiteRT reports (0.0, 0)
        return {"dtype": detail["dtype"], "quantization": (0.0, 0)}
    return {"dtype": detail["dtype"], "quantization": (float(q["scales"][0]), int(q["zero_points"][0]))}


def tflm_predict(model: bytes, x: np.ndarray, arena: int) -> np.ndarray:
    """Class scores of TFLM on every image of ``x``, one inference at a time as on a device
    (int8 inputs quantized and outputs dequantized with the model's own scale and zero point)."""
    interp = interpreter(model, arena)
    inp, out = interp.get_input_details(0), interp.get_output_details(0)
    shape = tuple(int(s) for s in inp["shape"])
    xq = measure._quantize_input(x, _as_litert_detail(inp))
    scores, stateful = [], litert_run.variable_tensors(model) > 0  # LSTM/SVDF state: reset per image, as in Keras
    for i in range(len(xq)):
        if stateful:
            interp.reset()
        interp.set_input(xq[i].reshape(shape), 0)
        interp.invoke()
        scores.append(np.array(interp.get_output(0)).reshape(-1))
    return measure._dequantize_output(np.stack(scores), _as_litert_detail(out))


@dataclasses.dataclass(frozen=True)
class Footprint:
    name: str
    flash: int  # bytes of the .tflite: what the firmware stores
    arena: int  # smallest tensor arena that allocated and ran
    recorded: int | None
    tflm_accuracy: float
    litert_accuracy: float | None  # None: LiteRT cannot run it (TFLM-only operators such as DECODE)
    us_per_inference: float  # TFLM on this host, one image at a time, Python loop included
    images: int
    reference: bool = False  # TFLM columns from data/precomputed/ (no TFLM here), not measured now
    reference_litert_accuracy: float | None = None  # LiteRT's accuracy in that same reference run

    @property
    def agreement_pp(self) -> float | None:
        """|TFLM - LiteRT| accuracy in percentage points, both from the same run (the reference's, if
        reference); None when LiteRT could not run the file, so nothing was compared."""
        litert = self.reference_litert_accuracy if self.reference else self.litert_accuracy
        return None if litert is None else abs(self.tflm_accuracy - litert) * 100

    @property
    def accuracy(self) -> float:
        """This model's accuracy as measured on this machine: TFLM's, or LiteRT's where TFLM is missing."""
        if self.reference and self.litert_accuracy is not None:
            return self.litert_accuracy
        return self.tflm_accuracy

    def log_metrics(self) -> dict:
        """A results-log entry's metrics, one meaning per field: ``tflite_accuracy`` LiteRT's (absent when LiteRT
        cannot run the file), ``tflm_accuracy`` TFLM's (the reference's when ``reference``), flash, arena, host time."""
        litert = {} if self.litert_accuracy is None else {"tflite_accuracy": self.litert_accuracy}
        return {"tflite_bytes": self.flash, "tflm_accuracy": self.tflm_accuracy, "tflm_arena": self.arena,
                "tflm_us": self.us_per_inference, **litert}

    def row(self) -> dict:
        mark = " †" if self.reference else ""
        return {
            "model": self.name,
            "flash B": f"{self.flash:,}",
            "arena B": f"{self.arena:,}{mark}",
            "TFLM acc": f"{self.tflm_accuracy:.2%}{mark}",
            "LiteRT acc": "not compared: LiteRT cannot run it (TFLM only)" if self.litert_accuracy is None else f"{self.litert_accuracy:.2%}",
            "µs/inference (host)": f"{self.us_per_inference:,.0f}{mark}",
        }


def reference_metrics(name: str, ref=None) -> dict:
    """The metrics lesson 05's committed full-mode run logged for the model called ``name``
    (``tflm_arena``, ``tflite_bytes``, ``tflm_accuracy``, ``tflite_accuracy`` = LiteRT's, ``tflm_us``; older
    references: TFLM's in ``tflite_accuracy``, LiteRT's in ``litert_accuracy``, both read).

    ``ref``: a loaded ``precomputed.Reference`` (default data/precomputed/05_microcontroller.json).
    Raises MicroError when it holds no TFLM measurement of that name.
    """
    from .. import precomputed
    ref = precomputed.load("05") if ref is None else ref
    entry = next((e for e in (ref.entries if ref is not None else []) if e.get("name") == name), None)
    metrics = entry.get("metrics", {}) if entry else {}
    if not isinstance(metrics.get("tflm_arena"), int):
        raise MicroError(f"No TFLM measurement of {name!r} in data/precomputed/05_microcontroller.json, and TFLM is "
                         "not installed here: measure it on Linux x86-64 (pip install tflite-micro), then make precompute.")
    return dict(metrics)


def reference_footprint(name: str, model: bytes | None, x: np.ndarray, y: np.ndarray, ref=None) -> Footprint:
    """``footprint`` without TFLM. Measured here: flash (``len(model)``; the reference's when ``model``
    is None) and LiteRT accuracy on ``x``/``y``. From lesson 05's committed full-mode run (see
    ``reference_metrics``), marked †: the arena (set by the graph, so it holds for this model too),
    TFLM's accuracy and host time. Raises MicroError when the reference lacks ``name``.
    """
    m = reference_metrics(name, ref)
    litert = None
    if model is not None:
        try:
            litert = float(measure.tflite_accuracy(model, x, y))
        except (ValueError, RuntimeError):
            litert = None
    flash = len(model) if model is not None else int(m["tflite_bytes"])
    new = "tflm_accuracy" in m  # else an older reference: TFLM's in tflite_accuracy, LiteRT's in litert_accuracy
    tflm_acc, ref_litert = (m["tflm_accuracy"], m.get("tflite_accuracy")) if new else (m.get("tflite_accuracy"), m.get("litert_accuracy"))
    return Footprint(name, flash, m["tflm_arena"], None, float(tflm_acc or 0.0), litert,
                     float(m.get("tflm_us") or 0.0), len(x), reference=True,
                     reference_litert_accuracy=None if ref_litert is None else float(ref_litert))


def footprint(name: str, model: bytes, x: np.ndarray, y: np.ndarray) -> Footprint:
    """Flash, smallest arena, and accuracy on ``x``/``y`` in TFLM (with exactly that arena) and in LiteRT.

    Where TFLM is missing (``available()`` is False) the TFLM columns come from the committed
    full-mode reference (``reference_footprint``); flash and LiteRT accuracy are still measured here.
    """
    if not available():
        return reference_footprint(name, model, x, y)
    arena = smallest_arena(model)
    start = time.perf_counter()
    tflm = np.argmax(tflm_predict(model, x, arena.bytes), axis=1)
    per_image = (time.perf_counter() - start) / len(x) * 1e6
    try:
        litert = measure.tflite_accuracy(model, x, y)
    except (ValueError, RuntimeError):
        litert = None  # e.g. a LUT-compressed model: LiteRT has no DECODE operator
    return Footprint(name, len(model), arena.bytes, arena.recorded, float(np.mean(tflm == y)), None if litert is None else float(litert),
                     per_image, len(x))


def footprint_table(rows: list[Footprint]) -> str:
    """A Markdown table of footprints (for ``IPython.display.Markdown``)."""
    if not rows:
        return "_no models_"
    keys = list(rows[0].row())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(r.row()[k] for k in keys) + " |" for r in rows]
    if any(r.reference for r in rows):
        lines.append(f"\n† {NO_TFLM_LABEL} (full mode, data/precomputed/05_microcontroller.json).")
    return "\n".join(lines)
