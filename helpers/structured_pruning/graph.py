"""Structured (filter / unit) pruning for functional tf_keras models, part 1: which channels are coupled, and the plan.

Residual blocks, BatchNorm, depthwise convolutions - the models people bring (MobileNetV2, small ResNets, lesson
06's shipped model), not only chains. ``helpers.structured_pruning.units`` (lesson 01b) prunes Sequential chains of
Dense/Conv2D; this module walks the layer *graph* of a Sequential or functional model (``model.get_config()``),
works out which output channels are **coupled** (must be removed together) and ranks them;
``helpers.structured_pruning.graph_rebuild`` then rebuilds a physically narrower model with the surviving
weights copied.

* Channel groups (union-find): every Conv2D / Dense output starts a group of channels. Layers that
  keep channel ``i`` as channel ``i`` pass the group on: BatchNormalization (gamma, beta, moving mean
  and variance are sliced), DepthwiseConv2D (``depth_multiplier=1``; removing an input channel
  removes that depthwise filter), activations, Dropout, pooling, ZeroPadding2D, Cropping2D,
  UpSampling2D, global pooling, a Reshape that keeps the last axis, per-channel Rescaling /
  Normalization (their vectors are sliced; scalars pass). ``Add``/``Subtract``/``Multiply``/
  ``Average``/``Maximum``/``Minimum`` *merge* the groups of their inputs: channel ``i`` of every
  input must survive or go together, so a residual stage is one group. ``Concatenate`` (last
  axis) lays its inputs' groups side by side. ``Flatten`` maps channel ``c`` of an H x W x C tensor
  to rows ``p * C + c`` (p = 0 .. H*W-1) of the next Dense kernel (channels-last order).
* Never pruned ("frozen"): the model input's channels, every channel reaching a model output (the
  classifier's classes), the groups of layers named in ``keep=``.
* Any other layer (a custom layer, a TFOpLambda such as ``x * 2``, SeparableConv2D, LayerNormalization,
  a grouped or channels_first convolution, a layer used twice ...) is *opaque*: allowed only where
  every channel it receives is frozen, else ``GraphPruningError`` names it and the ways out.
* Saliency, one score per channel of a group: the sum over the group's producing layers of the
  **L1 norm** of each filter's incoming weights (Li et al. 2017, "Pruning Filters for Efficient
  ConvNets", arXiv:1608.08710); or ``criterion="bn"``: the sum of |gamma| of the BatchNormalization
  layers on the group (Liu et al. 2017, "Learning Efficient Convolutional Networks through Network
  Slimming", arXiv:1708.06519; groups without BN fall back to L1). The highest-scoring ``keep``
  indices survive, the same indices in every member of a group.

API: ``p = graph.plan(model, 0.5)`` (or ``{layer: fraction or count}``) -> ``Plan``;
``narrow = graph_rebuild.prune(model, p)``; ``graph_rebuild.compare(model, narrow, p, x)`` -> max |difference|
on the kept channels of every layer whose kept channels pruning cannot change (all layers at keep 1.0; up to
each next conv otherwise). Errors: ``GraphPruningError`` (a ``WorkbookError``) naming the layer and the ways out.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tf_keras as keras

from ..config import WorkbookError

L = keras.layers
_PRODUCERS = (L.Conv2D, L.Dense)
_PASS = (
    L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU, L.Dropout, L.SpatialDropout2D, L.GaussianNoise,
    L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization, L.MaxPooling2D, L.AveragePooling2D,
    L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.ZeroPadding2D, L.Cropping2D, L.UpSampling2D, L.Identity,
)  # fmt: skip
_MERGE = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
_KINDS = {L.DepthwiseConv2D: "depthwise", L.BatchNormalization: "bn", L.Rescaling: "vector", L.Normalization: "vector"}
SUPPORTED = (
    "Conv2D, Dense, DepthwiseConv2D (depth_multiplier=1), BatchNormalization, Rescaling, Normalization, "
    "activations, Dropout, pooling, ZeroPadding2D, Cropping2D, UpSampling2D, Flatten, Reshape (last axis kept), "
    "Add/Subtract/Multiply/Average/Maximum/Minimum, Concatenate (last axis)"
)


class GraphPruningError(WorkbookError, ValueError):
    """A model, plan or setting structured pruning cannot work with; the message says what to do."""


# ----------------------------------------------------------------------------- the graph


def _refs(node) -> list[tuple[str, int, int]]:
    """(layer, node, tensor) references in one serialized inbound node, kwargs included."""
    if isinstance(node, dict):
        return [r for v in node.values() for r in _refs(v)]
    if isinstance(node, (list, tuple)):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int) and isinstance(node[2], int):
            return [(node[0], node[1], node[2]), *(_refs(node[3]) if len(node) > 3 else [])]
        return [r for n in node for r in _refs(n)]
    return []


def _as_functional(model) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise GraphPruningError(f"Expected a tf_keras model (`import tf_keras as keras`), got {type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            raise GraphPruningError(
                f"Sequential model {model.name} has no input yet: begin it with keras.Input(shape)."
            )
        return keras.Model(model.inputs, model.outputs, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise GraphPruningError(
            f"{model.name} is a subclassed {type(model).__name__}: its graph lives in Python `call`, which "
            "structured pruning cannot read. Rebuild it as a functional model (keras.Model(inputs, outputs))."
        )
    return model


def _opaque_reason(layer, ins, n_nodes: int) -> str | None:
    """Why ``layer`` cannot pass channel indices through (None: it can)."""
    t = type(layer)
    if n_nodes > 1:
        return "is used more than once (shared weights)"
    if t in (*_PRODUCERS, L.DepthwiseConv2D) and getattr(layer, "data_format", "channels_last") != "channels_last":
        return "is channels_first"
    if t is L.Conv2D and layer.groups != 1:
        return "is a grouped convolution"
    if t is L.DepthwiseConv2D and layer.depth_multiplier != 1:
        return "has depth_multiplier > 1"
    if t in (L.BatchNormalization, L.Normalization):
        rank = len(layer.input_shape)
        axis = [a % rank for a in np.atleast_1d(layer.axis)]
        return None if axis == [rank - 1] else f"normalizes over axis {layer.axis}, not the channel axis"
    if t is L.Activation and layer.get_config()["activation"] in ("softmax", "log_softmax"):
        return "mixes channels (softmax)"
    if t is L.Reshape:
        same = ins[0][1] == 1 and layer.input_shape[-1] == layer.output_shape[-1]
        return None if same else "changes the last axis (channel order lost)"
    if t in _MERGE and len({(tuple(ly[2]), ly[1]) for ly in ins}) > 1:
        return "merges tensors whose channels are laid out differently (e.g. a Concatenate on one side)"
    if t is L.Concatenate:
        rank = len(layer.output_shape)
        ok = layer.axis % rank == rank - 1 and all(ly[1] == 1 for ly in ins)
        return None if ok else "does not concatenate along the channel axis"
    if t in (*_PRODUCERS, *_MERGE, L.DepthwiseConv2D, L.Rescaling, L.Flatten, L.InputLayer, *_PASS):
        return None
    return "is not a layer structured pruning knows" + (" (a custom layer)" if "keras" not in t.__module__ else "")


class _Graph:
    """Layouts of every tensor: (group ids, positions, widths per group). Union-find over groups."""

    def __init__(self, model):
        self.model = _as_functional(model)
        cfg = self.model.get_config()
        self.parent, self.width = [], []
        self.out, self.ins, self.kind, self.src, self.order = {}, {}, {}, {}, []
        self.frozen, self.opaque = {}, {}
        pending = list(cfg["layers"])
        while pending:
            ready = [e for e in pending if all((r[0], r[2]) in self.out for n in e["inbound_nodes"] for r in _refs(n))]
            if not ready:
                raise GraphPruningError(f"Could not order the layers of {self.model.name} (a cycle or missing input?).")
            for e in ready:
                pending.remove(e)
                self._add(e)
        for ref in cfg["output_layers"]:
            for g in self.out[(ref[0], ref[2])][0]:
                self.frozen.setdefault(g, f"reaches the model output {ref[0]}")

    def _new(self, w: int) -> int:
        self.parent.append(len(self.parent))
        self.width.append(int(w or 0))
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = g = self.parent[self.parent[g]]
        return g

    def _add(self, e):
        name, layer = e["name"], self.model.get_layer(e["name"])
        refs = [r for n in e["inbound_nodes"] for r in _refs(n)]
        self.src[name] = [r[0] for r in refs]
        ins = [self.out[(r[0], r[2])] for r in refs]
        ins = [(segs, pos, [self.width[g] for g in segs]) for segs, pos in ins]
        self.order.append(name)
        self.ins[name] = [(s, p) for s, p, _ in ins]
        t = type(layer)
        reason = _opaque_reason(layer, ins, len(e["inbound_nodes"]))
        if reason is not None:
            self.kind[name], self.opaque[name] = "opaque", reason
            shapes = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
            for i, shape in enumerate(shapes):
                g = self._new(shape[-1] if shape else 0)
                self.frozen[g] = f"comes out of {name} ({t.__name__}), which pruning treats as opaque"
                self.out[(name, i)] = ((g,), 1)
            return
        if t is L.InputLayer:
            g = self._new(layer.output_shape[0][-1])
            self.frozen[g] = "is the model input"
            self.kind[name], self.out[(name, 0)] = "input", ((g,), 1)
            return
        segs, pos, _ = ins[0]
        if t in _PRODUCERS:
            self.kind[name], out = "producer", ((self._new(layer.units if t is L.Dense else layer.filters),), 1)
        elif t in _MERGE:
            for other in ins[1:]:
                for a, b in zip(segs, other[0], strict=True):
                    self.parent[self.find(a)] = self.find(b)
            self.kind[name], out = "merge", (segs, pos)
        elif t is L.Concatenate:
            self.kind[name], out = "concat", (tuple(g for s, _, _ in ins for g in s), 1)
        elif t is L.Flatten:
            positions = math.prod(layer.input_shape[1:-1]) if len(layer.input_shape) > 2 else 1
            self.kind[name], out = "pass", (segs, pos * positions)
        else:  # depthwise, BN, Rescaling, Normalization, pass-through: channel i stays channel i
            self.kind[name], out = _KINDS.get(t, "pass"), (segs, pos)
        self.out[(name, 0)] = out


# ----------------------------------------------------------------------------- the plan


@dataclasses.dataclass
class Group:
    """Coupled channels: ``members`` (Conv2D/Dense layers) lose the same ``width - keep`` channels."""

    members: tuple[str, ...]
    width: int
    keep: int
    kept: np.ndarray  # sorted indices of the surviving channels, shape (keep,)
    frozen: str | None = None  # why this group is never pruned


@dataclasses.dataclass
class Plan:
    """Which channels of which groups survive, and the multiply-accumulates (MACs) per image
    before and after (Conv2D: H_out W_out k_h k_w C_in C_out; DepthwiseConv2D: H_out W_out k_h k_w C;
    Dense: positions x inputs x units). ``exact_layers``: layers whose kept channels the pruning
    cannot change (upstream of any conv that lost input channels) - what ``compare`` checks."""

    model_name: str
    criterion: str
    groups: list[Group]
    macs_before: int
    macs_after: int
    exact_layers: list[str]
    _graph: _Graph = dataclasses.field(repr=False)
    _kept: dict = dataclasses.field(repr=False)

    @property
    def prunable(self) -> list[Group]:
        return [g for g in self.groups if g.frozen is None]

    def kept_indices(self, layer: str, tensor: int = 0, full: bool = False) -> np.ndarray:
        """Original indices of ``layer``'s output channels (features after Flatten) that survive
        (``full``: all of them)."""
        return self._index(self._graph.out[(layer, tensor)], full)

    def _index(self, layout, full: bool = False) -> np.ndarray:
        segs, pos = layout
        parts, offset = [], 0
        for g in segs:
            r = self._graph.find(g)
            parts.append(offset + (np.arange(self._graph.width[r]) if full else self._kept[r]))
            offset += self._graph.width[r]
        channels = np.concatenate(parts) if parts else np.zeros(0, int)
        return channels if pos == 1 else (np.arange(pos)[:, None] * offset + channels[None, :]).ravel()

    def describe(self) -> str:
        lines = [
            f"{self.model_name}: {len(self.prunable)} prunable groups of {len(self.groups)}, MACs "
            f"{self.macs_before:,} -> {self.macs_after:,} ({self.macs_after / max(self.macs_before, 1):.1%})"
        ]
        for g in self.prunable:
            shown = ", ".join(g.members[:3]) + (f" +{len(g.members) - 3}" if len(g.members) > 3 else "")
            lines.append(f"  {g.width:>5} -> {g.keep:<5} {shown}")
        return "\n".join(lines)


def _l1(layer) -> np.ndarray:
    kernel = layer.kernel.numpy()
    return np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)


def plan(model, keep_fraction=0.5, keep=(), criterion: str = "l1", multiple_of: int = 1) -> Plan:
    """Choose the surviving channels of every prunable group.

    ``keep_fraction``: a float in (0, 1] for every prunable group, or ``{layer: fraction or count}``
    naming Conv2D/Dense layers (unnamed groups keep everything; members of one group: the largest
    request wins). Counts are rounded up to ``multiple_of`` (vector units like multiples of 4 or 8),
    at least 1. ``keep``: names of layers never to prune (a Conv2D/Dense: its output channels; any
    other layer: every channel it receives and emits - the way past an opaque layer).
    Raises ``GraphPruningError`` for unknown names, bad fractions, frozen layers asked to shrink and
    opaque layers on prunable channels."""
    if criterion not in ("l1", "bn"):
        raise GraphPruningError(f"criterion must be 'l1' (filter L1 norm) or 'bn' (|BN gamma|), not {criterion!r}.")
    graph = _Graph(model)
    model, find = graph.model, graph.find
    for name in [keep] if isinstance(keep, str) else keep:
        if name not in graph.kind:
            raise GraphPruningError(f"keep= names {name!r}, which is not a layer of {model.name}.")
        touched = [*[g for s, _ in graph.ins[name] for g in s], *graph.out[(name, 0)][0]]
        for g in graph.out[(name, 0)][0] if graph.kind[name] == "producer" else touched:
            graph.frozen.setdefault(g, f"is kept: {name} is listed in keep=")
    frozen = {}
    for g, why in graph.frozen.items():
        frozen.setdefault(find(g), why)
    producers = [n for n in graph.order if graph.kind[n] == "producer"]
    members = {}
    for n in producers:
        members.setdefault(find(graph.out[(n, 0)][0][0]), []).append(n)
    for name, why in graph.opaque.items():
        roots = {find(g) for s, _ in graph.ins[name] for g in s} - set(frozen)
        live = sorted(m for r in roots for m in members.get(r, []))
        if live:
            raise GraphPruningError(
                f"Layer {name!r} ({type(model.get_layer(name)).__name__}) {why}, and it receives prunable channels of "
                f"{live}: structured pruning cannot tell which of its channels to remove. Keep it: pass keep=[{name!r}] "
                f"(its inputs and outputs stay full width), or rebuild it from supported layers: {SUPPORTED}."
            )
    scores = {r: np.zeros(graph.width[r]) for r in members}
    for n in producers:
        scores[find(graph.out[(n, 0)][0][0])] += _l1(model.get_layer(n))
    if criterion == "bn":
        gammas = {}
        for n in graph.order:
            if graph.kind[n] == "bn" and model.get_layer(n).scale and graph.ins[n][0][1] == 1:
                gamma, (segs, _) = np.abs(model.get_layer(n).gamma.numpy()), graph.ins[n][0]
                offset = 0
                for g in segs:
                    r, w = find(g), graph.width[find(g)]
                    gammas[r] = gammas.get(r, 0) + gamma[offset : offset + w]
                    offset += w
        scores.update({r: s for r, s in gammas.items() if r in scores})
    requested = _requests(keep_fraction, producers, graph, frozen, members)
    kept, groups = {}, []
    for r in range(len(graph.parent)):
        if find(r) != r:
            continue
        width = graph.width[r]
        k = width if r in frozen else requested.get(r, width)
        k = min(width, max(1, -(-k // multiple_of) * multiple_of))
        kept[r] = np.arange(width) if k == width else np.sort(np.argsort(-scores[r], kind="stable")[:k])
        if r in members:
            groups.append(Group(tuple(members[r]), width, k, kept[r], frozen.get(r)))
    result = Plan(model.name, criterion, groups, 0, 0, [], graph, kept)
    result.macs_before, result.macs_after, result.exact_layers = _costs(graph, result)
    return result


def _requests(keep_fraction, producers, graph, frozen, members) -> dict[int, int]:
    find = graph.find
    if isinstance(keep_fraction, dict):
        items = keep_fraction.items()
    elif isinstance(keep_fraction, (float, int)) and not isinstance(keep_fraction, bool):
        items = [(m[0], float(keep_fraction)) for r, m in members.items() if r not in frozen]
    else:
        raise GraphPruningError(
            f"keep_fraction must be in (0, 1] or a dict {{layer: fraction or count}}: {keep_fraction!r}"
        )
    requested = {}
    for name, value in items:
        if name not in producers:
            raise GraphPruningError(
                f"{name!r} is not a Conv2D/Dense layer of {graph.model.name}; those are: {producers}."
            )
        r, width = find(graph.out[(name, 0)][0][0]), graph.width[find(graph.out[(name, 0)][0][0])]
        frac, number = isinstance(value, float), isinstance(value, (int, np.integer, float)) and value is not True
        if not number or value is False or not 0 < value <= (1 if frac else width):
            raise GraphPruningError(
                f"{name}: keep a fraction (float) in (0, 1] or a count (int) 1..{width}, not {value!r}."
            )
        count = max(1, int(value * width + 0.5)) if frac else int(value)
        if r in frozen and count < width:
            raise GraphPruningError(f"{name}'s channels cannot be pruned: they {frozen[r]}.")
        requested[r] = max(requested.get(r, 0), count)
    return requested


def _costs(graph: _Graph, p: Plan) -> tuple[int, int, list[str]]:
    """MACs before/after (a depthwise filter sees one channel: C_in = C_out = 1 per channel) and the
    layers whose kept channels are unchanged: no conv/Dense upstream of them lost input channels."""
    before = after = 0
    damaged, exact = set(), []
    for name in graph.order:
        layer, kind, ins = graph.model.get_layer(name), graph.kind[name], graph.ins[name]
        hurt = any(s in damaged for s in graph.src[name])
        if kind in ("producer", "depthwise"):
            cin_full, cin = len(p._index(ins[0], full=True)), len(p._index(ins[0]))
            cout_full, cout = (
                (1, 1) if kind == "depthwise" else (len(p.kept_indices(name, full=True)), len(p.kept_indices(name)))
            )
            per_position = math.prod(layer.output_shape[1:-1]) * math.prod(getattr(layer, "kernel_size", (1,)))
            before, after = before + per_position * cin_full * cout_full, after + per_position * cin * cout
            hurt = hurt or (kind == "producer" and cin < cin_full)
        (damaged.add(name) if hurt else exact.append(name))
    return int(before), int(after), exact
