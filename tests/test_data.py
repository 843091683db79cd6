"""helpers.data: validating IDX files, finding Fashion-MNIST offline, and the digits fallback."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION_SOURCE_DIR as REAL_FASHION_DIR  # real Debian files, or stand-ins

from helpers import config, data
from helpers.data import DataError

LABELS, IMAGES = 2049, 2051


# ----------------------------------------------------------------------------- fake IDX files


def label_payload(labels, count=None, magic=LABELS) -> bytes:
    labels = bytes(labels)
    return struct.pack(">II", magic, len(labels) if count is None else count) + labels


def image_payload(n, count=None, rows=28, cols=28, magic=IMAGES, seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, n * rows * cols, dtype=np.uint8).tobytes()
    return struct.pack(">IIII", magic, n if count is None else count, rows, cols) + pixels


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def assert_names_file_and_fix(message: str, path: Path) -> None:
    assert str(path) in message  # outside the project: the full path
    assert "make data" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_valid_label_and_image_files_pass(tmp_path):
    labels = write_gz(tmp_path / "labels.gz", label_payload([0, 9, 3, 3, 1]))
    images = write_gz(tmp_path / "images.gz", image_payload(5))
    assert data.validate_idx_file(labels, LABELS, 5) is None
    assert data.validate_idx_file(images, IMAGES, 5) is None


def test_truncated_gzip_is_reported_with_file_and_fix(tmp_path):
    whole = gzip.compress(image_payload(6))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, IMAGES, 6)
    message = str(info.value)
    assert_names_file_and_fix(message, path)
    assert "truncated" in message


def test_not_gzip_at_all_is_reported(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"<html>404 Not Found</html>" * 20)
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 5)
    message = str(info.value)
    assert_names_file_and_fix(message, path)
    assert "damaged" in message


def test_missing_file_is_a_data_error_not_a_crash(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 5)
    assert_names_file_and_fix(str(info.value), path)


def test_wrong_magic_is_reported(tmp_path):
    # An image file where a label file belongs.
    path = write_gz(tmp_path / "labels.gz", image_payload(5))
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 5)
    message = str(info.value)
    assert_names_file_and_fix(message, path)
    assert "magic 2051" in message and "expected 2049" in message
    assert "label file" in message


def test_wrong_count_is_reported(tmp_path):
    path = write_gz(tmp_path / "labels.gz", label_payload([1, 2, 3, 4]))
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 5)
    message = str(info.value)
    assert_names_file_and_fix(message, path)
    assert "4 items" in message and "expected 5" in message


@pytest.mark.parametrize("extra", [-100, 7])
def test_wrong_decompressed_length_is_reported(tmp_path, extra):
    payload = image_payload(5)
    payload = payload[:extra] if extra < 0 else payload + b"\0" * extra
    path = write_gz(tmp_path / "images.gz", payload)
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, IMAGES, 5)
    message = str(info.value)
    assert_names_file_and_fix(message, path)
    assert f"{len(payload):,} bytes after decompression" in message
    assert f"expected {16 + 5 * 784:,}" in message


def test_label_length_mismatch_is_reported(tmp_path):
    path = write_gz(tmp_path / "labels.gz", label_payload([1, 2, 3], count=5))
    with pytest.raises(DataError, match="bytes after decompression"):
        data.validate_idx_file(path, LABELS, 5)


def test_images_that_are_not_28x28_are_reported(tmp_path):
    path = write_gz(tmp_path / "images.gz", image_payload(3, rows=32, cols=24))
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, IMAGES, 3)
    assert_names_file_and_fix(str(info.value), path)
    assert "28x28" in str(info.value)


def test_labels_outside_0_to_9_are_reported(tmp_path):
    path = write_gz(tmp_path / "labels.gz", label_payload([0, 1, 10, 2]))
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 4)
    assert_names_file_and_fix(str(info.value), path)
    assert "outside 0-9" in str(info.value)


def test_too_short_file_is_reported(tmp_path):
    path = write_gz(tmp_path / "images.gz", struct.pack(">II", IMAGES, 1))
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, IMAGES, 1)
    assert_names_file_and_fix(str(info.value), path)
    assert "too short" in str(info.value)


def test_data_error_inside_project_shows_a_relative_path():
    # Never created: validate only reads. A path under the project shows relative to it.
    path = config.PROJECT_ROOT / "data" / "cache" / "no-such-dir-for-tests" / "x.gz"
    with pytest.raises(DataError) as info:
        data.validate_idx_file(path, LABELS, 1)
    assert str(info.value).startswith("data/cache/no-such-dir-for-tests/x.gz ")
    assert not path.parent.exists()


# ----------------------------------------------------------------------------- real sources


def assert_fast_fashion(ds: data.Dataset) -> None:
    # The per-class sizes are a tuning knob in config (600 at first, 1,000 now): read them.
    train_pc, test_pc = config.FAST_MODE.train_per_class, config.FAST_MODE.test_per_class
    assert ds.name == "fashion_mnist" and not ds.is_fallback
    assert ds.mode == "fast"
    assert ds.x_train.shape == (10 * train_pc, 28, 28) and ds.y_train.shape == (10 * train_pc,)
    assert ds.x_test.shape == (10 * test_pc, 28, 28) and ds.y_test.shape == (10 * test_pc,)
    assert np.bincount(ds.y_train, minlength=10).tolist() == [train_pc] * 10
    assert np.bincount(ds.y_test, minlength=10).tolist() == [test_pc] * 10
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() == 1.0  # scaled by 255, not left as bytes nor squashed
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    assert ds.class_names == data.FASHION_CLASSES and len(ds.class_names) == 10
    val_pc = config.FAST_MODE.val_per_class
    assert ds.x_val.shape == (10 * val_pc, 28, 28) and ds.x_val.dtype == np.float32
    assert np.bincount(ds.y_val, minlength=10).tolist() == [val_pc] * 10


def test_load_reads_the_debian_package(debian_copy, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    ds = data.load(config.FAST_MODE)
    assert_fast_fashion(ds)
    assert "Debian" in ds.source
    assert f"{len(ds.x_train):,} train / {len(ds.x_val):,} validation / {len(ds.x_test):,} test" in ds.summary()
    assert "(fast mode)" in ds.summary()
    assert data.load(config.FAST_MODE) is ds  # memoized per mode and source


def test_load_stops_on_a_corrupted_file_and_names_it(debian_copy, monkeypatch):
    bad = debian_copy / "t10k-labels-idx1-ubyte.gz"
    whole = (REAL_FASHION_DIR / bad.name).read_bytes()
    bad.unlink()
    bad.write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    with pytest.raises(DataError) as info:
        data.load(config.FAST_MODE)
    message = str(info.value)
    assert str(bad) in message
    assert "train-images" not in message and "train-labels" not in message
    assert "apt-get install --reinstall dataset-fashion-mnist" in message  # a file in the Debian dir


def test_cache_directory_wins_over_the_debian_package(debian_copy, isolated_cache, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    in_cache = isolated_cache / "datasets" / "fashion-mnist"
    in_cache.mkdir(parents=True)
    for name in data.FILES:
        (in_cache / name).symlink_to(REAL_FASHION_DIR / name)
    found = data.find_local_source()
    assert found == (config.display_path(isolated_cache), in_cache)
    assert data.describe_source() == f"Fashion-MNIST from {config.display_path(isolated_cache)}"
    ds = data.load(config.FAST_MODE)
    assert ds.source == config.display_path(isolated_cache)
    assert ds.name == "fashion_mnist" and len(ds.x_train) == 10 * config.FAST_MODE.train_per_class


def test_an_incomplete_cache_directory_is_passed_over(debian_copy, isolated_cache, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    in_cache = isolated_cache / "datasets" / "fashion-mnist"
    in_cache.mkdir(parents=True)
    for name in list(data.FILES)[:3]:
        (in_cache / name).symlink_to(REAL_FASHION_DIR / name)
    assert data.find_local_source() == ("the Debian package dataset-fashion-mnist", debian_copy)


def test_offline_without_data_falls_back_to_digits_with_a_banner(no_local_data, capsys):
    ds = data.load(config.FAST_MODE)
    out = capsys.readouterr().out
    assert ds.name == "digits" and ds.is_fallback
    assert ds.class_names == data.DIGIT_CLASSES
    assert ds.mode == "fast"
    assert ds.x_train.shape[1:] == (28, 28) and ds.x_test.shape[1:] == (28, 28)
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1_797
    assert len(ds.x_train) == len(ds.y_train) and len(ds.x_test) == len(ds.y_test)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert "OFFLINE FALLBACK" in out
    assert "apt-get install dataset-fashion-mnist" in out
    assert "WORKBOOK_OFFLINE=1" in out


def test_digits_fallback_keeps_train_and_test_apart(no_local_data):
    ds = data.load(config.FAST_MODE)
    train = {row.tobytes() for row in ds.x_train.reshape(len(ds.x_train), -1)}
    test_rows = [row.tobytes() for row in ds.x_test.reshape(len(ds.x_test), -1)]
    # The digits set holds a few exact duplicate images, but a leaked split would share ~all.
    assert sum(row in train for row in test_rows) < len(test_rows) // 10


def test_failed_download_falls_back_to_digits_and_says_why(no_local_data, monkeypatch, capsys):
    monkeypatch.delenv("WORKBOOK_OFFLINE")
    calls = []

    def no_network(dest=None):
        calls.append(dest)
        raise OSError("no network")

    monkeypatch.setattr(data, "download", no_network)
    ds = data.load(config.FAST_MODE)
    out = capsys.readouterr().out
    assert calls, "load() should try a download when online and nothing is found"
    assert ds.name == "digits"
    assert "OFFLINE FALLBACK" in out
    assert "download failed: no network" in out
    assert "apt-get install dataset-fashion-mnist" in out


def test_the_banner_names_the_root_cause_not_the_wrapper(no_local_data, monkeypatch, capsys):
    # Keras wraps a DNS failure as "URL fetch failure on <url>: None -- [Errno -3] ..."; the
    # reader needs the innermost reason, whole, on a line of its own.
    monkeypatch.delenv("WORKBOOK_OFFLINE")

    def wrapped_dns_failure(dest=None):
        try:
            raise OSError("[Errno -3] Temporary failure in name resolution")
        except OSError as inner:
            raise Exception("URL fetch failure on https://example.invalid/train-labels-idx1-ubyte.gz") from inner

    monkeypatch.setattr(data, "download", wrapped_dns_failure)
    assert data.load(config.FAST_MODE).name == "digits"
    out = capsys.readouterr().out
    assert "the download failed: [Errno -3] Temporary failure in name resolution." in out
    assert "example.invalid" not in out


def test_a_corrupt_download_is_not_hidden_by_the_fallback(no_local_data, monkeypatch):
    monkeypatch.delenv("WORKBOOK_OFFLINE")

    def corrupt(dest=None):
        raise DataError("train-images-idx3-ubyte.gz is damaged. Fix: ... make data")

    monkeypatch.setattr(data, "download", corrupt)
    with pytest.raises(DataError, match="train-images"):
        data.load(config.FAST_MODE)


def test_a_successful_download_is_used(no_local_data, isolated_cache, monkeypatch, capsys):
    monkeypatch.delenv("WORKBOOK_OFFLINE")

    def fake_download(dest=None):
        dest = dest or config.cache_dir() / data.KERAS_SUBDIR
        dest.mkdir(parents=True, exist_ok=True)
        for name in data.FILES:
            (dest / name).symlink_to(REAL_FASHION_DIR / name)
        return dest

    monkeypatch.setattr(data, "download", fake_download)
    ds = data.load(config.FAST_MODE)
    assert ds.name == "fashion_mnist" and ds.source == config.display_path(isolated_cache)
    assert "OFFLINE FALLBACK" not in capsys.readouterr().out


def test_installing_the_data_later_is_picked_up_without_clear_memo(no_local_data, debian_copy, monkeypatch):
    assert data.load(config.FAST_MODE).name == "digits"
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    assert data.load(config.FAST_MODE).name == "fashion_mnist"


def test_clear_memo_forgets_loaded_data(no_local_data):
    first = data.load(config.FAST_MODE)
    assert data.load(config.FAST_MODE) is first
    data.clear_memo()
    assert data.load(config.FAST_MODE) is not first


def test_load_without_a_mode_uses_workbook_fast(no_local_data, monkeypatch):
    monkeypatch.setenv("WORKBOOK_FAST", "0")
    assert data.load().mode == "full"
    monkeypatch.setenv("WORKBOOK_FAST", "1")
    assert data.load().mode == "fast"


def _fake_keras_download(write):
    """A stand-in for keras' fashion_mnist.load_data: ``write(directory)`` fills its cache dir."""

    def load_data(cache_dir=None, **kwargs):
        target = Path(cache_dir) / "datasets" / "fashion-mnist"
        target.mkdir(parents=True, exist_ok=True)
        write(target)
        return None

    return load_data


