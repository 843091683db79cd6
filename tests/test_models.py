"""helpers.models: the two baselines, training, and the weights cache (on tiny data only)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tf_keras as keras

from helpers import data, models


def tiny_dataset(n=200, seed=0, name="fashion_mnist", mode="fast") -> data.Dataset:
    """Learnable-ish random images: each class brightens its own band of rows."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.int32)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.5
    for i, label in enumerate(y):
        x[i, 2 * label : 2 * label + 3] += 0.5
    return data.Dataset(
        name=name, source="test", mode=mode,
        x_train=x, y_train=y, x_test=x[:50], y_test=y[:50],
        class_names=data.FASHION_CLASSES,
    )  # fmt: skip


@pytest.fixture
def tiny():
    return tiny_dataset()


@pytest.fixture
def one_epoch(monkeypatch):
    """Every (data, mode) trains one epoch: baseline() with no epochs uses this table."""
    for key in list(models.BASELINE_EPOCHS):
        monkeypatch.setitem(models.BASELINE_EPOCHS, key, {"mlp": 1, "cnn": 1})


def weights_equal(a, b) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


# ----------------------------------------------------------------------------- architectures


def test_mlp_is_lenet_300_100():
    model = models.build_mlp()
    assert model.count_params() == 266_610
    assert [layer.name for layer in model.layers] == ["flatten", "dense_0", "dense_1", "logits"]
    out = model(np.zeros((3, 28, 28), np.float32))
    assert tuple(out.shape) == (3, 10)


def test_cnn_parameter_count_and_shapes():
    model = models.build_cnn()
    assert model.count_params() == 225_034
    out = model(np.random.default_rng(0).random((2, 28, 28), dtype=np.float32))
    assert tuple(out.shape) == (2, 10)


def test_baselines_output_logits_not_probabilities():
    model = models.build_mlp()
    model.set_weights([w * 0 + 1.0 for w in model.get_weights()])  # huge positive logits
    out = np.asarray(model(np.ones((1, 28, 28), np.float32)))
    assert out.max() > 1.0  # a softmax output could never exceed 1


# ----------------------------------------------------------------------------- training


def test_train_rejects_zero_epochs(tiny):
    with pytest.raises(ValueError) as info:
        models.train(models.compile_model(models.build_mlp()), tiny, epochs=0)
    assert "epochs must be at least 1" in str(info.value) and "got 0" in str(info.value)


def test_epoch_line_prints_one_plain_line_per_epoch(tiny, capsys):
    model = models.compile_model(models.build_mlp())
    history = models.train(model, tiny, epochs=2, label="mlp ")
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out
    lines = out.splitlines()
    assert len(lines) == 2
    # The epoch number is right-aligned to two digits ("epoch  1/2"), so allow the padding.
    assert re.search(r"^mlp epoch\s+1/2\s", lines[0])
    assert re.search(r"^mlp epoch\s+2/2\s", lines[1])
    for line in lines:
        assert "train loss" in line and "train acc" in line and "%" in line and line.endswith(" s")
    assert set(history) >= {"loss", "accuracy"} and len(history["loss"]) == 2
    assert all(isinstance(v, float) for v in history["loss"])


