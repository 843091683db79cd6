"""Fashion-MNIST for every lesson, found offline when possible, validated before use.

Sources, in order (the first complete one wins):

1. ``data/cache/datasets/fashion-mnist/`` (what ``make data`` or an earlier download left);
2. the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``);
3. a download through Keras (only when online; skipped when ``WORKBOOK_OFFLINE=1``);
4. offline with none of these: scikit-learn's bundled 8x8 digits, announced with a banner.

The files are read with Keras' own ``fashion_mnist.load_data(cache_dir=...)``. Each file is
checked first (gzip intact, IDX header, shape, labels 0-9), so a truncated or corrupt file
stops with a message that names it and says how to fix it, instead of a numpy reshape error.

Run ``python -m helpers.data`` (or ``make data``) to fetch or locate the data and see where
it came from.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import socket
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from . import config

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(d) for d in range(10))

# file name -> (IDX magic number, number of items)
FILES = {
    "train-labels-idx1-ubyte.gz": (2049, 60_000),
    "train-images-idx3-ubyte.gz": (2051, 60_000),
    "t10k-labels-idx1-ubyte.gz": (2049, 10_000),
    "t10k-images-idx3-ubyte.gz": (2051, 10_000),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_SUBDIR = Path("datasets") / "fashion-mnist"  # Keras' cache layout under cache_dir
DOWNLOAD_TIMEOUT_S = 20
DIGITS_VAL_PER_CLASS = 15  # of ~144 training digits per class

FIX_HINT = (
    "Fix: delete that file and run `make data` (downloads when online), or install the "
    "Debian package (`sudo apt-get install dataset-fashion-mnist`)."
)
DEBIAN_FIX_HINT = "Fix: reinstall the Debian package: `sudo apt-get install --reinstall dataset-fashion-mnist`."


def _fix_hint(path: Path) -> str:
    return DEBIAN_FIX_HINT if Path(path).resolve().is_relative_to(DEBIAN_DIR.resolve()) else FIX_HINT


class DataError(config.WorkbookError, RuntimeError):
    """The data could not be read; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Images as float32 in [0, 1], shape (n, 28, 28); labels as int32 in 0..9.

    ``x_val``/``y_val`` are held out of the training images (class-balanced, fixed): choose
    settings (per-layer sparsities, temperatures ...) on them and report on the test set, which
    no choice may look at.
    """

    name: str  # "fashion_mnist" or "digits"
    source: str  # where it came from, for people
    mode: str  # "fast" or "full"
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self):
        # One Dataset is shared by every cell of a session (and keys the model cache): freeze it.
        for field in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val"):
            array = getattr(self, field)
            if isinstance(array, np.ndarray):
                array.flags.writeable = False

    @property
    def is_fallback(self) -> bool:
        return self.name != "fashion_mnist"

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of the exact arrays: trained models are cached under it."""
        h = hashlib.sha256()
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test, self.x_val, self.y_val):
            if arr is None:
                continue
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr[:: max(1, len(arr) // 512)]).tobytes())
        return f"{self.name}-{self.mode}-{h.hexdigest()[:10]}"

    def summary(self) -> str:
        return (
            f"{self.name} from {self.source}: {len(self.x_train):,} train / "
            + (f"{len(self.x_val):,} validation / " if self.x_val is not None else "")
            + f"{len(self.x_test):,} test images, {len(self.class_names)} classes ({self.mode} mode)"
        )


# ----------------------------------------------------------------------------- validation


def validate_idx_file(path: Path, magic: int, count: int) -> None:
    """Check one IDX .gz file completely; raise DataError naming it and the fix."""
    shown = config.display_path(path)
    hint = _fix_hint(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except PermissionError as exc:
        raise DataError(f"{shown} cannot be read ({exc.strerror}). Fix: make it readable (`chmod a+r`).") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{shown} is damaged or truncated ({exc}). {hint}") from None
    header = 8 if magic == 2049 else 16
    if len(raw) < header:
        raise DataError(f"{shown} is too short to be an IDX file ({len(raw)} bytes). {hint}")
    got_magic, got_count = struct.unpack(">II", raw[:8])
    if got_magic != magic:
        raise DataError(
            f"{shown} is not a Fashion-MNIST {'label' if magic == 2049 else 'image'} file "
            f"(IDX magic {got_magic}, expected {magic}). {hint}"
        )
    if got_count != count:
        raise DataError(f"{shown} holds {got_count} items, expected {count}. {hint}")
    expected = header + count * (1 if magic == 2049 else 28 * 28)
    if magic == 2051 and struct.unpack(">II", raw[8:16]) != (28, 28):
        raise DataError(f"{shown} does not hold 28x28 images. {hint}")
    if len(raw) != expected:
        raise DataError(f"{shown} has {len(raw):,} bytes after decompression, expected {expected:,}. {hint}")
    if magic == 2049 and np.frombuffer(raw, np.uint8, offset=8).max() > 9:
        raise DataError(f"{shown} has labels outside 0-9. {hint}")


def validate_all(directory: Path) -> None:
    """Check all four Fashion-MNIST files in ``directory`` (``validate_idx_file`` for each)."""
    for name, (magic, count) in FILES.items():
        validate_idx_file(directory / name, magic, count)


# ----------------------------------------------------------------------------- sources


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in FILES)


def forced_digits() -> bool:
    """``WORKBOOK_DATA=digits``: use the digits fallback even where Fashion-MNIST is installed (what
    an offline reader without the data gets; tests/test_fallback_data.py runs the lessons so)."""
    value = os.environ.get("WORKBOOK_DATA", "").strip().lower()
    if value not in ("", "digits", "fashion_mnist", "auto"):
        raise DataError(f"WORKBOOK_DATA={value!r} is not a data choice: use 'digits' (the offline fallback) or leave it unset.")
    return value == "digits"


def find_local_source() -> tuple[str, Path] | None:
    """The first local directory holding all four files, as (description, directory); None when
    there is none, or when ``WORKBOOK_DATA=digits`` asks for the fallback."""
    if forced_digits():
        return None
    candidates = [
        (config.display_path(config.cache_dir()), config.cache_dir() / KERAS_SUBDIR),
        ("the Debian package dataset-fashion-mnist", DEBIAN_DIR),
    ]
    for description, directory in candidates:
        if _complete(directory):
            return description, directory
    return None


def _offline() -> bool:
    return forced_digits() or config.parse_fast(os.environ.get("WORKBOOK_OFFLINE"), "WORKBOOK_OFFLINE")


def describe_source() -> str:
    """Where ``load()`` will take the data from, without reading it."""
    found = find_local_source()
    if found:
        return f"Fashion-MNIST from {found[0]}"
    if _offline():
        return "scikit-learn digits (offline fallback: no Fashion-MNIST found, WORKBOOK_OFFLINE=1)"
    return "Fashion-MNIST to download (none found locally), else the scikit-learn digits fallback"


def _keras_load(directory: Path):
    """Read a complete source directory with Keras' own loader, via a symlink staging dir.

    Keras looks in ``<cache_dir>/datasets/fashion-mnist`` and, when ``cache_dir`` is not
    writable (the Debian path for a normal user), silently switches to ``/tmp/.keras`` and
    downloads. Staging writable symlinks avoids both surprises.
    """
    import tf_keras as keras

    with tempfile.TemporaryDirectory(prefix="fmnist-") as staging:
        target = Path(staging) / KERAS_SUBDIR
        target.mkdir(parents=True)
        for name in FILES:
            (target / name).symlink_to((directory / name).resolve())
        return keras.datasets.fashion_mnist.load_data(cache_dir=staging)


def download(dest: Path | None = None) -> Path:
    """Download Fashion-MNIST with Keras into ``dest`` (default: data/cache), atomically.

    Files land in a staging directory first and are moved into place only once all four
    validate, so an interrupted download never leaves a corrupt file behind.
    """
    import tf_keras as keras

    dest = dest or config.cache_dir() / KERAS_SUBDIR
    dest.mkdir(parents=True, exist_ok=True)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as staging:
            keras.datasets.fashion_mnist.load_data(cache_dir=staging)
            fetched = Path(staging) / KERAS_SUBDIR
            validate_all(fetched)
            for name in FILES:
                os.replace(fetched / name, dest / name)
    finally:
        socket.setdefaulttimeout(old_timeout)
    return dest


def _root_cause(exc: BaseException, limit: int = 110) -> str:
    """The innermost exception's message, short: "[Errno -3] Temporary failure in name resolution"."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


FALLBACK_BANNER = """\
{rule}
OFFLINE FALLBACK - this run does NOT use Fashion-MNIST.
No Fashion-MNIST files were found locally, and {why}.
The lessons run on scikit-learn's bundled 8x8 handwritten digits instead (1,797 images,
upscaled to 28x28). Everything works, but the numbers will not match the lesson text.
To get the real data:
  * sudo apt-get install dataset-fashion-mnist      (Debian/Ubuntu, works offline after)
  * or, when online: make data
then restart the kernel.
{rule}"""


def _load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits, upscaled 8x8 -> 24x24 and padded to 28x28, split 80/20."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))  # 8x8 -> 24x24, values in [0, 1]
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    labels = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(labels))
    test_idx = np.sort(order[: len(order) // 5])
    train_idx = np.sort(order[len(order) // 5 :])
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def balanced_subset(y: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a fixed, class-balanced subset: ``per_class`` items of every class.

    The same ``y`` and seed always give the same indices. ``None`` (or more than a class
    holds) keeps everything.
    """
    if per_class is None:
        return np.arange(len(y))
    if per_class <= 0:
        raise ValueError(f"per_class must be a positive number of images, got {per_class}")
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        picked.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(picked))