def test_download_validates_then_moves_files_into_place(isolated_cache, monkeypatch):
    import socket

    import tf_keras as keras

    def all_four(target):
        for name in data.FILES:
            shutil.copy(REAL_FASHION_DIR / name, target / name)

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", _fake_keras_download(all_four))
    before = socket.getdefaulttimeout()
    dest = data.download()
    assert dest == isolated_cache / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.FILES)  # no staging dir left
    assert socket.getdefaulttimeout() == before
    assert data.find_local_source() == (config.display_path(isolated_cache), dest)


def test_an_interrupted_download_leaves_no_corrupt_file_behind(isolated_cache, monkeypatch):
    import tf_keras as keras

    def one_cut_short(target):
        for name in data.FILES:
            whole = (REAL_FASHION_DIR / name).read_bytes()
            (target / name).write_bytes(whole if name != "t10k-labels-idx1-ubyte.gz" else whole[:2_000])

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", _fake_keras_download(one_cut_short))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.download()
    dest = isolated_cache / "datasets" / "fashion-mnist"
    assert list(dest.iterdir()) == []  # neither the good nor the bad files, nor the staging dir
    assert data.find_local_source() is None or data.find_local_source()[1] != dest


# ----------------------------------------------------------------------------- subsets and fingerprints


def test_balanced_subset_is_deterministic_and_balanced():
    rng = np.random.default_rng(3)
    y = rng.permutation(np.repeat(np.arange(4), [30, 50, 12, 40]))
    first = data.balanced_subset(y, 10)
    assert np.array_equal(first, data.balanced_subset(y, 10))
    assert np.bincount(y[first]).tolist() == [10, 10, 10, 10]
    assert len(np.unique(first)) == len(first)  # no index twice
    assert np.all(np.diff(first) > 0)  # sorted
    assert not np.array_equal(first, data.balanced_subset(y, 10, seed=1))


