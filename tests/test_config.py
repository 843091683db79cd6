"""helpers.config: the WORKBOOK_FAST switch, the cache directory and how paths are shown."""

from __future__ import annotations

import os
import tempfile
import warnings

import pytest

from helpers import config
from helpers.config import WorkbookConfigError


@pytest.mark.parametrize(
    "value",
    ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", "fast", "FAST", " 1 ", "\tyes\n", "  Fast  "],
)
def test_parse_fast_accepts_fast_spellings(value):
    assert config.parse_fast(value) is True


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "0", "false", "FALSE", "no", "No", "off", "OFF", "full", "Full", " 0 ", "\tfull\n"],
)
def test_parse_fast_accepts_full_spellings(value):
    assert config.parse_fast(value) is False


@pytest.mark.parametrize("value", ["maybe", "2", "-1", "fastest", "y", "tru e"])
def test_parse_fast_rejects_unknown_values_with_the_accepted_list(value):
    with pytest.raises(WorkbookConfigError) as info:
        config.parse_fast(value)
    message = str(info.value)
    assert "WORKBOOK_FAST" in message
    assert repr(value) in message  # names the value it could not read
    for accepted in ("1/0", "true/false", "yes/no", "on/off", "fast/full"):
        assert accepted in message
    assert "WORKBOOK_FAST=1" in message and "WORKBOOK_FAST=0" in message  # the fix


def test_workbook_config_error_is_a_value_error():
    # Notebooks and callers may catch ValueError; the subclass must stay one.
    with pytest.raises(ValueError):
        config.parse_fast("maybe")


def test_current_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("WORKBOOK_FAST", "1")
    assert config.current_mode() is config.FAST_MODE
    monkeypatch.setenv("WORKBOOK_FAST", "full")
    assert config.current_mode() is config.FULL_MODE
    monkeypatch.delenv("WORKBOOK_FAST")
    assert config.current_mode() is config.FULL_MODE
    monkeypatch.setenv("WORKBOOK_FAST", "yes")
    assert config.current_mode() is config.FAST_MODE
    monkeypatch.setenv("WORKBOOK_FAST", "maybe")
    with pytest.raises(WorkbookConfigError, match="WORKBOOK_FAST"):
        config.current_mode()


def test_modes_describe_fast_and_full():
    assert config.FAST_MODE.name == "fast" and config.FULL_MODE.name == "full"
    assert config.FAST_MODE.fast and not config.FULL_MODE.fast
    # Fast mode is a subset; full mode keeps everything.
    assert config.FAST_MODE.train_per_class > 0 and config.FAST_MODE.test_per_class > 0
    assert config.FULL_MODE.train_per_class is None and config.FULL_MODE.test_per_class is None


def test_cache_dir_uses_workbook_cache(isolated_cache):
    assert not isolated_cache.exists()
    got = config.cache_dir()
    assert got == isolated_cache
    assert got.is_dir()  # created on first use
    assert list(got.iterdir()) == []  # the write test leaves nothing behind


def test_cache_dir_follows_a_changed_workbook_cache(tmp_path, monkeypatch):
    first = config.cache_dir()
    other = tmp_path / "other-cache"
    monkeypatch.setenv("WORKBOOK_CACHE", str(other))
    assert config.cache_dir() == other != first


def test_unwritable_cache_dir_falls_back_to_a_writable_temp_dir(blocked_dir, private_tempdir, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(blocked_dir))
    config.reset_cache_dir()
    with pytest.warns(UserWarning) as caught:
        got = config.cache_dir()
    message = " ".join(str(w.message) for w in caught)
    assert "WORKBOOK_CACHE" in message and "writable" in message  # the fix
    assert str(blocked_dir) in message  # names the directory it could not use
    assert str(got) in message  # and where things go instead
    assert got != blocked_dir
    assert got.is_dir() and os.access(got, os.W_OK)
    with tempfile.NamedTemporaryFile(dir=got):
        pass
    assert got.parent == private_tempdir


def test_unwritable_cache_dir_fallback_is_stable_for_the_session(blocked_dir, private_tempdir, monkeypatch):
    """The warning promises one temporary directory "for this session", said once.

    Every later call must return that same directory (otherwise a result logged to one temp
    dir is looked for in another) and must not warn again.
    """
    monkeypatch.setenv("WORKBOOK_CACHE", str(blocked_dir))
    config.reset_cache_dir()
    with pytest.warns(UserWarning, match="WORKBOOK_CACHE"):
        first = config.cache_dir()
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        second = config.cache_dir()
        third = config.cache_dir()
    assert second == first and third == first
    assert [str(w.message) for w in again] == []
    assert len(list(private_tempdir.iterdir())) == 1  # one fallback dir, not one per call


def test_display_path_is_project_relative_inside_the_project():
    inside = config.PROJECT_ROOT / "data" / "cache" / "models" / "x.weights.h5"
    assert config.display_path(inside) == os.path.join("data", "cache", "models", "x.weights.h5")
    assert config.display_path(str(config.PROJECT_ROOT / "notebooks")) == "notebooks"


def test_display_path_leaves_outside_paths_alone(tmp_path):
    outside = tmp_path / "somewhere" / "file.gz"
    assert config.display_path(outside) == str(outside)
    assert config.display_path(str(outside)) == str(outside)
    assert config.display_path("/usr/share/datasets/fashion-mnist") == "/usr/share/datasets/fashion-mnist"


def test_importing_helpers_selects_keras_2():
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