def split_train_val(y: np.ndarray, train_per_class: int | None, val_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, validation) indices: ``val_per_class`` images of every class held out
    first, then ``train_per_class`` of the rest (``None``: all the rest). Fixed for given labels."""
    val_idx = balanced_subset(y, val_per_class, seed=1)
    rest = np.setdiff1d(np.arange(len(y)), val_idx)
    train_idx = rest[balanced_subset(y[rest], train_per_class, seed=0)]
    return train_idx, val_idx


def load(mode: config.Mode | None = None) -> Dataset:
    """The lesson data for the current mode (memoized per mode and source)."""
    mode = mode or config.current_mode()
    return _load_cached(mode, find_local_source())


@functools.lru_cache(maxsize=4)
def _load_cached(mode: config.Mode, found: tuple[str, Path] | None) -> Dataset:
    if found is None and not _offline():
        try:
            print(
                f"Fashion-MNIST not found locally; downloading it with Keras into {config.display_path(config.cache_dir())} ..."
            )
            download()
            found = find_local_source()
        except DataError:
            raise
        except Exception as exc:  # no network, DNS failure, timeout, HTTP error ...
            return _digits_dataset(mode, f"the download failed: {_root_cause(exc)}")
    if found is None:
        why = "WORKBOOK_DATA=digits asks for it" if forced_digits() else "WORKBOOK_OFFLINE=1 says not to download"
        return _digits_dataset(mode, why)

    description, directory = found
    validate_all(directory)
    (x_all, y_all), (x_test, y_test) = _keras_load(directory)
    train_idx, val_idx = split_train_val(y_all, mode.train_per_class, mode.val_per_class)
    test_idx = balanced_subset(y_test, mode.test_per_class)
    scale = lambda x: (x / 255.0).astype(np.float32)  # noqa: E731
    return Dataset(
        name="fashion_mnist",
        source=description,
        mode=mode.name,
        x_train=scale(x_all[train_idx]),
        y_train=y_all[train_idx].astype(np.int32),
        x_test=scale(x_test[test_idx]),
        y_test=y_test[test_idx].astype(np.int32),
        class_names=FASHION_CLASSES,
        x_val=scale(x_all[val_idx]),
        y_val=y_all[val_idx].astype(np.int32),
    )


def _digits_dataset(mode: config.Mode, why: str) -> Dataset:
    print(FALLBACK_BANNER.format(rule="!" * 88, why=why), file=sys.stdout)
    x_all, y_all, x_test, y_test = _load_digits()
    train_idx, val_idx = split_train_val(y_all, None, DIGITS_VAL_PER_CLASS)
    return Dataset(
        name="digits",
        source="scikit-learn's bundled digits (offline fallback)",
        mode=mode.name,
        x_train=x_all[train_idx],
        y_train=y_all[train_idx],
        x_test=x_test,
        y_test=y_test,
        class_names=DIGIT_CLASSES,
        x_val=x_all[val_idx],
        y_val=y_all[val_idx],
    )


def clear_memo() -> None:
    """Forget loaded data (tests, or after installing the real data without a restart)."""
    _load_cached.cache_clear()


def main() -> int:
    """``make data``: locate or fetch Fashion-MNIST and say where it came from."""
    found = find_local_source()
    if found is None and _offline():
        print("WORKBOOK_OFFLINE=1 and no Fashion-MNIST found locally; nothing downloaded.")
        print("Install it offline with: sudo apt-get install dataset-fashion-mnist")
        return 1
    if found is None:
        try:
            print(f"Downloading Fashion-MNIST with Keras into {config.display_path(config.cache_dir())} ...")
            download()
        except Exception as exc:
            print(f"Download failed ({type(exc).__name__}: {exc}).")
            print("Offline? Install it with: sudo apt-get install dataset-fashion-mnist")
            return 1
        found = find_local_source()
    description, directory = found
    try:
        validate_all(directory)
    except DataError as exc:
        print(exc)
        return 1
    print(f"Fashion-MNIST OK: {description} ({config.display_path(directory)}), all four files valid.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
