"""Where a reader's own model meets the helpers: checks that turn TF-MOT's and Keras' raw errors
(or worse, silently wrong results) into a ``ModelError`` that names the problem and the fix.

The workbook's own models are Keras 2 (``tf_keras``) Sequential models that output logits for
28x28 images. A model from elsewhere may be none of these:

* ``require_tf_keras``: a Keras 3 model (``import keras``) or something that is no model at all.
  TF-MOT 0.8 only wraps Keras 2 models (REFERENCE pitfalls 1-2); ``to_tf_keras`` rebuilds a
  Keras 3 Sequential model of built-in layers in tf_keras with the same weights.
* ``require_graph_model``: a subclassed model. TF-MOT clones the layer graph, which a subclassed
  model does not expose (pitfall 4).
* ``outputs_probabilities`` / ``looks_like_probabilities`` / ``check_logits``: a model ending in
  a softmax gives probabilities; training it with ``from_logits=True`` or distilling from them
  goes quietly wrong.
* ``check_inputs`` / ``check_labels``: images of another shape than the model takes, one-hot
  labels, a single sigmoid output - each otherwise a deep shape error or a wrong accuracy.
* ``tfmot_error``: TF-MOT's own error for a layer it cannot wrap, rewritten with the ways out.

Low in the import order (config only), so models, the techniques and measure can all use it.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import tf_keras as keras

from . import config

REBUILD_HINT = (
    "Rebuild the same architecture with `import tf_keras as keras` (same layer calls), then copy the "
    "weights: `new.set_weights(old.get_weights())`. For a Keras 3 Sequential or functional model of built-in layers "
    "`helpers.keras_compat.to_tf_keras(old)` does both."
)


class ModelError(config.WorkbookError, ValueError):
    """A model (or data for it) a helper cannot work with; the message says what to change."""


# ----------------------------------------------------------------------------- what kind of model


def flavour(model) -> str:
    """"tf_keras" (Keras 2, what TF-MOT needs), "keras3" (``import keras``) or "other"."""
    if isinstance(model, keras.Model):
        return "tf_keras"
    module = type(model).__module__ or ""
    if module == "keras" or module.startswith("keras."):
        return "keras3"
    return "other"


def structure(model) -> str:
    """"sequential", "functional" or "subclassed" (for Keras 2 and Keras 3 models alike)."""
    names = {cls.__name__ for cls in type(model).__mro__}
    if "Sequential" in names:
        return "sequential"
    if "Functional" in names and type(model).__name__ in ("Functional", "Model"):
        return "functional"
    if getattr(model, "_is_graph_network", False) and type(model).__name__ in ("Functional", "Model"):
        return "functional"
    return "subclassed"


def require_tf_keras(model, technique: str, why: str = "uses TF-MOT, which needs") -> None:
    """Raise ``ModelError`` unless ``model`` is a Keras 2 (``tf_keras``) model. The message reads
    "{technique} {why} a Keras 2 (tf_keras) model, but …": a caller that does not use TF-MOT says why it needs
    one (``why="in this workbook runs on"``)."""
    kind = flavour(model)
    if kind == "tf_keras":
        return
    if kind == "keras3":
        raise ModelError(
            f"{technique} {why} a Keras 2 (tf_keras) model, but this {type(model).__name__} "
            f"was built with Keras 3 (`import keras`). {REBUILD_HINT}"
        )
    raise ModelError(
        f"{technique} needs a Keras model; got a {type(model).__module__}.{type(model).__name__}. Load your "
        "model with `helpers.your_model.model_files.load(path)` or build it with `import tf_keras as keras`."
    )


def require_graph_model(model, technique: str) -> None:
    """Raise ``ModelError`` for a subclassed model (TF-MOT clones the layer graph it lacks)."""
    require_tf_keras(model, technique)
    if structure(model) == "subclassed":
        raise ModelError(
            f"{technique} cannot take the subclassed model {type(model).__name__} ({model.name}): TF-MOT wraps "
            "layers by cloning the model's layer graph, and a subclassed model's graph lives in its Python "
            "`call`. Rebuild it as a Sequential or functional model (`keras.Model(inputs, outputs)`) and copy "
            "the weights; or, inside your class, wrap the layers yourself (e.g. "
            "`tfmot.sparsity.keras.prune_low_magnitude(keras.layers.Dense(...))`)."
        )


def to_tf_keras(model) -> keras.Model:
    """A tf_keras copy of a Keras 3 Sequential or functional model of built-in layers, with the
    same weights (each layer rebuilt from its config and wired as in the original graph).

    Raises ``ModelError`` for subclassed Keras 3 models, layers used more than once, and layers
    tf_keras does not have (rebuild those by hand: ``REBUILD_HINT``)."""
    if flavour(model) == "tf_keras":
        return model
    if flavour(model) != "keras3" or structure(model) == "subclassed":
        raise ModelError(
            f"Only a Keras 3 Sequential or functional model can be rebuilt automatically; {model.name} is "
            f"{structure(model)}. {REBUILD_HINT}"
        )
    if structure(model) == "sequential":
        rebuilt = keras.Sequential([keras.Input(shape=tuple(model.input_shape[1:]))], name=model.name)
        for layer in model.layers:
            rebuilt.add(_rebuild_layer(layer))
    else:
        rebuilt = _rebuild_functional(model)
    for layer in model.layers:
        if layer.weights:
            try:
                rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
            except ValueError as exc:
                raise ModelError(f"Layer {layer.name}'s weights do not fit its rebuilt copy ({exc}). {REBUILD_HINT}") from None
    return rebuilt


def _rebuild_layer(layer):
    name = type(layer).__name__
    cls = getattr(keras.layers, name, None)
    if name == "Lambda":  # its Python function is Keras 3 bytecode/config that tf_keras cannot take over
        raise ModelError(
            f"Layer {layer.name} (Lambda) holds a Python function, which cannot be carried from Keras 3 to tf_keras. "
            "Replace it by a built-in layer (Rescaling, Reshape, Activation, ...) in the Keras 3 model and save again, "
            f"or rebuild the model by hand in tf_keras with the same function in a tf_keras Lambda. {REBUILD_HINT}"
        )
    if cls is None:
        raise ModelError(f"Layer {layer.name} ({name}) has no tf_keras counterpart. {REBUILD_HINT}")
    allowed = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    cfg = {k: _plain(v) for k, v in layer.get_config().items() if k in allowed}
    if name == "MultiHeadAttention":  # tf_keras' from_config reads the build shapes Keras 3 does not save
        cfg.update(query_shape=None, key_shape=None, value_shape=None)
    try:
        return keras.layers.deserialize({"class_name": name, "config": cfg})
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelError(f"Could not rebuild layer {layer.name} ({name}) in tf_keras: {exc}. {REBUILD_HINT}") from None


def _rebuild_functional(model) -> keras.Model:
    """Walk a Keras 3 functional config in order, calling each rebuilt layer on the tensors its
    inbound node names (``keras_history``)."""
    config_ = model.get_config()
    tensors, inputs = {}, []

    def resolve(arg):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            return tensors[arg["config"]["keras_history"][0]]
        if isinstance(arg, (list, tuple)):
            return [resolve(a) for a in arg]
        return arg

    for entry in config_["layers"]:
        name = entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
            tensors[name] = keras.Input(shape=tuple(shape[1:]), name=name)
            inputs.append(tensors[name])
            continue
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ModelError(f"Layer {name} is called {len(nodes)} times; only single-use layers rebuild. {REBUILD_HINT}")
        kwargs = {k: v for k, v in (nodes[0].get("kwargs") or {}).items() if v is not None}
        if any(isinstance(v, dict) or isinstance(v, list) for v in kwargs.values()):
            raise ModelError(f"Layer {name} is called with tensor keyword arguments ({sorted(kwargs)}). {REBUILD_HINT}")
        layer = _rebuild_layer(model.get_layer(name))
        tensors[name] = layer(*[resolve(a) for a in nodes[0]["args"]], **kwargs)
    listed = config_["output_layers"]
    listed = [listed] if listed and isinstance(listed[0], str) else listed  # one output: ["name", 0, 0]
    outputs = [tensors[item[0]] for item in listed]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name)


def _plain(value):
    """A Keras 3 config value as tf_keras reads it: dtype policies become their name and
    serialized objects lose the Keras 3-only fields."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value.get("config", {}).get("name", "float32")
        if "class_name" in value and "config" in value:
            inner = _plain(value["config"])
            for namespace in (keras.initializers, keras.regularizers, keras.constraints):
                cls = getattr(namespace, value["class_name"], None)
                if isinstance(cls, type) and isinstance(inner, dict):
                    allowed = set(inspect.signature(cls.__init__).parameters)
                    inner = {k: v for k, v in inner.items() if k in allowed}
                    break
            return {"class_name": value["class_name"], "config": inner}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------- outputs