def test_epoch_line_for_a_single_epoch(tiny, capsys):
    models.train(models.compile_model(models.build_mlp()), tiny, epochs=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and re.search(r"epoch\s+1/1", lines[0])


# ----------------------------------------------------------------------------- the cache


def test_baseline_trains_once_then_loads_from_disk(tiny, one_epoch, isolated_cache, capsys):
    first = models.baseline("mlp", tiny)
    out = capsys.readouterr().out
    assert first.from_cache is False
    assert first.epochs == 1
    assert "Training the mlp baseline: 1 epochs on 200 images" in out
    key = models.cache_key("mlp", tiny, 1, models.DEFAULT_SEED)
    weights_file = isolated_cache / "models" / f"{key}.weights.h5"
    meta_file = isolated_cache / "models" / f"{key}.json"
    assert weights_file.is_file() and meta_file.is_file()
    assert first.cache_file == weights_file
    meta = json.loads(meta_file.read_text())
    assert meta["arch"] == "mlp" and meta["epochs"] == 1 and meta["data"] == tiny.fingerprint
    assert meta["seed"] == models.DEFAULT_SEED and meta["key"] == key
    assert len(meta["history"]["loss"]) == 1
    # No temporary files left behind by the atomic save.
    assert sorted(p.name for p in (isolated_cache / "models").iterdir()) == sorted([weights_file.name, meta_file.name])

    models.clear_memo()
    second = models.baseline("mlp", tiny)
    assert second.from_cache is True
    assert "Training" not in capsys.readouterr().out
    assert weights_equal(first.model, second.model)
    assert second.history == first.history
    assert "loaded from" in second.describe() and "trained now" in first.describe()


def test_each_call_returns_a_fresh_independent_model(tiny, one_epoch):
    first = models.baseline("mlp", tiny)
    second = models.baseline("mlp", tiny)  # from the in-memory memo
    assert second.from_cache is True
    assert second.model is not first.model
    assert weights_equal(first.model, second.model)
    original = [w.copy() for w in first.model.get_weights()]

    # Compress one copy in place (what prune_low_magnitude & co. effectively do).
    second.model.set_weights([np.zeros_like(w) for w in second.model.get_weights()])
    third = models.baseline("mlp", tiny)
    assert all(np.array_equal(a, b) for a, b in zip(third.model.get_weights(), original, strict=True))
    assert weights_equal(first.model, third.model)

    # Training a copy further does not leak into the next one either.
    models.train(first.model, tiny, epochs=1)
    fourth = models.baseline("mlp", tiny)
    assert all(np.array_equal(a, b) for a, b in zip(fourth.model.get_weights(), original, strict=True))


def test_returned_models_are_compiled_and_work(tiny, one_epoch):
    trained = models.baseline("mlp", tiny)
    model = trained.model
    assert model.optimizer is not None
    result = model.evaluate(tiny.x_test, tiny.y_test, verbose=0, return_dict=True)
    assert set(result) >= {"loss", "accuracy"}
    assert model.predict(tiny.x_test[:4], verbose=0).shape == (4, 10)


def test_retrain_trains_again(tiny, one_epoch, capsys):
    models.baseline("mlp", tiny)
    capsys.readouterr()
    again = models.baseline("mlp", tiny, retrain=True)
    assert again.from_cache is False
    assert "Training the mlp baseline" in capsys.readouterr().out


def test_a_corrupted_cache_file_is_retrained_with_a_warning(tiny, one_epoch, isolated_cache):
    first = models.baseline("mlp", tiny)
    first.cache_file.write_bytes(b"this is not an HDF5 file" * 10)
    models.clear_memo()
    with pytest.warns(UserWarning) as caught:
        again = models.baseline("mlp", tiny)
    message = " ".join(str(w.message) for w in caught)
    assert "training it again" in message
    assert first.cache_file.name in message
    assert again.from_cache is False
    assert again.model.predict(tiny.x_test[:3], verbose=0).shape == (3, 10)
    # The damaged file was replaced by a good one.
    models.clear_memo()
    assert models.baseline("mlp", tiny).from_cache is True


def test_a_corrupted_metadata_file_is_retrained_with_a_warning(tiny, one_epoch, isolated_cache):
    first = models.baseline("mlp", tiny)
    meta = first.cache_file.with_name(first.cache_file.name.replace(".weights.h5", ".json"))
    meta.write_text('{"key": "cut off')
    models.clear_memo()
    with pytest.warns(UserWarning, match="training it again"):
        again = models.baseline("mlp", tiny)
    assert again.from_cache is False


def test_an_unwritable_model_dir_keeps_the_model_in_memory(tiny, one_epoch, blocked_dir, monkeypatch):
    monkeypatch.setattr(models, "_model_dir", lambda: blocked_dir / "models")
    with pytest.warns(UserWarning) as caught:
        trained = models.baseline("mlp", tiny)
    message = " ".join(str(w.message) for w in caught)
    assert "Could not save" in message and "stays in memory" in message
    assert "writable" in message  # the fix
    assert trained.from_cache is False and trained.cache_file is None
    assert trained.model.predict(tiny.x_test[:2], verbose=0).shape == (2, 10)
    again = models.baseline("mlp", tiny)  # the session still has it
    assert again.from_cache is True and weights_equal(trained.model, again.model)


def test_cache_key_changes_with_everything_that_changes_the_weights(tiny):
    base = models.cache_key("mlp", tiny, 3, 42)
    assert models.cache_key("mlp", tiny_dataset(), 3, 42) == base  # same arrays, same key
    variants = {
        "epochs": models.cache_key("mlp", tiny, 4, 42),
        "seed": models.cache_key("mlp", tiny, 3, 7),
        "arch": models.cache_key("cnn", tiny, 3, 42),
        "data": models.cache_key("mlp", tiny_dataset(seed=1), 3, 42),
        "mode": models.cache_key("mlp", tiny_dataset(mode="full"), 3, 42),
        "batch": models.cache_key("mlp", tiny, 3, 42, batch_size=64),
    }
    for what, key in variants.items():
        assert key != base, what
    assert len(set(variants.values())) == len(variants)


def test_different_seeds_are_cached_separately(tiny, one_epoch, isolated_cache):
    a = models.baseline("mlp", tiny, seed=1)
    b = models.baseline("mlp", tiny, seed=2)
    assert a.from_cache is False and b.from_cache is False
    assert not weights_equal(a.model, b.model)
    assert len(list((isolated_cache / "models").glob("*.weights.h5"))) == 2


def test_unknown_architecture_lists_the_choices(tiny):
    with pytest.raises(ValueError) as info:
        models.baseline("resnet", tiny)
    message = str(info.value)
    assert "'resnet'" in message and "choose one of" in message
    assert "mlp" in message and "cnn" in message


@pytest.mark.parametrize("name", ["fashion_mnist", "digits"])
@pytest.mark.parametrize("mode", ["fast", "full"])
def test_every_dataset_and_mode_has_default_epochs(name, mode):
    # load() can return either data set in either mode; baseline() must know how long to train.
    ds = tiny_dataset(n=20, name=name, mode=mode)
    for arch in models.ARCHITECTURES:
        epochs = models.default_epochs(arch, ds)
        assert isinstance(epochs, int) and epochs >= 1


# ----------------------------------------------------------------------------- recipe and randomness


def test_recipe_hash_is_stable_and_follows_the_recipe(monkeypatch):
    first = models.recipe_hash("mlp")
    models.build_mlp()  # building other models must not change it (auto-named Input layers)
    assert models.recipe_hash("mlp") == first != models.recipe_hash("cnn")
    monkeypatch.setattr(models, "LEARNING_RATE", 1e-2)
    assert models.recipe_hash("mlp") != first
    monkeypatch.undo()

    def tanh_mlp():
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(300, activation="tanh", name="dense_0"),
                keras.layers.Dense(100, activation="relu", name="dense_1"),
                keras.layers.Dense(10, name="logits"),
            ],
            name="mlp",
        )

    monkeypatch.setitem(models.ARCHITECTURES, "mlp", tanh_mlp)
    assert models.recipe_hash("mlp") != first  # same shapes, another activation: another model


