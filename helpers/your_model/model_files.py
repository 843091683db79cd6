"""Load a reader's saved model safely: ``.keras``, ``.h5`` or a SavedModel directory.

A model file from elsewhere can carry code. A ``Lambda`` layer stores Python bytecode that runs
when the model is loaded or called; a custom layer or object needs its class, i.e. someone's
code, imported into your kernel. ``load`` reads the file's architecture *before* building the
model, refuses what would run code, and says what it found and how to opt in knowingly:

* ``trust=True`` - you wrote the file or trust its source: Lambda layers are allowed (Keras'
  ``safe_mode=False``) and custom classes are looked up where Keras finds them.
* ``custom_objects={"MyLayer": MyLayer}`` - allow exactly these custom classes (code you imported
  yourself), everything else still checked.

Keras 3 ``.keras`` files (``"keras_version": "3..."``) are loaded with Keras 3 in safe mode and,
for a Sequential or functional model of built-in layers, rebuilt in tf_keras (``keras_compat.to_tf_keras``) so
TF-MOT can work on it. Errors are ``ModelFileError`` with the fix.
"""

from __future__ import annotations

import json
import re
import textwrap
import zipfile
from pathlib import Path

import tf_keras as keras

from .. import config, keras_compat

_SAFE_OPS = {"TFOpLambda", "SlicingOpLambda"}  # tf_keras' records of TensorFlow ops: no Python code


class ModelFileError(config.WorkbookError, ValueError):
    """A model file that cannot be loaded (safely); the message says what was found and what to do."""


_NAMESPACES = ("layers", "initializers", "regularizers", "constraints", "optimizers", "losses", "metrics", "activations")


def _builtin_names() -> set[str]:
    names = {"Sequential", "Functional", "Model", "InputLayer", "DTypePolicy", "Policy", "TensorShape"} | _SAFE_OPS
    for namespace in _NAMESPACES:
        names |= set(dir(getattr(keras, namespace)))
    try:
        import keras as keras3

        for namespace in _NAMESPACES:
            names |= set(dir(getattr(keras3, namespace)))
    except ImportError:  # pragma: no cover - Keras 3 ships with TensorFlow 2.21
        pass
    names |= {"TypeSpec", "TensorSpec", "RaggedTensorSpec", "SparseTensorSpec", "NoneTensorSpec"}  # SavedModel records
    return names - {"Lambda", "Layer"}


def _walk(config_obj, found: dict[str, set[str]], builtin: set[str], inside_layers: bool = False) -> None:
    """Collect Lambda layers and custom classes from a Keras model config (any nesting)."""
    if isinstance(config_obj, dict):
        cls = config_obj.get("class_name")
        name = (config_obj.get("config") or {}).get("name") if isinstance(config_obj.get("config"), dict) else None
        registered = config_obj.get("registered_name")
        if cls == "Lambda":
            found["lambda"].add(name or "?")
        elif isinstance(registered, str) and registered not in ("function",) and ">" in registered:
            found["custom"].add(registered.split(">", 1)[1])
        elif (cls == "function" and str(config_obj.get("module", "")).split(".")[0] not in ("keras", "tf_keras")
              and str(config_obj.get("config")) not in builtin):  # a built-in loss/metric saved by name
            # (tf_keras writes compile(loss=keras.losses.sparse_categorical_crossentropy) as module "builtins")
            found["custom"].add(str(config_obj.get("config")))
        elif inside_layers and isinstance(cls, str) and cls.split(">")[-1] not in builtin:
            found["custom"].add(cls.split(">")[-1])
        for key, value in config_obj.items():
            _walk(value, found, builtin, inside_layers=key == "layers")
    elif isinstance(config_obj, list):
        for value in config_obj:
            _walk(value, found, builtin, inside_layers)