def last_activation(model) -> str | None:
    """Name of the activation the model ends with ("softmax", "sigmoid", "linear" ...), or None."""
    layer = model.layers[-1] if getattr(model, "layers", None) else None
    if layer is None:
        return None
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear" if type(layer).__name__ in ("Dense", "Conv2D") else None
    return getattr(activation, "__name__", str(activation))


def outputs_probabilities(model) -> bool:
    """True when the model's last layer is a softmax (its outputs are probabilities, not logits)."""
    return last_activation(model) == "softmax"


def looks_like_probabilities(outputs, atol: float = 1e-3) -> bool:
    """True when every row is non-negative and sums to 1: probabilities, not logits."""
    values = np.asarray(outputs, dtype=np.float64)
    if values.ndim < 2 or values.shape[-1] < 2 or values.size == 0:
        return False
    return bool(np.all(values >= 0) and np.allclose(values.sum(axis=-1), 1.0, atol=atol))


def check_logits(outputs, who: str = "the teacher") -> None:
    """Raise ``ModelError`` when ``outputs`` are probabilities where logits are needed."""
    if looks_like_probabilities(outputs):
        raise ModelError(
            f"The outputs of {who} are probabilities (non-negative, each row sums to 1), but distillation needs "
            "logits: softmax(p / T) of probabilities is nearly uniform, so the soft targets carry almost nothing "
            "and distillation quietly does nothing. Remove the final softmax (activation=None on the last Dense), "
            "or pass np.log(probabilities) - log-probabilities are logits up to a constant."
        )