def test_balanced_subset_keeps_small_classes_whole():
    y = np.repeat(np.arange(3), [5, 20, 20])
    picked = data.balanced_subset(y, 8)
    assert np.bincount(y[picked]).tolist() == [5, 8, 8]


def test_balanced_subset_none_keeps_everything():
    y = np.array([3, 1, 1, 0, 2])
    assert data.balanced_subset(y, None).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("per_class", [0, -5])
def test_balanced_subset_rejects_non_positive_sizes(per_class):
    with pytest.raises(ValueError) as info:
        data.balanced_subset(np.arange(10), per_class)
    assert "per_class" in str(info.value) and "positive" in str(info.value)
    assert str(per_class) in str(info.value)


def make_dataset(name, mode, x, y, class_names=data.FASHION_CLASSES):
    return data.Dataset(
        name=name, source="test", mode=mode,
        x_train=x, y_train=y, x_test=x[:20], y_test=y[:20], class_names=class_names,
    )  # fmt: skip


def test_fingerprint_tells_datasets_apart():
    rng = np.random.default_rng(0)
    x = rng.random((1_000, 28, 28), dtype=np.float32)
    y = (np.arange(1_000) % 10).astype(np.int32)
    small = data.balanced_subset(y, 60)
    full = make_dataset("fashion_mnist", "full", x, y)
    fast = make_dataset("fashion_mnist", "fast", x[small], y[small])
    same_arrays_other_mode = make_dataset("fashion_mnist", "fast", x, y)
    digits = make_dataset("digits", "full", x, y, data.DIGIT_CLASSES)
    prints = [d.fingerprint for d in (full, fast, same_arrays_other_mode, digits)]
    assert len(set(prints)) == 4
    assert full.fingerprint.startswith("fashion_mnist-full-")
    assert digits.fingerprint.startswith("digits-full-")
    # The same arrays give the same fingerprint (trained models are found again) ...
    assert make_dataset("fashion_mnist", "full", x.copy(), y.copy()).fingerprint == full.fingerprint
    # ... and different pixel values a different one.
    assert make_dataset("fashion_mnist", "full", 1.0 - x, y).fingerprint != full.fingerprint