def test_random_state_after_baseline_is_the_same_trained_or_loaded(tiny, one_epoch):
    models.baseline("mlp", tiny)  # trains
    after_training = models.build_mlp(hidden=(8,)).get_weights()[0]
    models.clear_memo()
    models.baseline("mlp", tiny)  # loads from disk
    after_loading = models.build_mlp(hidden=(8,)).get_weights()[0]
    np.testing.assert_array_equal(after_training, after_loading)


# ----------------------------------------------------------------------------- the dense control


def test_dense_control_is_the_baseline_trained_longer_and_cached(tiny, one_epoch, isolated_cache):
    """The reference: the baseline fine-tuned ``extra_epochs`` more, dense - not the baseline itself
    (the wrong reference, which credits the extra epochs to compression), and trained only once."""
    base = models.baseline("mlp", tiny)
    control = models.dense_control("mlp", tiny, 2)
    assert control.epochs == base.epochs + 2 and len(control.history["loss"]) == 2
    assert not weights_equal(base.model, control.model)
    models.clear_memo()
    again = models.dense_control("mlp", tiny, 2)
    assert again.from_cache is True and weights_equal(control.model, again.model)
    assert not weights_equal(models.dense_control("mlp", tiny, 1).model, control.model)
    assert models.control_name("mlp", 2) == "MLP, dense control +2 epochs"
    assert models.control_name("cnn", 1, 1e-4) == "CNN, dense control +1 epoch at lr 0.0001"
    with pytest.raises(ValueError, match="extra_epochs"):
        models.dense_control("mlp", tiny, 0)
