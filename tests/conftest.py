"""Shared test set-up: every test gets its own cache directory and runs offline.

``helpers`` is imported here, at the top, so that ``TF_USE_LEGACY_KERAS=1`` is set before
TensorFlow loads anywhere in the test session. Matplotlib is forced onto the Agg backend
before ``helpers.plots`` imports pyplot.
"""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"

import atexit  # noqa: E402
import gzip  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import helpers  # noqa: E402, F401 - must come before anything that imports TensorFlow
from helpers import config, data, models, results  # noqa: E402
from helpers.distillation import distiller
from helpers.microcontroller import tflm

REAL_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _write_synthetic_fashion(target: Path) -> None:
    """Full-size, valid IDX files (60,000 / 10,000 items) with made-up pixels and labels."""
    target.mkdir(parents=True, exist_ok=True)
    for name, (magic, count) in data.FILES.items():
        if magic == 2049:
            # random, not a repeating pattern: the .gz must be big enough to cut short in tests
            body = np.random.default_rng(count).integers(0, 10, count, dtype=np.uint8).tobytes()
            header = struct.pack(">II", magic, count)
        else:
            # every image different (random), as in the real data: tests check the splits are disjoint
            body = np.random.default_rng(count + 1).integers(0, 256, count * 784, dtype=np.uint8).tobytes()
            header = struct.pack(">IIII", magic, count, 28, 28)
        (target / name).write_bytes(gzip.compress(header + body, compresslevel=1))


def _fashion_source_dir() -> Path:
    """The real Debian files when installed; otherwise synthetic stand-ins, so the loading code
    is exercised on a machine without the package too (make test must pass there)."""
    if all((REAL_FASHION_DIR / name).is_file() for name in data.FILES):
        return REAL_FASHION_DIR
    target = Path(tempfile.mkdtemp(prefix="synthetic-fashion-mnist-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    _write_synthetic_fashion(target)
    return target


FASHION_SOURCE_DIR = _fashion_source_dir()


def _reset_helpers_state() -> None:
    config.reset_cache_dir()
    data.clear_memo()
    models.clear_memo()
    distiller.clear_memo()
    tflm.clear_memo()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Point WORKBOOK_CACHE at a fresh directory, never download, forget all memoized state.

    Tests must never write into the project's data/cache.
    """
    cache = tmp_path / "workbook-cache"
    monkeypatch.setenv("WORKBOOK_CACHE", str(cache))
    monkeypatch.setenv("WORKBOOK_OFFLINE", "1")
    monkeypatch.setenv("WORKBOOK_FAST", "1")
    # explorers read no committed reference unless a test writes one (tests/test_precomputed.py)
    monkeypatch.setenv("WORKBOOK_PRECOMPUTED", str(tmp_path / "precomputed"))
    monkeypatch.setattr(results, "_unsaved", [])
    _reset_helpers_state()
    yield cache
    _reset_helpers_state()


@pytest.fixture
def blocked_dir(tmp_path) -> Path:
    """A directory path that can never be created, even by root: it lies under a regular file."""
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file, not a directory\n")
    return blocker / "cache"


@pytest.fixture
def private_tempdir(tmp_path, monkeypatch) -> Path:
    """Make ``tempfile`` create its directories under tmp_path (so fallbacks leave no litter in /tmp)."""
    import tempfile

    where = tmp_path / "system-tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


@pytest.fixture
def debian_copy(tmp_path) -> Path:
    """A stand-in for the Debian package directory: symlinks to the four files (real if installed)."""
    target = tmp_path / "debian-fashion-mnist"
    target.mkdir()
    for name in data.FILES:
        (target / name).symlink_to(FASHION_SOURCE_DIR / name)
    return target


@pytest.fixture
def no_local_data(tmp_path, monkeypatch) -> Path:
    """No Fashion-MNIST anywhere: DEBIAN_DIR points at an empty directory."""
    empty = tmp_path / "empty-debian-dir"
    empty.mkdir()
    monkeypatch.setattr(data, "DEBIAN_DIR", empty)
    return empty


# ----------------------------------------------------------------------------- each lesson run once


CHROMIUM = Path("/usr/bin/chromium")
_RUN_IN_BROWSER: list[str] = []


def _browser_runs() -> bool:
    """tests/test_browser.py will drive a browser here (Chromium and playwright both present)."""
    import importlib.util

    return CHROMIUM.exists() and importlib.util.find_spec("playwright") is not None


@pytest.hookimpl(trylast=True)  # after -k / -m have chosen what runs
def pytest_collection_modifyitems(session, config, items):
    """Where the browser test runs a lesson (restart and run all in JupyterLab, every cell checked
    for errors, the NBVAL_CHECK_OUTPUT cells compared as nbval compares them, then its widgets),
    nbval does not run that lesson a second time: each lesson runs once per session. Where no
    browser runs (a laptop without Chromium, CI's second Python), nbval runs every lesson.
    ``WORKBOOK_NBVAL_ALWAYS=1`` runs both."""
    if os.environ.get("WORKBOOK_NBVAL_ALWAYS") == "1" or not _browser_runs():
        return
    in_browser = {
        Path(item.callspec.params["lesson"]).resolve()
        for item in items
        if getattr(item, "originalname", "") == "test_lesson_in_jupyterlab" and hasattr(item, "callspec")
    }
    twice = [item for item in items if item.path.suffix == ".ipynb" and item.path.resolve() in in_browser]
    if twice:
        twice_ids = {id(item) for item in twice}
        items[:] = [item for item in items if id(item) not in twice_ids]
        config.hook.pytest_deselected(items=twice)
        _RUN_IN_BROWSER[:] = sorted({item.path.name for item in twice})


def pytest_terminal_summary(terminalreporter):
    if _RUN_IN_BROWSER:
        terminalreporter.write_line(
            f"nbval: {len(_RUN_IN_BROWSER)} lesson(s) ran once, in the browser test (tests/test_browser.py: errors, "
            f"NBVAL_CHECK_OUTPUT cells, widgets), not again under nbval: {', '.join(_RUN_IN_BROWSER)}. "
            "WORKBOOK_NBVAL_ALWAYS=1 runs both."
        )
