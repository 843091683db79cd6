"""The baseline models every lesson compresses, trained once and cached.

* ``build_mlp``: LeNet-300-100 (784-300-100-10), 266,610 parameters.
* ``build_cnn``: a small CNN (conv 32 -> pool -> conv 64 -> pool -> dense 128 -> 10),
  225,034 parameters.

Both take (28, 28) images in [0, 1] and output **logits** (no softmax): distillation needs
logits, and argmax is unchanged. ``baseline(arch, data)`` trains a model or loads it from
``data/cache/models/`` (weights + a JSON note of how they were made); the cache key holds the architecture, the exact data (fingerprint),
epochs, batch size, seed and the tf_keras version, so a lesson run alone trains what it needs
and later lessons load in a second.

``baseline`` returns a *fresh* model every call. TF-MOT's ``prune_low_magnitude`` and
``cluster_weights`` wrap the layers of the model they are given (lesson 01 shows it), so a
model shared between experiments would silently change under them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import tf_keras as keras

from . import config, keras_compat
from .data import Dataset

BATCH_SIZE = 128
LEARNING_RATE = 1e-3
DEFAULT_SEED = 42

# (data name, mode) -> epochs per architecture. Full Fashion-MNIST, chosen on the validation
# split (seed 42): MLP 89.8 % at 10 epochs -> 90.7 % at 14; CNN 92.0 % at 10 -> 92.3 % at 15.
BASELINE_EPOCHS = {
    ("fashion_mnist", "full"): {"mlp": 15, "cnn": 15},
    ("fashion_mnist", "fast"): {"mlp": 8, "cnn": 6},
    ("digits", "full"): {"mlp": 30, "cnn": 30},
    ("digits", "fast"): {"mlp": 30, "cnn": 20},
}


def build_mlp(hidden=(300, 100), num_classes: int = 10, name: str = "mlp") -> keras.Sequential:
    """LeNet-300-100: Flatten -> Dense(300, relu) -> Dense(100, relu) -> Dense(10) logits."""
    layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten(name="flatten")]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, activation="relu", name=f"dense_{i}"))
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name=name)


def build_cnn(filters=(32, 64), dense: int = 128, num_classes: int = 10, name: str = "cnn") -> keras.Sequential:
    """Reshape -> [Conv2D 3x3 relu -> MaxPool 2] per filter count -> Dense(relu) -> logits."""
    layers = [keras.Input(shape=(28, 28)), keras.layers.Reshape((28, 28, 1), name="reshape")]
    for i, f in enumerate(filters):
        layers.append(keras.layers.Conv2D(f, 3, activation="relu", name=f"conv_{i}"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"pool_{i}"))
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(dense, activation="relu", name="dense_0"),
        keras.layers.Dense(num_classes, name="logits"),
    ]
    return keras.Sequential(layers, name=name)


ARCHITECTURES = {"mlp": build_mlp, "cnn": build_cnn}


def compile_model(model: keras.Model, learning_rate: float = LEARNING_RATE) -> keras.Model:
    """Adam + cross-entropy on logits + accuracy: the set-up every lesson trains with.

    A model that ends in a softmax (a reader's, say) gets ``from_logits=False``: cross-entropy
    "from logits" on probabilities trains quietly and badly (softmax applied twice)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not keras_compat.outputs_probabilities(model)),
        metrics=["accuracy"],
    )
    return model


class EpochLine(keras.callbacks.Callback):
    """One printed line per epoch (Keras' carriage-return bar clutters saved notebooks)."""

    def __init__(self, label: str = ""):
        super().__init__()
        self.label = label

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs", 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{self.label}epoch {epoch + 1:>2}/{self._epochs}"]
        labels = {"loss": "train loss", "accuracy": "train acc", "val_loss": "val loss", "val_accuracy": "val acc"}
        for key, shown in labels.items():
            if key in logs:
                value = logs[key]
                parts.append(f"{shown} {value * 100:5.2f} %" if "acc" in shown else f"{shown} {value:.4f}")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        print("  ".join(parts), flush=True)