def inspect_file(path) -> dict:
    """What a model file holds, read without building it: ``{"format", "keras_version",
    "lambda": [layer names], "custom": [class names]}``. ``ModelFileError`` if unreadable."""
    path = Path(path)
    builtin = _builtin_names()
    found: dict[str, set[str]] = {"lambda": set(), "custom": set()}
    version = None
    if not path.exists():
        raise ModelFileError(f"No model file at {path}. Check the path (relative to the notebook's folder).")
    try:
        if path.is_dir():
            if not (path / "saved_model.pb").is_file():
                raise ModelFileError(f"{path.name} is a directory without saved_model.pb: not a SavedModel.")
            fmt = "savedmodel"
            meta = path / "keras_metadata.pb"
            text = meta.read_bytes().decode("utf-8", "replace") if meta.is_file() else ""
            for cls in re.findall(r'"class_name": "([^"]+)"', text):
                cls = cls.split(">")[-1]
                if cls == "Lambda":
                    found["lambda"].add("(a SavedModel does not name it)")
                elif cls not in builtin and not cls.startswith("__"):
                    found["custom"].add(cls)
        elif path.suffix == ".keras":
            fmt = "keras"
            with zipfile.ZipFile(path) as z:
                version = json.loads(z.read("metadata.json")).get("keras_version")
                _walk(json.loads(z.read("config.json")), found, builtin)
        elif path.suffix in (".h5", ".hdf5"):
            fmt = "h5"
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                version = f.attrs.get("keras_version")
            if raw is None:
                raise ModelFileError(
                    f"{path.name} holds weights only (no architecture). Build the model in code, then "
                    "`model.load_weights(path)`."
                )
            _walk(json.loads(raw.decode() if isinstance(raw, bytes) else raw), found, builtin)
            version = version.decode() if isinstance(version, bytes) else version
        else:
            raise ModelFileError(
                f"{path.name}: not a model format the workbook reads. Save your model as .keras, .h5 or a "
                "SavedModel directory (`model.save(...)`)."
            )
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"Could not read {path.name} as a {path.suffix or 'SavedModel'} model file: {exc}") from None
    return {"format": fmt, "keras_version": version, "lambda": sorted(found["lambda"]), "custom": sorted(found["custom"])}


def load(path, *, trust: bool = False, custom_objects: dict | None = None):
    """The model in ``path``, loaded in Keras' safe mode, or ``ModelFileError`` saying what unsafe
    content was found and how to opt in (``trust=True`` / ``custom_objects=``). Not compiled."""
    path = Path(path)
    info = inspect_file(path)
    custom_objects = dict(custom_objects or {})
    if info["lambda"] and not trust:
        raise ModelFileError(
            f"{path.name} contains Lambda layer(s) {', '.join(info['lambda'])}: they carry Python code that runs when the "
            "model is loaded and called, and a file from elsewhere could do anything. If you wrote this file or "
            "trust its source, load it with `helpers.your_model.model_files.load(path, trust=True)`; better, replace the "
            "Lambda by a built-in layer and save again."
        )
    unknown = [c for c in info["custom"] if c not in custom_objects]
    if unknown and not trust:
        raise ModelFileError(
            f"{path.name} uses custom classes {', '.join(unknown)}: loading it needs their code. Import that code "
            "yourself (only if you trust it) and pass the classes, e.g. `helpers.your_model.model_files.load(path, "
            f"custom_objects={{{unknown[0]!r}: {unknown[0]}}})`, or `trust=True` to use the classes Keras can find."
        )
    try:
        if info["format"] == "keras" and str(info["keras_version"] or "").startswith("3"):
            import keras as keras3

            model = keras3.saving.load_model(path, compile=False, safe_mode=not trust, custom_objects=custom_objects)
            if keras_compat.structure(model) == "subclassed":
                return model  # the checks say what applies to it
            return keras_compat.to_tf_keras(model)
        if info["format"] == "keras":
            return keras.models.load_model(path, compile=False, safe_mode=not trust, custom_objects=custom_objects)
        return keras.models.load_model(path, compile=False, custom_objects=custom_objects)
    except keras_compat.ModelError:
        raise
    except Exception as exc:  # Keras reports unknown classes, bad files and version gaps in many types
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        missing = [c for c in info["custom"] if c not in custom_objects]
        if missing:  # trust=True looks classes up where Keras finds them: registered ones, not a class in a script
            raise ModelFileError(
                f"{path.name} uses custom classes {', '.join(missing)}, and Keras could not find their code "
                f"({textwrap.shorten(first, 200, placeholder=' …')}). trust=True only allows classes Keras already knows (registered with "
                "`keras.saving.register_keras_serializable`). Import the code that defines them (only if you trust it) "
                f"and pass it: `helpers.your_model.model_files.load(path, custom_objects={{{missing[0]!r}: {missing[0]}}})`."
            ) from None
        keras3 = str(info["keras_version"] or "").startswith("3")
        raise ModelFileError(
            f"Keras could not load {path.name} ({info['format']}, saved by Keras {info['keras_version'] or '?'}): "
            f"{first[:300]}. "
            + ("The workbook loads Keras 3 files with the Keras 3 that TensorFlow installs; a file from a newer Keras 3 "
               "may need that version: load it there, rebuild the model with `import tf_keras as keras` (same layers) "
               "and save it as .h5 or .keras from tf_keras." if keras3 else
               "If it was saved by another Keras version, save it again as .keras from that version; if it needs "
               "custom classes, pass them with custom_objects=.")
        ) from None
