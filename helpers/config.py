"""Configuration every lesson shares: Keras 2 for TF-MOT, quiet start-up, paths, mode, seeds.

This module must run before TensorFlow is imported anywhere (``helpers/__init__`` imports it
first), because two of its settings only take effect at TensorFlow's first import:

* ``TF_USE_LEGACY_KERAS=1`` makes ``tf.keras`` the Keras 2 implementation (``tf_keras``).
  TF-MOT 0.8 cannot prune or quantize Keras 3 models (lesson 01 shows the error).
* ``TF_CPP_MIN_LOG_LEVEL=3`` quiets TensorFlow's C++ logging. Some lines (the absl banner,
  the CUDA stub, oneDNN) are written to file descriptor 2 before that setting applies; inside
  a notebook kernel we send descriptor 2 to a log file so they never reach cell outputs.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = PROJECT_ROOT / "data" / "cache"
NATIVE_LOG_NAME = "tensorflow-native.log"


class WorkbookError(Exception):
    """Base of the workbook's own errors. In a notebook they show as their message alone,
    without a traceback into helpers: the message already says what is wrong and what to do."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom error display
        return [f"\x1b[1;31m{type(self).__name__}\x1b[0m: {self}"]


class WorkbookConfigError(WorkbookError, ValueError):
    """A setting the workbook cannot work with; the message says which values are accepted."""


# ----------------------------------------------------------------------------- mode

_TRUE = {"1", "true", "yes", "on", "fast"}
_FALSE = {"", "0", "false", "no", "off", "full"}


def parse_fast(value: str | None, variable: str = "WORKBOOK_FAST") -> bool:
    """Read a yes/no variable (``WORKBOOK_FAST`` by default): unset or 0/false/no/off/full -> False;
    1/true/yes/on/fast -> True; anything else is an error naming ``variable``."""
    if value is None:
        return False
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if variable == "WORKBOOK_FAST":
        meaning = (
            "Use WORKBOOK_FAST=1 for fast mode (a class-balanced subset, few epochs: what CI runs) or "
            "WORKBOOK_FAST=0 (or leave it unset) for full mode."
        )
    else:
        meaning = f"Use {variable}=1 (yes) or {variable}=0 (no), or leave it unset."
    raise WorkbookConfigError(
        f"{variable}={value!r} is not understood. {meaning} Accepted: 1/0, true/false, yes/no, on/off, fast/full."
    )


@dataclasses.dataclass(frozen=True)
class Mode:
    """What fast and full mode change. Epochs live in ``models.BASELINE_EPOCHS``."""

    fast: bool
    train_per_class: int | None  # None = all training images not held out for validation
    test_per_class: int | None  # None = the whole test set
    val_per_class: int  # held out of the training images: choose settings here, not on test

    @property
    def name(self) -> str:
        return "fast" if self.fast else "full"


FAST_MODE = Mode(fast=True, train_per_class=1000, test_per_class=200, val_per_class=100)
FULL_MODE = Mode(fast=False, train_per_class=None, test_per_class=None, val_per_class=500)


def current_mode() -> Mode:
    """The mode set by ``WORKBOOK_FAST`` now (read each call, so tests can change it)."""
    return FAST_MODE if parse_fast(os.environ.get("WORKBOOK_FAST")) else FULL_MODE


# ----------------------------------------------------------------------------- cache dir

_cache_dir: tuple[Path, Path] | None = None  # (the directory asked for, the one in use)


def _is_writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
        return True
    except OSError:
        return False


def cache_dir() -> Path:
    """Where datasets, trained baselines and the results log live (``data/cache`` by default).

    ``WORKBOOK_CACHE`` overrides it. If the directory cannot be written, the workbook keeps
    working in a temporary directory for this session and says so once, with the fix.
    """
    global _cache_dir
    wanted = Path(os.environ.get("WORKBOOK_CACHE") or DEFAULT_CACHE_DIR)
    if _cache_dir is not None and _cache_dir[0] == wanted:
        return _cache_dir[1]  # decided once per session: the fallback must not move
    if _is_writable_dir(wanted):
        _cache_dir = (wanted, wanted)
        return wanted
    fallback = Path(tempfile.mkdtemp(prefix="workbook-cache-"))
    warnings.warn(
        f"The cache directory {display_path(wanted)} cannot be written, so trained models and "
        f"results go to a temporary directory ({fallback}) that later sessions will not look in. Fix: make it writable (e.g. `chmod u+w data/cache`) or point "
        "WORKBOOK_CACHE at a writable directory, then restart the kernel.",
        stacklevel=2,
    )
    _cache_dir = (wanted, fallback)
    return fallback


def reset_cache_dir() -> None:
    """Forget the resolved cache directory (tests change ``WORKBOOK_CACHE``)."""
    global _cache_dir
    _cache_dir = None


def write_atomic(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temporary file and a rename: a reader (or a crash)
    never sees half a file. Creates the directory; raises OSError like any write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{os.getpid()}-{path.name}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def display_path(path: Path | str) -> str:
    """A path as a reader should see it: relative to the project when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def freeze_heap() -> None:
    """Take everything alive now (TensorFlow's modules: ~400,000 objects) out of the cyclic
    garbage collector's reach. A full collection then takes ~5 ms instead of ~200 ms, so a
    widget update never stalls on one (``setup()`` calls it once the imports are done)."""
    import gc

    gc.collect()
    gc.freeze()


# ----------------------------------------------------------------------------- quiet TensorFlow


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (ipykernel), where descriptor 2 ends up in cell outputs."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


_native_log: Path | None = None


def redirect_native_stderr() -> Path | None:
    """Send file descriptors 1 and 2 (what C++ code prints) to ``<cache>/logs/tensorflow-native.log``.

    TensorFlow logs to descriptor 2; the TFLite converter prints lines such as
    "fully_quantize: 0, inference_type: 6 ..." to descriptor 1. Python's own output, warnings and
    tracebacks are untouched: in a kernel they travel through ``sys.stdout``/``sys.stderr``, not
    the descriptors. Returns the log path (None if it could not be opened).
    """
    global _native_log
    if _native_log is not None:
        return _native_log
    try:
        log_dir = cache_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / NATIVE_LOG_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        path, fd = None, os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _native_log = path
    return path


def native_log_path() -> Path | None:
    return _native_log


def quiet_python_logs() -> None:
    """Silence TensorFlow's Python-side INFO/WARNING chatter; keep real errors."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass
    # Known-harmless warnings the lessons explain in prose instead: the int8 converter with int8 input
    # (lesson 02) and .h5 saving (measure.py saves .h5 on purpose, as TF-MOT's tutorials do).
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
