"""Structured pruning: remove whole units (Dense neurons, Conv2D filters) and rebuild a narrower model.

Unstructured pruning (lesson 01) zeros single weights; the tensors keep their shapes, so a dense
runtime multiplies by every zero. Structured pruning removes whole output units of a layer and the
matching inputs of the layer that consumes them, so the rebuilt model is *physically* smaller:
fewer parameters, fewer multiply-accumulates (MACs), a smaller raw file and - on any runtime - less
work. Lesson 01b teaches it.

Saliency: the **L1 norm** of a unit's incoming weights (for a Conv2D filter: the sum of the
absolute values of its k x k x C_in kernel). This is the criterion of Li et al., *Pruning Filters
for Efficient ConvNets* (ICLR 2017, arXiv:1608.08710), who found L1 and L2 gave the same ranking
quality; L1 is the one they report and the cheaper one. Units with small incoming weights produce
small pre-activations, so removing them changes the next layer's input least.

Supported models: ``Sequential`` models (or functional chains) built from ``Dense``, ``Conv2D``
(channels last), ``MaxPooling2D``/``AveragePooling2D``, ``Flatten``, ``Reshape`` (before any
pruned layer), ``Dropout``, ``Activation`` and ``InputLayer`` - the workbook's MLP and CNN. A pruned
Conv2D may feed a ``Flatten`` then a ``Dense``: the Dense loses the rows of the removed channels at
every spatial position (channels-last flattening: row = position * C + channel). The last kernel
layer (the logits) keeps its width: its units are the classes.

Widths are a dict ``{layer name: units kept}``; layers not named keep all their units.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tf_keras as keras

from .. import config, measure

_PASS_THROUGH = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.Dropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.ZeroPadding2D,  # pads space, keeps every channel where it was (DenseNet, MobileNet stems)
    keras.layers.InputLayer,
)


GRAPH_PRUNER = (
    "For BatchNormalization, Rescaling, residual additions, depthwise convolutions or any other functional model, "
    "use the graph pruner: `p = helpers.structured_pruning.graph.plan(model, keep_fraction)`, then "
    "`helpers.structured_pruning.graph_rebuild.prune(model, p)`."
)


class StructuredPruningError(config.WorkbookError, ValueError):
    """Widths or a model structured pruning cannot work with; the message says what to change."""


# ----------------------------------------------------------------------------- saliency


def unit_saliency(layer, norm: str = "l1") -> np.ndarray:
    """One score per output unit of a Dense or Conv2D ``layer``: the L1 (default) or L2 norm of
    the unit's incoming kernel weights. Shape (units,) for Dense, (filters,) for Conv2D."""
    if not measure.is_kernel_layer(layer):
        raise StructuredPruningError(f"{layer.name} is a {type(layer).__name__}; only Dense and Conv2D have units to rank.")
    if norm not in ("l1", "l2"):
        raise StructuredPruningError(f"norm must be 'l1' or 'l2', not {norm!r}.")
    kernel = layer.kernel.numpy()
    flat = kernel.reshape(-1, kernel.shape[-1])  # (inputs [x k x k], units)
    return np.abs(flat).sum(axis=0) if norm == "l1" else np.sqrt((flat**2).sum(axis=0))


def _layer_width(layer) -> int:
    return int(layer.units if isinstance(layer, keras.layers.Dense) else layer.filters)


def prunable_layers(model) -> list[str]:
    """Names of the layers whose units may be removed: every Dense/Conv2D but the last (the logits)."""
    return [layer.name for layer in measure.kernel_layers(model)[:-1]]


def full_widths(model) -> dict[str, int]:
    """``{layer: units}`` of every prunable layer as the model has them now."""
    return {name: _layer_width(model.get_layer(name)) for name in prunable_layers(model)}


def check_widths(model, widths: dict) -> dict[str, int]:
    """``widths`` completed with the full width of every prunable layer not named, as ints.

    Raises ``StructuredPruningError`` for an unknown or unprunable layer (the logits, a pooling
    layer), a width that is not a whole number, below 1 or above the layer's units, or a model
    with a layer the rebuild does not know."""
    _walk(model)  # rejects unsupported structures first
    full = full_widths(model)
    if not isinstance(widths, dict):
        raise StructuredPruningError(f"widths must be a dict {{layer name: units kept}}, not {type(widths).__name__}.")
    done = dict(full)
    for name, value in widths.items():
        if name not in full:
            kernel_names = [la.name for la in measure.kernel_layers(model)]
            why = (
                "it is the output layer: its units are the classes"
                if kernel_names and name == kernel_names[-1]
                else "it has no units to remove" if name in [la.name for la in model.layers] else "there is no such layer"
            )
            raise StructuredPruningError(f"Cannot set the width of {name!r}: {why}. Prunable layers: {sorted(full)}.")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or float(value) != int(value):
            raise StructuredPruningError(f"{name}: the width must be a whole number of units, not {value!r}.")
        value = int(value)
        if value < 1:
            raise StructuredPruningError(
                f"{name}: keep at least 1 unit (asked for {value}); a layer with 0 units cuts the network in two."
            )
        if value > full[name]:
            raise StructuredPruningError(
                f"{name} has {full[name]} units; cannot keep {value}. Choose 1 to {full[name]}."
            )
        done[name] = value
    return done


