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
import math
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


# ----------------------------------------------------------------------------- CPUs and thread pools

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs a cgroup CPU quota allows this process (e.g. 1.5), or None when there is no quota.

    cgroup v2: ``<root>/cpu.max`` holds ``"<quota> <period>"`` in microseconds, or ``"max <period>"``
    for no limit. cgroup v1: ``<root>/cpu/cpu.cfs_quota_us`` (``-1`` = no limit) and
    ``cpu.cfs_period_us`` (also looked for under ``cpu,cpuacct/``). Source: the Linux kernel's
    Documentation/admin-guide/cgroup-v2.rst ("cpu.max") and scheduler/sched-bwc.rst (CFS bandwidth).
    Missing, unreadable or malformed files (Windows, macOS, no cgroup) mean None: never an error.
    """
    text = _read(root / "cpu.max")
    if text is not None:
        fields = text.split()
        if len(fields) == 2 and fields[0] != "max":
            try:
                quota, period = float(fields[0]), float(fields[1])
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
        return None
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota_text, period_text = _read(root / folder / "cpu.cfs_quota_us"), _read(root / folder / "cpu.cfs_period_us")
        if quota_text is None or period_text is None:
            continue
        try:
            quota, period = float(quota_text), float(period_text)
        except ValueError:
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None


def affinity_cpus() -> int:
    """How many CPUs the scheduler lets this process run on: ``os.sched_getaffinity`` where it
    exists (Linux; ``taskset -c 0`` makes it 1), else ``os.cpu_count()`` (macOS, Windows), at least 1."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return max(1, len(getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def usable_cpus(root: Path = CGROUP_ROOT, affinity: int | None = None) -> int:
    """The CPUs this process may really use: the affinity count, lowered to a cgroup quota rounded up
    (a 1.5-CPU quota -> 2 threads; a 0.5-CPU quota -> 1). ``WORKBOOK_THREADS=N`` overrides both.
    Raises ``WorkbookConfigError`` for a ``WORKBOOK_THREADS`` that is not a positive integer."""
    override = os.environ.get("WORKBOOK_THREADS", "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise WorkbookConfigError(
                f"WORKBOOK_THREADS={override!r} is not a positive whole number. Set it to the number of CPUs "
                "TensorFlow and LiteRT may use (e.g. WORKBOOK_THREADS=1), or unset it to follow this machine's limits."
            )
        return int(override)
    cpus = affinity if affinity is not None else affinity_cpus()
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota - 1e-9)))
    return max(1, cpus)


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def limit_thread_pools(cpus: int | None = None) -> int:
    """Size TensorFlow's thread pools to ``cpus`` (default ``usable_cpus()``) before TensorFlow starts.

    TensorFlow sizes its intra- and inter-op pools from the CPUs it may be scheduled on, which ignores a
    container's cgroup quota (a 1-CPU Binder or JupyterHub pod on a 64-core host would get 64 threads).
    ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` (read by TensorFlow's process_util.cc when its
    pools are made) are set unless the user set them already. Returns the thread count. ``setup_tf_threads``
    applies the same after import through ``tf.config.threading``.

    LiteRT needs nothing: its default (``num_threads=None``) runs on the calling thread alone (measured:
    an Interpreter with None starts no worker thread, one with 2 starts one; tests/test_threads.py), which
    any quota allows, and the workbook's latencies ask for 1 thread explicitly (``measure.LATENCY_THREADS``)."""
    global THREADS
    THREADS = cpus if cpus is not None else usable_cpus()
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, str(THREADS))
    return THREADS


def setup_tf_threads(tf) -> None:
    """Set ``tf.config.threading``'s intra/inter-op threads to the thread count (``THREADS``), unless the
    user set the environment variables. Once TensorFlow has run an op these cannot change (RuntimeError),
    which is then left as it is: TensorFlow was imported and used before ``helpers``."""
    for variable, setter in zip(THREAD_VARIABLES, (tf.config.threading.set_intra_op_parallelism_threads,
                                                   tf.config.threading.set_inter_op_parallelism_threads), strict=True):  # fmt: skip
        try:
            setter(int(os.environ.get(variable) or THREADS))
        except (RuntimeError, ValueError):
            pass


THREADS = limit_thread_pools()


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
