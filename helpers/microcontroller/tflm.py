"""Lesson 05: the models on TensorFlow Lite for Microcontrollers (TFLM), as a device would run them.

``tflite_micro`` is TFLM's interpreter built for the host, so what is measured here is what the
firmware needs: the model's bytes as stored (flash - nothing is gzipped on a device) and the
tensor arena (RAM). Pieces:

* ``smallest_arena``: the smallest arena that allocates and runs, found by search in a separate
  process (TFLM can crash the process when an arena is far too small), cached per model.
* ``tflm_predict`` / ``footprint``: TFLM accuracy with exactly that arena, against LiteRT's.

Beside it: helpers/microcontroller/lut.py (TFLM's look-up-table compression), helpers/microcontroller/devices.py
(which models fit a device's budget) and helpers/microcontroller/c_export.py (the model as a C++ array).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .. import config, litert_run, measure
from . import tflm_ops

_PROBE = Path(__file__).with_name("tflm_probe.py")
ALIGN = 16
PROBE_TIMEOUT_S = 60
KIB = 1024
ARENA_FLOOR = 1024  # the search never probes below 1 KiB
ARENA_CEILING = 64 * 1024 * 1024


class MicroError(config.WorkbookError, ValueError):
    """A budget, a compression request or a TFLM run that cannot work; the message says what to do."""


# ----------------------------------------------------------------------------- is TFLM here?

#: What lesson 05 prints beside every TFLM figure it could not measure on this machine.
NO_TFLM_LABEL = "measured on Linux with TFLM; this machine has no TFLM build"
_available: bool | None = None
_missing_reason = ""


def available() -> bool:
    """Whether TFLM's host interpreter (the ``tflite-micro`` package) can be imported here.

    ``tflite-micro`` publishes wheels for Linux x86-64 only (requirements.txt installs it there
    alone); on macOS and Windows lesson 05 shows the committed full-mode TFLM measurements
    instead (``reference_footprint``), labelled ``NO_TFLM_LABEL``. Checked once per process.
    """
    global _available, _missing_reason
    if _available is None:
        try:
            from tflite_micro import runtime  # noqa: F401 - the import is the check

            _available = True
        except Exception as exc:  # noqa: BLE001 - ImportError, or a broken build: either way no TFLM
            _available, _missing_reason = False, f"{type(exc).__name__}: {exc}"
    return _available


def missing_note() -> str:
    """One line saying that TFLM is missing, why, and where the lesson's TFLM figures come from."""
    if available():
        return ""
    return (f"TFLM (tflite-micro) cannot be imported on this machine ({_missing_reason}); it has wheels for "
            f"Linux x86-64 only. TFLM figures below are {NO_TFLM_LABEL} (data/precomputed/05_microcontroller.json); "
            "everything LiteRT can do runs live.")


def _require_tflm(what: str) -> None:
    if not available():
        raise MicroError(f"{what} needs TFLM. {missing_note()}")


def _runtime():
    _require_tflm("Running a model on TFLM")
    from tflite_micro import runtime  # imported late: only lesson 05 needs it

    return runtime


def tflm_version() -> str:
    """The installed ``tflite-micro`` version, or "not installed" where TFLM is missing."""
    if not available():
        return "not installed"
    from tflite_micro import __version__

    return __version__


def _schema():
    """TFLite's flatbuffer schema (TensorFlow's copy: present on every platform, unlike TFLM's)."""
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def input_type(model: bytes) -> str:
    """The model's first input tensor type as TFLite names it ("INT8", "FLOAT32", ...)."""
    fb = _schema()

    m = fb.Model.GetRootAsModel(bytes(model), 0)
    graph = m.Subgraphs(0)
    tensor_type = graph.Tensors(graph.Inputs(0)).Type()
    return next(k for k, v in vars(fb.TensorType).items() if v == tensor_type and not k.startswith("_"))


def _sha(model: bytes) -> str:
    return hashlib.sha256(bytes(model)).hexdigest()[:16]


# ----------------------------------------------------------------------------- the arena


@dataclasses.dataclass(frozen=True)
class Arena:
    bytes: int  # the smallest arena (16-byte steps) in which the model allocated and ran
    recorded: int | None  # what TFLM's RecordingMicroAllocator reported with a roomy arena
    processes: int  # probe processes started (a new one after every failed probe)
    at_most: bool = False  # True when even the search's 1 KiB floor was enough


_arena_memo: dict[str, Arena] = {}


def clear_memo() -> None:
    _arena_memo.clear()


def _arena_cache(sha: str) -> Path:
    return config.cache_dir() / "micro" / f"arena-{sha}.json"


