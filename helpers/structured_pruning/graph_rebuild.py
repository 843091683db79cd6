"""Structured pruning for functional tf_keras models, part 2: the physically narrower model from a plan.

``prune(model, plan)`` rebuilds ``model`` with only the channels ``plan`` (``helpers.structured_pruning.graph.plan``)
keeps, the surviving weights copied; ``compare`` checks that the kept channels compute what they computed before.
"""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from .graph import GraphPruningError, Plan, _as_functional


def _slice_vector(value, idx, width):
    v = np.asarray(value, dtype=np.float64) if value is not None else None
    return v[..., idx].tolist() if v is not None and v.ndim and v.shape[-1] == width and width > 1 else value


def prune(model, p: Plan, name: str | None = None) -> keras.Model:
    """A new functional model with only the channels ``p`` keeps, weights copied (not compiled).

    Conv2D/Dense kernels lose rows (removed input channels, through Flatten: every position) and
    columns (removed filters/units) and bias entries; DepthwiseConv2D kernels (k, k, C, 1) and
    BatchNormalization's four vectors lose the removed channels; per-channel Rescaling/Normalization
    vectors are sliced. ``GraphPruningError`` if ``p`` was planned on another model."""
    graph = p._graph
    model = _as_functional(model)
    if model is not graph.model and [la.name for la in model.layers] != [la.name for la in graph.model.layers]:
        raise GraphPruningError(f"This plan was made for {p.model_name}, not {model.name}: call plan(model) again.")
    cfg = graph.model.get_config()
    cfg["name"] = name or f"{model.name}_pruned"
    for e in cfg["layers"]:
        e.pop("build_config", None)
        kind, c = graph.kind[e["name"]], e["config"]
        if kind == "producer":
            c["units" if "units" in c else "filters"] = len(p.kept_indices(e["name"]))
        elif kind == "vector":
            idx, width = p._index(graph.ins[e["name"]][0]), model.get_layer(e["name"]).input_shape[-1]
            for key in ("scale", "offset", "mean", "variance"):
                if key in c:
                    c[key] = _slice_vector(c[key], idx, width)
    custom = {type(la).__name__: type(la) for la in model.layers}
    narrow = keras.Model.from_config(cfg, custom_objects=custom)
    for layer in model.layers:
        weights, kind = layer.get_weights(), graph.kind[layer.name]
        if not weights:
            continue
        if kind in ("producer", "depthwise", "bn", "vector"):
            idx = p._index(graph.ins[layer.name][0])
            width = layer.input_shape[-1]
        if kind == "producer":
            out = p.kept_indices(layer.name)
            weights = [np.take(np.take(weights[0], idx, axis=-2), out, axis=-1), *[b[out] for b in weights[1:]]]
        elif kind == "depthwise":
            weights = [np.take(weights[0], idx, axis=2), *[b[idx] for b in weights[1:]]]
        elif kind in ("bn", "vector"):
            weights = [w[..., idx] if w.ndim and w.shape[-1] == width else w for w in weights]
        narrow.get_layer(layer.name).set_weights(weights)
    return narrow


def compare(model, narrow, p: Plan, x, layers=None) -> dict[str, float]:
    """Max |difference| between each layer's output in ``model`` (kept channels only) and in
    ``narrow``, on inputs ``x``. ``layers`` defaults to ``p.exact_layers`` (every layer at keep
    1.0): all should be ~0 (float rounding). Shapes must match, else ``GraphPruningError``."""
    model = p._graph.model if model is None else _as_functional(model)
    names = [n for n in (layers or p.exact_layers) if p._graph.kind[n] != "input"]
    wide = keras.Model(model.inputs, [model.get_layer(n).output for n in names])(x, training=False)
    thin = keras.Model(narrow.inputs, [narrow.get_layer(n).output for n in names])(x, training=False)
    wide, thin = (wide, thin) if len(names) > 1 else ([wide], [thin])
    diffs = {}
    for n, a, b in zip(names, wide, thin, strict=True):
        a = np.take(a.numpy(), p.kept_indices(n), axis=-1)
        if a.shape != tuple(b.shape):
            raise GraphPruningError(
                f"{n}: the original's kept channels have shape {a.shape}, the pruned {tuple(b.shape)}."
            )
        diffs[n] = float(np.max(np.abs(a - b.numpy()))) if a.size else 0.0
    return diffs