def keep_indices(model, widths: dict, norm: str = "l1") -> dict[str, np.ndarray]:
    """For each prunable layer, the indices (ascending) of the ``widths[layer]`` units with the
    largest saliency. Ties keep the lower index (stable sort)."""
    widths = check_widths(model, widths)
    kept = {}
    for name, k in widths.items():
        scores = unit_saliency(model.get_layer(name), norm)
        order = np.argsort(-scores, kind="stable")
        kept[name] = np.sort(order[:k])
    return kept


# ----------------------------------------------------------------------------- rebuild


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """One kernel layer after pruning: inputs per unit (fan-in), units, MACs per image, parameters."""

    layer: str
    kind: str  # "Dense" or "Conv2D"
    fan_in: int
    units: int
    macs: int
    params: int


def _walk(model):
    """The model's layers, checked: each is a kind the rebuild knows."""
    layers = list(model.layers)
    if not layers:
        raise StructuredPruningError("The model has no layers.")
    for layer in layers:
        if measure.is_kernel_layer(layer):
            if type(layer) not in (keras.layers.Dense, keras.layers.Conv2D):
                raise StructuredPruningError(
                    f"{layer.name} is a {type(layer).__name__}; structured pruning here handles plain Dense and Conv2D."
                )
            if isinstance(layer, keras.layers.Conv2D) and layer.data_format != "channels_last":
                raise StructuredPruningError(f"{layer.name} is channels_first; rebuild it channels_last first.")
            if isinstance(layer, keras.layers.Conv2D) and layer.groups != 1:
                raise StructuredPruningError(f"{layer.name} is a grouped convolution; not supported.")
        elif not isinstance(layer, (*_PASS_THROUGH, keras.layers.Flatten, keras.layers.Reshape)):
            raise StructuredPruningError(
                f"{layer.name} is a {type(layer).__name__}, which structured pruning here cannot pass unit indices "
                "through (supported: Dense, Conv2D, pooling, ZeroPadding2D, Flatten, Reshape, Dropout, Activation, ReLU). "
                + GRAPH_PRUNER
            )
    if not isinstance(model, keras.Sequential):
        names = [la.name for la in layers]
        for i, layer in enumerate(layers[1:], start=1):
            inbound = [n.inbound_layers for n in layer._inbound_nodes]
            flat = [x for node in inbound for x in (node if isinstance(node, list) else [node])]
            if [x.name for x in flat] != [names[i - 1]]:
                raise StructuredPruningError(
                    f"{layer.name} does not take its input from the layer before it only; "
                    "structured pruning here handles chains of layers (a Sequential model). " + GRAPH_PRUNER
                )
    return layers


def _plan(model, widths: dict[str, int], kept: dict[str, np.ndarray] | None):
    """Walk the chain once: for each kernel layer its new fan-in rows/channels and cost.

    Returns (per-layer dict name -> (in_index or None, out_index or None), costs)."""
    plan, costs = {}, []
    channels = None  # indices of the surviving channels of the current tensor (None = all)
    spatial = None  # (positions, full channels) when the tensor was flattened from H x W x C
    for layer in model.layers:
        if isinstance(layer, keras.layers.Flatten):
            shape = layer.input_shape
            if channels is not None and len(shape) == 4:
                spatial = (int(shape[1] * shape[2]), int(shape[3]))
            continue
        if isinstance(layer, keras.layers.Reshape) and channels is not None:
            raise StructuredPruningError(
                f"{layer.name}: a Reshape after a pruned layer is not supported (the unit order is lost)."
            )
        if not measure.is_kernel_layer(layer):
            continue
        full_in = int(layer.kernel.shape[-2])
        if channels is None:
            rows = None
            fan_in_channels = full_in
        elif spatial is not None:
            positions, full_c = spatial
            rows = (np.arange(positions)[:, None] * full_c + channels[None, :]).ravel()
            fan_in_channels = len(rows)
        else:
            rows = channels
            fan_in_channels = len(rows)
        units = widths.get(layer.name, _layer_width(layer))
        out = None
        if layer.name in widths and widths[layer.name] < _layer_width(layer):
            out = kept[layer.name] if kept is not None else np.arange(widths[layer.name])
        plan[layer.name] = (rows, out)
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            _, h, w, _ = layer.output_shape
            fan_in = kh * kw * fan_in_channels
            macs = h * w * fan_in * units
        else:
            fan_in = fan_in_channels
            macs = fan_in * units
        params = fan_in * units + (units if layer.use_bias else 0)
        costs.append(LayerCost(layer.name, type(layer).__name__, fan_in, units, int(macs), int(params)))
        channels, spatial = out, None  # the next layer sees this layer's surviving units
    return plan, costs