class _Prober:
    """Asks ``tflm_probe.py`` whether an arena size works, restarting it after each failure or crash."""

    def __init__(self, path: str):
        self.path, self.proc, self.started = path, None, 0

    def ask(self, request: str) -> str | None:
        for _attempt in range(2):
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen([sys.executable, str(_PROBE), self.path], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                self.started += 1
            watchdog = threading.Timer(PROBE_TIMEOUT_S, self.proc.kill)
            watchdog.start()
            try:
                self.proc.stdin.write(request + "\n")
                self.proc.stdin.flush()
                answer = self.proc.stdout.readline().strip()
            except (BrokenPipeError, OSError):
                answer = ""
            finally:
                watchdog.cancel()
            if answer:
                return answer
            self.close()  # crashed (or hung and was killed): ask once more in a fresh process
        return None

    def works(self, size: int) -> bool:
        """Crashing twice in a fresh process counts as 'does not fit'."""
        return self.ask(f"probe {int(size)}") == "ok"

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def _prober(model: bytes):
    """A prober for ``model`` (written to a temporary file the child process reads), closed after use.

    The file sits in a temporary folder and is closed before the child opens it: Windows does not
    let a second process open a file that is still open here."""
    _require_tflm("Searching for the smallest arena")
    with tempfile.TemporaryDirectory(prefix="tflm-probe-") as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(bytes(model))
        prober = _Prober(str(path))
        try:
            yield prober
        finally:
            prober.close()


def allocates(model: bytes, size: int) -> bool:
    """Does ``model`` allocate and run once in a ``size``-byte arena? Asked in a child process (crash-safe)."""
    with _prober(model) as prober:
        return prober.works(size)


def smallest_arena(model: bytes, *, use_cache: bool = True) -> Arena:
    """Binary search for the smallest tensor arena (16-byte steps) in which ``model`` allocates and runs once.

    Each probe builds a TFLM interpreter with a given arena and invokes it on zeros, in a child
    process (see ``tflm_probe.py``): TFLM can crash after a failed allocation, and a crash or
    hang there must not take the reader's kernel with it. Results are kept per model (in memory
    and in ``data/cache/micro``), so a second look is instant.
    """
    sha = _sha(model)
    if use_cache and sha in _arena_memo:
        return _arena_memo[sha]
    cache = _arena_cache(sha)
    if use_cache and cache.exists():
        try:
            found = Arena(**json.loads(cache.read_text(encoding="utf-8")))
            _arena_memo[sha] = found
            return found
        except (ValueError, TypeError):
            pass  # a damaged cache file: search again and overwrite it
    with _prober(model) as prober:
        try:
            found = _search(prober)
        except MicroError:
            tflm_ops.raise_for_missing_ops(model, MicroError)
            raise
    _arena_memo[sha] = found
    try:
        config.write_atomic(cache, json.dumps(dataclasses.asdict(found)).encode())
    except OSError:
        pass  # an unwritable cache only costs a search next time
    return found


def _search(prober: _Prober) -> Arena:
    upper = 64 * KIB
    while not prober.works(upper):
        if upper >= ARENA_CEILING:
            raise MicroError(f"TFLM could not run this model even with {ARENA_CEILING // KIB**2} MiB of arena "
                             "(an operator TFLM lacks, or a float model? TFLM devices run int8 models).")
        upper *= 2
    recorded = int(prober.ask(f"record {upper}") or -1)
    hi = upper
    if recorded > 0:
        candidate = max(ARENA_FLOOR, -(-recorded // ALIGN) * ALIGN)
        if prober.works(candidate):
            hi = candidate
    lo = max(ARENA_FLOOR, hi // 2 // ALIGN * ALIGN)
    while lo < hi and prober.works(lo):  # lo must fail for the bisection; halve until it does
        hi, lo = lo, max(ARENA_FLOOR, lo // 2 // ALIGN * ALIGN)
    if lo >= hi:
        return Arena(hi, recorded if recorded > 0 else None, prober.started, at_most=True)
    while hi - lo > ALIGN:  # invariant: lo fails, hi works
        mid = (lo + hi) // 2 // ALIGN * ALIGN
        if prober.works(mid):
            hi = mid
        else:
            lo = mid
    return Arena(hi, recorded if recorded > 0 else None, prober.started)


def interpreter(model: bytes, arena: int):
    """A TFLM interpreter for ``model`` with an ``arena``-byte tensor arena (raises MicroError if too
    small, or naming the operators TFLM lacks)."""
    runtime = _runtime()
    try:
        return runtime.Interpreter.from_bytes(bytes(model), arena_size=int(arena))
    except RuntimeError as exc:
        tflm_ops.raise_for_missing_ops(model, MicroError)
        raise MicroError(f"TFLM could not allocate this model's tensors in {arena:,} B of arena: {exc}") from exc


# ----------------------------------------------------------------------------- running it


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