def train(
    model: keras.Model,
    data: Dataset,
    epochs: int,
    batch_size: int = BATCH_SIZE,
    callbacks=(),
    label: str = "",
) -> dict:
    """Fit on ``data``'s training set with one progress line per epoch; returns the history."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    keras_compat.check_inputs(model, data.x_train, "the training images")
    outputs = model.output_shape[-1] if isinstance(getattr(model, "output_shape", None), tuple) else None
    keras_compat.check_labels(data.y_train, outputs)
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[EpochLine(label), *callbacks],
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


@dataclasses.dataclass
class Trained:
    """A baseline as a lesson gets it: a fresh compiled model plus how it was made."""

    arch: str
    model: keras.Model
    epochs: int
    seed: int
    history: dict
    fit_seconds: float
    from_cache: bool
    cache_file: Path | None

    def describe(self) -> str:
        origin = (
            f"loaded from {config.display_path(self.cache_file)}"
            if self.from_cache and self.cache_file
            else "trained now"
        )
        return (
            f"{self.arch}: {self.model.count_params():,} parameters, {self.epochs} epochs, "
            f"seed {self.seed}, {origin} (training took {self.fit_seconds:.0f} s)"
        )


_memo: dict[str, tuple[list[np.ndarray], dict]] = {}


def recipe_hash(arch: str) -> str:
    """A short hash of what else decides the weights: the architecture as built (layers,
    activations, shapes), the optimizer, learning rate and loss. Change any -> retrain."""
    model = ARCHITECTURES[arch]()
    # Layer configs without auto-generated names (an Input is "input_7" on the 7th build).
    layers = [(type(la).__name__, {k: v for k, v in la.get_config().items() if k != "name"}) for la in model.layers]
    recipe = json.dumps([model.input_shape, layers], sort_keys=True, default=str)
    recipe += f"|Adam|{LEARNING_RATE}|sparse-ce-logits"
    return hashlib.sha256(recipe.encode()).hexdigest()[:8]


def cache_key(arch: str, data: Dataset, epochs: int, seed: int, batch_size: int = BATCH_SIZE) -> str:
    return f"{arch}-{recipe_hash(arch)}-{data.fingerprint}-e{epochs}-b{batch_size}-s{seed}-tfk{keras.__version__}"


def default_epochs(arch: str, data: Dataset) -> int:
    return BASELINE_EPOCHS[(data.name, data.mode)][arch]


def _model_dir() -> Path:
    return config.cache_dir() / "models"


def steps_per_epoch(n_train: int, batch_size: int = BATCH_SIZE) -> int:
    """Training steps in one epoch of ``n_train`` images."""
    return math.ceil(n_train / batch_size)


def copy_model(model: keras.Model) -> keras.Model:
    """An independent copy with the same weights. TF-MOT's wrappers (prune_low_magnitude,
    cluster_weights, quantize_model) wrap the very layers they are given: wrap a copy.
    Raises ``keras_compat.ModelError`` for a Keras 3 or subclassed model, which ``clone_model`` cannot copy."""
    keras_compat.require_graph_model(model, "Copying the model (TF-MOT's recipes work on a copy)")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _fresh(arch: str, weights: list[np.ndarray], compiled: bool = True) -> keras.Model:
    model = ARCHITECTURES[arch]()
    model.set_weights(weights)
    return compile_model(model) if compiled else model


def _try_load(arch: str, path: Path, meta_path: Path) -> tuple[list[np.ndarray], dict] | None:
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model = ARCHITECTURES[arch]()
        model.load_weights(path)
        return model.get_weights(), meta
    except Exception as exc:  # a damaged cache file costs a retrain, never the lesson
        warnings.warn(
            f"Could not read the cached model {config.display_path(path)} ({type(exc).__name__}: "
            f"{exc}); training it again and replacing the file.",
            stacklevel=3,
        )
        return None


def _try_save(model: keras.Model, path: Path, meta_path: Path, meta: dict) -> bool:
    """Write model and metadata atomically (temp file + rename); warn, never raise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        model.save_weights(tmp)
        os.replace(tmp, path)
        config.write_atomic(meta_path, json.dumps(meta, indent=1).encode())
        return True
    except OSError as exc:
        warnings.warn(
            f"Could not save the trained model to {config.display_path(path)} ({exc}); it stays "
            "in memory for this session. Make data/cache writable to keep it.",
            stacklevel=3,
        )
        return False