def layer_costs(model, widths: dict | None = None) -> list[LayerCost]:
    """Predicted fan-in, units, MACs and parameters of every kernel layer after keeping ``widths``
    units (no model is built: cheap enough for a live widget). Conv2D MACs = H_out x W_out x
    k x k x C_in x C_out; Dense MACs = inputs x units (as ``measure.count_macs``)."""
    widths = check_widths(model, widths or {})
    return _plan(model, widths, None)[1]


def predict_macs(model, widths: dict | None = None) -> int:
    """MACs per image of the model pruned to ``widths`` (kernel layers, as ``measure.count_macs``)."""
    return sum(c.macs for c in layer_costs(model, widths))


def predict_params(model, widths: dict | None = None) -> int:
    """Parameters of the model pruned to ``widths`` (layers without weights have none)."""
    return sum(c.params for c in layer_costs(model, widths))


def rebuild(model, widths: dict, norm: str = "l1", name: str | None = None) -> keras.Sequential:
    """A new, physically narrower Sequential model: each prunable layer keeps the ``widths[layer]``
    units of largest saliency (``keep_indices``), with their trained weights; the layer after it
    keeps only the matching inputs (through pooling and Flatten). Not compiled.

    Before any fine-tuning, the rebuilt model's surviving units compute exactly what they computed
    in ``model`` (tested): removing a ReLU unit's output is the same as zeroing its outgoing weights.
    Raises ``StructuredPruningError`` for bad widths or an unsupported model."""
    widths = check_widths(model, widths)
    kept = keep_indices(model, widths, norm)
    plan, _ = _plan(model, widths, kept)
    new_layers = [keras.Input(shape=model.input_shape[1:])]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config_ = layer.get_config()
        if layer.name in widths:
            config_["units" if isinstance(layer, keras.layers.Dense) else "filters"] = widths[layer.name]
        new_layers.append(type(layer).from_config(config_))
    narrow = keras.Sequential(new_layers, name=name or f"{model.name}_narrow")
    for layer in model.layers:
        if not measure.is_kernel_layer(layer):
            continue
        rows, out = plan[layer.name]
        kernel = layer.kernel.numpy()
        bias = layer.bias.numpy() if layer.use_bias else None
        if rows is not None:
            kernel = np.take(kernel, rows, axis=-2)
        if out is not None:
            kernel = np.take(kernel, out, axis=-1)
            bias = bias[out] if bias is not None else None
        narrow.get_layer(layer.name).set_weights([kernel] if bias is None else [kernel, bias])
    return narrow


def describe_widths(model, widths: dict) -> str:
    """'dense_0 300->60, dense_1 100->40' for the layers that lose units (or 'full width')."""
    widths = check_widths(model, widths)
    full = full_widths(model)
    parts = [f"{n} {full[n]}->{k}" for n, k in widths.items() if k < full[n]]
    return ", ".join(parts) if parts else "full width"


def zero_units(model, widths: dict, norm: str = "l1"):
    """A copy of ``model`` with the units ``rebuild`` would remove still present but silenced
    (incoming weights and bias set to 0). With ReLU or linear activations (f(0) = 0) it computes
    exactly what ``rebuild(model, widths)`` computes - at the full width's cost."""
    from .. import models
    widths = check_widths(model, widths)
    kept = keep_indices(model, widths, norm)
    copy = models.copy_model(model)
    for name in widths:
        layer = copy.get_layer(name)
        drop = np.setdiff1d(np.arange(_layer_width(layer)), kept[name])
        weights = layer.get_weights()
        weights[0][..., drop] = 0.0
        if layer.use_bias:
            weights[1][drop] = 0.0
        layer.set_weights(weights)
    return copy