# ----------------------------------------------------------------------------- describe_source and main


def test_describe_source_for_each_situation(debian_copy, no_local_data, isolated_cache, monkeypatch):
    text = data.describe_source()
    assert "digits" in text and "offline fallback" in text and "WORKBOOK_OFFLINE=1" in text

    monkeypatch.delenv("WORKBOOK_OFFLINE")
    text = data.describe_source()
    assert "download" in text and "digits fallback" in text

    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    assert data.describe_source() == "Fashion-MNIST from the Debian package dataset-fashion-mnist"

    in_cache = isolated_cache / "datasets" / "fashion-mnist"
    shutil.copytree(debian_copy, in_cache, symlinks=True)
    assert data.describe_source() == f"Fashion-MNIST from {config.display_path(isolated_cache)}"


def test_describe_source_does_not_load_anything(no_local_data, capsys):
    data.describe_source()
    assert data._load_cached.cache_info().currsize == 0
    assert "OFFLINE FALLBACK" not in capsys.readouterr().out


def test_main_reports_ok_with_the_debian_files(debian_copy, monkeypatch, capsys):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    assert data.main() == 0
    out = capsys.readouterr().out
    assert "OK" in out and "Debian" in out and "all four files valid" in out


def test_main_fails_offline_without_data_and_says_how_to_install(no_local_data, capsys):
    assert data.main() == 1
    out = capsys.readouterr().out
    assert "WORKBOOK_OFFLINE=1" in out
    assert "apt-get install dataset-fashion-mnist" in out


