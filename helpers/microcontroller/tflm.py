"""Lesson 05: the models on TensorFlow Lite for Microcontrollers (TFLM), as a device would run them.

``tflite_micro`` is TFLM's interpreter built for the host, so what is measured here is what the
firmware needs: the model's bytes as stored (flash - nothing is gzipped on a device) and the
tensor arena (RAM). Pieces:

* ``smallest_arena``: the smallest arena that allocates and runs, found by search in a separate
  process (TFLM can crash the process when an arena is far too small), cached per model.

Running a model on TFLM (``tflm_predict``, ``footprint``: accuracy with exactly that arena, against
LiteRT's) is in helpers/microcontroller/tflm_run.py.

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
from pathlib import Path

from .. import config
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