# ----------------------------------------------------------------------------- inputs and labels


def check_inputs(model, x, what: str = "the images") -> None:
    """Raise ``ModelError`` when ``x`` does not have the shape the model takes."""
    try:
        expected = tuple(model.input_shape[1:])
    except (AttributeError, RuntimeError):  # a subclassed model never called: nothing to compare
        return
    got = tuple(np.shape(x)[1:])
    if len(expected) == len(got) and all(e is None or e == g for e, g in zip(expected, got, strict=True)):
        return
    hint = ""
    if int(np.prod([g for g in got])) == int(np.prod([e for e in expected if e is not None] or [0])):
        hint = f" The sizes match: reshape them, e.g. `x.reshape((-1, {', '.join(str(e) for e in expected)}))`."
    raise ModelError(
        f"{what.capitalize()} have shape {got} per example but {model.name} takes {expected}.{hint} Pass data "
        "shaped like what the model was trained on (and scaled the same way)."
    )


def check_labels(y, outputs: int | None = None) -> np.ndarray:
    """Labels as a 1-D int array, or ``ModelError``: one-hot rows and float labels would make
    ``argmax(logits) == y`` broadcast into a meaningless accuracy."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        raise ModelError(
            f"The labels are one-hot rows of {y.shape[1]}; the helpers take class numbers. Use `y.argmax(axis=1)`."
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ModelError(f"The labels have shape {y.shape}; the helpers take one class number per example.")
    if y.size and (not np.all(np.isfinite(y.astype(np.float64))) or np.any(y != np.round(y))):
        raise ModelError("The labels are not whole class numbers; pass integer labels 0..classes-1.")
    if outputs is not None:
        if outputs < 2:
            raise ModelError(
                "The model has a single output (a binary classifier with a sigmoid?): the workbook measures "
                "accuracy as argmax over classes, which is always 0 here. Give it two logits (Dense(2)) instead."
            )
        if y.size and (y.min() < 0 or y.max() >= outputs):
            raise ModelError(f"Labels run from {y.min()} to {y.max()} but the model has {outputs} outputs.")
    return y.astype(np.int32)


# ----------------------------------------------------------------------------- TF-MOT's errors

_UNSUPPORTED = re.compile(r"Layer (\S+?):<class '([^']+)'> is not supported")
_CALLING = re.compile(r'calling layer "([^"]+)" \(type (\w+)\)')
TFMOT_ERRORS = (ValueError, RuntimeError, TypeError, AttributeError, KeyError)  # what TF-MOT and clone_model raise


def tfmot_error(exc: BaseException, technique: str, model) -> ModelError:
    """TF-MOT's error for ``model`` as a ``ModelError`` that names the layer and the ways out."""
    text = str(exc)
    found = _UNSUPPORTED.search(text)
    if found:
        layer, cls = found.group(1), found.group(2).rsplit(".", 1)[-1]
        return ModelError(
            f"{technique}: TF-MOT's 8-bit QAT has no rule for layer {layer} ({cls}). Ways out: annotate only the "
            "layers it supports (`tfmot.quantization.keras.quantize_annotate_layer` on each, then `quantize_apply`); "
            "move preprocessing such as Rescaling/Normalization out of the model and into the data pipeline; or use "
            "post-training int8 (`helpers.quantization.quantize.convert(model, 'int8', x_train[:200])`), which has no such limit."
        )
    calling = _CALLING.search(text)
    if calling:
        layer, cls = calling.group(1), calling.group(2)
        why = (
            "it is a raw TensorFlow op (e.g. `x + 3` or `tf.nn.relu6(x)` written between layers) that tf_keras "
            "records as a TFOpLambda and cannot re-create with a constant operand"
            if cls in ("TFOpLambda", "SlicingOpLambda") else "tf_keras could not call its rebuilt copy"
        )  # fmt: skip
        return ModelError(
            f"{technique}: TF-MOT copies the model layer by layer and stopped at layer {layer} (type {cls}): {why}. "
            "Ways out: replace that op by a built-in layer (keras.layers.Add, Activation('hard_sigmoid'), ReLU(6.0), "
            "...) and copy the weights; keep this model to the recipes that need no copy (post-training int8 "
            "`helpers.quantization.quantize.convert(model, 'int8', x_train[:200])`, int4 weights with LiteRT "
            "Quantizer). (tf_keras said: " + text.split("Call arguments")[0].strip().splitlines()[-1][:160] + ")"
        )
    if "PruneRegistry" in text or "Please initialize `Prune` with a supported layer" in text:
        cls = text.rsplit("You passed:", 1)[-1].strip().strip("<>").replace("class ", "").strip("'").rsplit(".", 1)[-1]
        return ModelError(
            f"{technique}: TF-MOT cannot prune layers of type {cls}. Keep them dense (prune only the layers "
            "`tfmot.sparsity.keras.prune_low_magnitude` supports, e.g. through `keep_dense=` or a per-layer "
            "schedule dict), or give the layer a `get_prunable_weights` method (`PrunableLayer`)."
        )
    if "Unable to clone model" in text or "Unknown layer" in text or "custom" in text.lower():
        return ModelError(
            f"{technique}: TF-MOT could not copy {model.name}, which usually means custom layers or objects. "
            "Rebuild the model from built-in tf_keras layers, or pass your classes through "
            f"`tfmot.quantization.keras.quantize_scope`. (TF-MOT said: {text.splitlines()[0][:200]})"
        )
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return ModelError(f"{technique} failed inside TF-MOT on {model.name}: {first[:300]}")