def test_main_fails_when_the_download_fails(no_local_data, monkeypatch, capsys):
    monkeypatch.delenv("WORKBOOK_OFFLINE")

    def no_network(dest=None):
        raise OSError("no network")

    monkeypatch.setattr(data, "download", no_network)
    assert data.main() == 1
    out = capsys.readouterr().out
    assert "Download failed" in out and "no network" in out
    assert "apt-get install dataset-fashion-mnist" in out


def test_main_fails_on_a_corrupted_file_and_names_it(debian_copy, monkeypatch, capsys):
    bad = debian_copy / "train-labels-idx1-ubyte.gz"
    whole = (REAL_FASHION_DIR / bad.name).read_bytes()
    bad.unlink()
    bad.write_bytes(whole[:1_000])
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    assert data.main() == 1
    out = capsys.readouterr().out
    assert str(bad) in out and "apt-get install --reinstall dataset-fashion-mnist" in out
    assert "OK" not in out


# ----------------------------------------------------------------------------- validation split


def test_split_train_val_is_disjoint_balanced_and_fixed():
    y = np.repeat(np.arange(10), 50)
    train, val = data.split_train_val(y, train_per_class=20, val_per_class=5)
    assert set(train).isdisjoint(val)
    assert np.bincount(y[val]).tolist() == [5] * 10
    assert np.bincount(y[train]).tolist() == [20] * 10
    again = data.split_train_val(y, train_per_class=20, val_per_class=5)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])


def test_split_train_val_with_all_the_rest_for_training():
    y = np.repeat(np.arange(10), 50)
    train, val = data.split_train_val(y, train_per_class=None, val_per_class=5)
    assert len(train) + len(val) == len(y) and set(train).isdisjoint(val)


def test_validation_images_are_not_training_images(debian_copy, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_copy)
    ds = data.load(config.FAST_MODE)
    train_rows = {row.tobytes() for row in (ds.x_train.reshape(len(ds.x_train), -1) * 255).astype(np.uint8)}
    val_rows = [row.tobytes() for row in (ds.x_val.reshape(len(ds.x_val), -1) * 255).astype(np.uint8)]
    # Fashion-MNIST has a handful of duplicate images; the split must not add more than chance.
    assert sum(r in train_rows for r in val_rows) <= 5


def test_digits_fallback_has_a_validation_split(no_local_data):
    ds = data.load(config.FAST_MODE)
    assert ds.x_val is not None and len(ds.x_val) == 10 * data.DIGITS_VAL_PER_CLASS
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797


# ----------------------------------------------------------------------------- review fixes


def test_loaded_arrays_are_read_only(no_local_data):
    ds = data.load(config.FAST_MODE)
    with pytest.raises(ValueError, match="read-only"):
        ds.x_train[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        ds.y_val[0] = 3


def test_a_bad_workbook_offline_value_names_that_variable(no_local_data, monkeypatch):
    monkeypatch.setenv("WORKBOOK_OFFLINE", "maybe")
    with pytest.raises(config.WorkbookConfigError, match="WORKBOOK_OFFLINE='maybe'") as info:
        data.load(config.FAST_MODE)
    assert "WORKBOOK_FAST" not in str(info.value)


def test_an_unreadable_file_says_so_not_damaged(tmp_path, monkeypatch):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.gzip, "open", refuse)
    with pytest.raises(DataError, match="cannot be read .Permission denied.*chmod"):
        data.validate_idx_file(path, LABELS, 3)