def baseline(
    arch: str,
    data: Dataset,
    epochs: int | None = None,
    seed: int = DEFAULT_SEED,
    retrain: bool = False,
) -> Trained:
    """The trained baseline ``arch`` ("mlp" or "cnn") for ``data``: from the cache or trained now.

    Every call returns a new, compiled model with the same weights, so compressing one copy
    never changes another.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
    if epochs is None:
        epochs = default_epochs(arch, data)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    key = cache_key(arch, data, epochs, seed)
    path = _model_dir() / f"{key}.weights.h5"
    meta_path = _model_dir() / f"{key}.json"

    from_cache = False
    if not retrain and key in _memo:
        weights, meta = _memo[key]
        from_cache = True
    else:
        loaded = None if retrain else _try_load(arch, path, meta_path)
        if loaded:
            weights, meta = loaded
            from_cache = True
        else:
            keras.utils.set_random_seed(seed)
            model = compile_model(ARCHITECTURES[arch]())
            print(f"Training the {arch} baseline: {epochs} epochs on {len(data.x_train):,} images")
            start = time.perf_counter()
            history = train(model, data, epochs, label=f"{arch} ")
            meta = {
                "key": key,
                "arch": arch,
                "epochs": epochs,
                "seed": seed,
                "batch_size": BATCH_SIZE,
                "data": data.fingerprint,
                "data_source": data.source,
                "history": history,
                "fit_seconds": round(time.perf_counter() - start, 2),
                "tf_keras": keras.__version__,
            }
            weights = model.get_weights()
            _try_save(_fresh(arch, weights, compiled=False), path, meta_path, meta)  # no optimizer slots
        _memo[key] = (weights, meta)

    # Leave the random state the same whether the weights were trained now or loaded, so what
    # a lesson builds next (a student, a new layer) is the same on every run.
    keras.utils.set_random_seed(seed)
    return Trained(
        arch=arch,
        model=_fresh(arch, weights),
        epochs=epochs,
        seed=seed,
        history=meta.get("history", {}),
        fit_seconds=float(meta.get("fit_seconds", 0.0)),
        from_cache=from_cache,
        cache_file=path if path.is_file() else None,
    )


def control_name(arch: str, extra_epochs: int, learning_rate: float = LEARNING_RATE) -> str:
    """The reference's name on the board and in the ledger: "MLP, dense control +4 epochs"."""
    rate = "" if learning_rate == LEARNING_RATE else f" at lr {learning_rate:g}"
    return f"{arch.upper()}, dense control +{extra_epochs} epoch{'' if extra_epochs == 1 else 's'}{rate}"


def dense_control(
    arch: str, data: Dataset, extra_epochs: int, learning_rate: float = LEARNING_RATE, seed: int = DEFAULT_SEED
) -> Trained:
    """The reference every compressed model is measured against: the baseline ``arch`` fine-tuned,
    dense, for ``extra_epochs`` more epochs at ``learning_rate`` (Adam, the training recipe) - the
    same budget a pruned, clustered or QAT model gets after the baseline. Without it, the extra
    epochs' gain is credited to the compression (lesson 01 shows this). Cached like the baseline
    (``data/cache/models``); ``epochs`` of the result counts baseline + extra epochs.

    Raises ``ValueError`` for an unknown architecture or ``extra_epochs`` < 1.
    """
    if extra_epochs < 1:
        raise ValueError(f"extra_epochs must be at least 1, got {extra_epochs}")
    base = baseline(arch, data, seed=seed)
    key = f"{cache_key(arch, data, base.epochs, seed)}-control-x{extra_epochs}-lr{learning_rate:g}"
    path, meta_path = _model_dir() / f"{key}.weights.h5", _model_dir() / f"{key}.json"
    loaded = _memo.get(key) or _try_load(arch, path, meta_path)
    from_cache = loaded is not None
    if loaded:
        weights, meta = loaded
    else:
        keras.utils.set_random_seed(seed + extra_epochs)
        model = compile_model(base.model, learning_rate)
        start = time.perf_counter()
        history = train(model, data, extra_epochs, label=f"{arch} dense control ")
        meta = {"key": key, "arch": arch, "extra_epochs": extra_epochs, "learning_rate": learning_rate,
                "history": history, "fit_seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
        weights = model.get_weights()
        _try_save(_fresh(arch, weights, compiled=False), path, meta_path, meta)
    _memo[key] = (weights, meta)
    keras.utils.set_random_seed(seed)
    return Trained(arch=arch, model=compile_model(_fresh(arch, weights, compiled=False), learning_rate),
                   epochs=base.epochs + extra_epochs, seed=seed, history=meta.get("history", {}),
                   fit_seconds=float(meta.get("fit_seconds", 0.0)), from_cache=from_cache,
                   cache_file=path if path.is_file() else None)  # fmt: skip


def clear_memo() -> None:
    _memo.clear()
