"""Structured pruning through the layer graph (helpers/structured_pruning/graph.py, graph_rebuild.py), on small
synthetic functional models (residual Add, BatchNorm, depthwise, Rescaling/Normalization, a custom layer) and
MobileNetV2 (alpha 0.35, untrained: sizes and exactness only)."""

import helpers  # noqa: F401, I001 - sets TF_USE_LEGACY_KERAS before TensorFlow loads

import numpy as np
import pytest
import tf_keras as keras

from helpers import measure
from helpers.structured_pruning import graph
from helpers.structured_pruning import graph_rebuild

L = keras.layers
RNG = np.random.default_rng(0)


def _randomize_bn(model, seed=0):
    """Non-trivial gamma, beta, moving mean and variance, so a wrong slice shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 2, c), rng.normal(0, 1, c), rng.normal(0, 1, c), rng.uniform(0.5, 3, c)]
            )
    return model


def _x(shape, n=4):
    return RNG.random((n, *shape), dtype=np.float32)


def _bn_relu(x, name):
    return L.ReLU(name=f"{name}_relu")(L.BatchNormalization(name=f"{name}_bn")(x))


def conv_bn_chain():
    inp = keras.Input((16, 16, 3))
    x = _bn_relu(L.Conv2D(8, 3, padding="same", use_bias=False, name="c0")(inp), "c0")
    x = L.MaxPooling2D(name="pool")(x)
    x = _bn_relu(L.Conv2D(12, 3, padding="same", use_bias=False, name="c1")(x), "c1")
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return _randomize_bn(keras.Model(inp, L.Dense(5, name="logits")(x)))


def resnet_block():
    inp = keras.Input((16, 16, 3))
    stem = _bn_relu(L.Conv2D(8, 3, padding="same", name="stem")(inp), "stem")
    y = _bn_relu(L.Conv2D(8, 3, padding="same", name="a1")(stem), "a1")
    y = L.BatchNormalization(name="a2_bn")(L.Conv2D(8, 3, padding="same", name="a2")(y))
    x = L.ReLU(name="add1_relu")(L.Add(name="add1")([stem, y]))  # identity shortcut
    y = _bn_relu(L.Conv2D(16, 3, strides=2, padding="same", name="b1")(x), "b1")
    y = L.BatchNormalization(name="b2_bn")(L.Conv2D(16, 3, padding="same", name="b2")(y))
    short = L.BatchNormalization(name="proj_bn")(L.Conv2D(16, 1, strides=2, name="proj")(x))  # projection shortcut
    x = L.ReLU(name="add2_relu")(L.Add(name="add2")([short, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return _randomize_bn(keras.Model(inp, L.Dense(10, name="logits")(x)))


def inverted_residual():
    inp = keras.Input((16, 16, 3))
    x = L.BatchNormalization(name="stem_bn")(L.Conv2D(8, 3, padding="same", name="stem")(inp))
    y = L.ReLU(6.0, name="exp_relu")(L.BatchNormalization(name="exp_bn")(L.Conv2D(48, 1, name="expand")(x)))
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = L.ReLU(6.0, name="dw_relu")(L.BatchNormalization(name="dw_bn")(y))
    y = L.BatchNormalization(name="proj_bn")(L.Conv2D(8, 1, name="project")(y))
    x = L.Add(name="add")([x, y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return _randomize_bn(keras.Model(inp, L.Dense(10, name="logits")(x)))


def _relu_cnn(head: str):
    """Conv+ReLU, no BN: a removed filter outputs exactly 0, so the narrow model must equal the wide
    one with the removed filters silenced (kernel and bias zeroed)."""
    inp = keras.Input((12, 12, 3))
    x = L.Rescaling(1 / 255, name="rescale")(inp)
    x = L.Conv2D(6, 3, activation="relu", name="c0")(x)
    x = L.ZeroPadding2D(1, name="pad")(x)
    a = L.Conv2D(8, 3, strides=2, activation="relu", name="c1")(x)
    if head == "concat":
        b = L.Conv2D(4, 3, strides=2, activation="relu", name="c2")(x)
        a = L.Concatenate(name="cat")([a, b])
    x = L.Flatten(name="flat")(a) if head in ("flatten", "concat") else L.GlobalAveragePooling2D(name="gap")(a)
    x = L.Dense(7, activation="relu", name="d0")(x)
    return keras.Model(inp, L.Dense(3, name="logits")(x))


def _silenced(model, p):
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    for g in p.prunable:
        drop = np.setdiff1d(np.arange(g.width), g.kept)
        for name in g.members:
            w = copy.get_layer(name).get_weights()
            w[0][..., drop] = 0
            w[1][drop] = 0
            copy.get_layer(name).set_weights(w)
    return copy


# ----------------------------------------------------------------------------- keep 1.0 is exact


@pytest.mark.parametrize("build", [conv_bn_chain, resnet_block, inverted_residual, lambda: _relu_cnn("flatten"),
                                   lambda: _relu_cnn("gap"), lambda: _relu_cnn("concat")])  # fmt: skip
def test_keep_all_is_identical(build):
    model = build()
    p = graph.plan(model, 1.0)
    narrow = graph_rebuild.prune(model, p)
    x = _x(model.input_shape[1:])
    assert narrow.count_params() == model.count_params()
    assert np.array_equal(model(x).numpy(), narrow(x).numpy())
    assert p.macs_before == p.macs_after and set(p.exact_layers) == {la.name for la in model.layers}
    assert max(graph_rebuild.compare(model, narrow, p, x).values()) == 0.0


# ----------------------------------------------------------------------------- groups and slicing


def test_conv_bn_chain_slices_bn_statistics():
    model = conv_bn_chain()
    p = graph.plan(model, {"c0": 0.5})  # only c0 shrinks: everything up to c1 must match on kept channels
    narrow = graph_rebuild.prune(model, p)
    kept = p.kept_indices("c0")
    assert len(kept) == 4 and narrow.get_layer("c1").kernel.shape == (3, 3, 4, 12)
    for w_old, w_new in zip(
        model.get_layer("c0_bn").get_weights(), narrow.get_layer("c0_bn").get_weights(), strict=True
    ):
        assert np.array_equal(w_old[kept], w_new)  # gamma, beta, moving mean, moving variance
    diffs = graph_rebuild.compare(model, narrow, p, _x((16, 16, 3)))
    assert {"c0", "c0_bn", "c0_relu", "pool"} <= set(diffs) and "c1" not in diffs
    assert max(diffs.values()) < 1e-5
    l1 = np.abs(model.get_layer("c0").kernel.numpy()).sum(axis=(0, 1, 2))
    assert set(kept) == set(np.argsort(-l1)[:4])  # the largest L1 norms survive (Li et al.)
    assert p.macs_after == measure.count_macs(narrow) < p.macs_before == measure.count_macs(model)


def test_bn_criterion_ranks_by_gamma():
    model = conv_bn_chain()
    p = graph.plan(model, {"c0": 0.5}, criterion="bn")
    gamma = np.abs(model.get_layer("c0_bn").gamma.numpy())
    assert set(p.kept_indices("c0")) == set(np.argsort(-gamma)[:4])


def test_resnet_groups_couple_across_add():
    model = resnet_block()
    p = graph.plan(model, 0.5)
    groups = {tuple(sorted(g.members)): g for g in p.groups}
    assert set(groups) == {("a2", "stem"), ("a1",), ("b1",), ("b2", "proj"), ("logits",)}
    assert groups[("logits",)].frozen and groups[("logits",)].keep == 10
    narrow = graph_rebuild.prune(model, p)
    for a, b in (("stem", "a2"), ("b2", "proj")):
        assert np.array_equal(p.kept_indices(a), p.kept_indices(b))
    assert narrow.get_layer("proj").kernel.shape == (1, 1, 4, 8) and narrow.get_layer("b1").kernel.shape == (3, 3, 4, 8)
    assert narrow(_x((16, 16, 3))).shape == (4, 10)
    one = graph.plan(model, {"b2": 0.5})  # only the projection stage: its BNs and the Add must match
    diffs = graph_rebuild.compare(model, graph_rebuild.prune(model, one), one, _x((16, 16, 3)))
    assert {"b2_bn", "proj_bn", "add2", "add2_relu", "gap"} <= set(diffs) and max(diffs.values()) < 1e-5


def test_inverted_residual_depthwise_follows_expand():
    model = inverted_residual()
    p = graph.plan(model, {"expand": 0.25})
    narrow = graph_rebuild.prune(model, p)
    kept = p.kept_indices("expand")
    assert len(kept) == 12 and np.array_equal(p.kept_indices("dw"), kept)
    assert narrow.get_layer("dw").depthwise_kernel.shape == (3, 3, 12, 1)
    assert np.array_equal(
        narrow.get_layer("dw").depthwise_kernel.numpy(), model.get_layer("dw").depthwise_kernel.numpy()[:, :, kept]
    )
    assert narrow.get_layer("project").kernel.shape == (1, 1, 12, 8)
    diffs = graph_rebuild.compare(model, narrow, p, _x((16, 16, 3)))
    assert {"expand", "exp_bn", "exp_relu", "dw", "dw_bn", "dw_relu"} <= set(diffs) and "project" not in diffs
    assert max(diffs.values()) < 1e-5
    both = graph.plan(model, 0.5)
    assert {frozenset(g.members) for g in both.prunable} == {frozenset({"stem", "project"}), frozenset({"expand"})}
    assert graph_rebuild.prune(model, both)(_x((16, 16, 3))).shape == (4, 10)


@pytest.mark.parametrize("head", ["flatten", "gap", "concat"])
def test_narrow_equals_silenced(head):
    """Flatten row mapping, ZeroPadding2D, Concatenate offsets, scalar Rescaling at the input."""
    model = _relu_cnn(head)
    p = graph.plan(model, 0.5)
    narrow = graph_rebuild.prune(model, p)
    x = _x((12, 12, 3)) * 255
    assert np.allclose(narrow(x).numpy(), _silenced(model, p)(x).numpy(), atol=1e-5)
    assert p.macs_after == measure.count_macs(narrow) and narrow.count_params() < model.count_params()
    if head == "flatten":
        assert narrow.get_layer("d0").kernel.shape == (5 * 5 * 4, 4)  # 25 positions x 4 of 8 channels


def test_per_channel_rescaling_and_normalization_are_sliced():
    inp = keras.Input((8, 8, 3))
    x = L.Rescaling([1.0, 2.0, 3.0], offset=[0.1, 0.2, 0.3], name="in_scale")(inp)  # on the frozen input
    x = L.Conv2D(6, 3, name="c0")(x)
    x = L.Rescaling(np.arange(1, 7, dtype=float).tolist(), offset=0.5, name="mid_scale")(x)
    norm = L.Normalization(name="norm")
    norm.adapt(np.random.default_rng(1).normal(size=(20, 6, 6, 6)) * 3 + 1)
    x = L.ReLU(name="relu")(norm(x))
    model = keras.Model(inp, L.Dense(2, name="logits")(L.GlobalAveragePooling2D(name="gap")(x)))
    p = graph.plan(model, {"c0": 3})
    narrow = graph_rebuild.prune(model, p)
    kept = p.kept_indices("c0")
    assert narrow.get_layer("mid_scale").get_config()["scale"] == list(np.arange(1, 7, dtype=float)[kept])
    assert narrow.get_layer("mid_scale").get_config()["offset"] == 0.5
    old, new = model.get_layer("norm").get_weights(), narrow.get_layer("norm").get_weights()  # mean, variance, count
    assert np.array_equal(new[0], old[0][kept]) and np.array_equal(new[1], old[1][kept]) and new[2] == old[2]
    diffs = graph_rebuild.compare(model, narrow, p, _x((8, 8, 3)))
    assert {"mid_scale", "norm", "relu", "gap"} <= set(diffs) and max(diffs.values()) < 1e-5


# ----------------------------------------------------------------------------- errors


class Scale(keras.layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(name="w", shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w


def _custom_model(where: str):
    inp = keras.Input((8, 8, 3))
    x = Scale(name="my_scale")(inp) if where == "input" else inp
    x = L.Conv2D(6, 3, name="c0")(x)
    x = Scale(name="my_scale")(x) if where == "middle" else x
    x = L.Conv2D(4, 3, name="c1")(x)
    return keras.Model(inp, L.Dense(2, name="logits")(L.Flatten()(x)))


def test_custom_layer_clear_error_and_keep():
    model = _custom_model("middle")
    with pytest.raises(
        graph.GraphPruningError, match=r"'my_scale' \(Scale\).*custom layer.*\['c0'\].*keep=\['my_scale'\]"
    ):
        graph.plan(model, 0.5)
    p = graph.plan(model, 0.5, keep=["my_scale"])
    assert [g.members for g in p.prunable] == [("c1",)]
    x = _x((8, 8, 3))
    assert np.array_equal(model(x).numpy(), graph_rebuild.prune(model, graph.plan(model, 1.0, keep=["my_scale"]))(x).numpy())
    graph_rebuild.prune(model, p)(x)
    front = _custom_model("input")  # on the (frozen) input it needs no keep=
    assert np.array_equal(front(x).numpy(), graph_rebuild.prune(front, graph.plan(front, 1.0))(x).numpy())


def test_other_errors_are_clear():
    model = resnet_block()
    with pytest.raises(graph.GraphPruningError, match="logits.*cannot be pruned.*model output"):
        graph.plan(model, {"logits": 0.5})
    with pytest.raises(graph.GraphPruningError, match="not a Conv2D/Dense layer"):
        graph.plan(model, {"gap": 0.5})
    with pytest.raises(graph.GraphPruningError, match="fraction"):
        graph.plan(model, 1.5)
    with pytest.raises(graph.GraphPruningError, match="keep= names 'nope'"):
        graph.plan(model, 0.5, keep=["nope"])
    with pytest.raises(graph.GraphPruningError, match="criterion"):
        graph.plan(model, 0.5, criterion="l3")

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(graph.GraphPruningError, match="subclassed"):
        graph.plan(Sub(), 0.5)
    inp = keras.Input((8, 8, 3))
    a, b = L.Conv2D(4, 1, name="a")(inp), L.Conv2D(4, 1, name="b")(inp)
    mixed = L.Add(name="mix")([L.Concatenate(name="cat")([a, b]), L.Conv2D(8, 1, name="c")(inp)])
    with pytest.raises(
        graph.GraphPruningError, match=r"'mix' \(Add\) merges tensors whose channels are laid out differently"
    ):
        graph.plan(keras.Model(inp, L.Dense(2, name="logits")(mixed)), 0.5)


def test_sequential_and_multiple_of():
    model = keras.Sequential([keras.Input((10,)), L.Dense(32, activation="relu", name="d0"), L.Dropout(0.1),
                              L.Dense(20, activation="relu", name="d1"), L.Dense(3, name="out")])  # fmt: skip
    p = graph.plan(model, 0.3, multiple_of=8)
    assert [g.keep for g in p.prunable] == [16, 8]
    narrow = graph_rebuild.prune(model, p)
    assert [la.kernel.shape for la in narrow.layers if hasattr(la, "kernel")] == [(10, 16), (16, 8), (8, 3)]


# ----------------------------------------------------------------------------- MobileNetV2


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    return _randomize_bn(keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None, classes=10))


def test_mobilenet_v2_end_to_end(mobilenet):
    x = _x((96, 96, 3), n=2)
    full = graph.plan(mobilenet, 1.0)
    assert len(full.prunable) == 25 and len(full.groups) == 26  # 16 blocks + stem + Conv_1; logits frozen
    assert {"block_3_project", "block_4_project", "block_5_project"} in [set(g.members) for g in full.groups]
    same = graph_rebuild.prune(mobilenet, full)
    assert same.count_params() == mobilenet.count_params() and np.array_equal(mobilenet(x).numpy(), same(x).numpy())
    params = {}
    for removed in (0.25, 0.5):
        p = graph.plan(mobilenet, 1 - removed)
        narrow = graph_rebuild.prune(mobilenet, p)
        params[removed] = narrow.count_params()
        assert all(g.keep == max(1, int((1 - removed) * g.width + 0.5)) for g in p.prunable)
        assert narrow(x).shape == (2, 10) and p.macs_after < p.macs_before
        assert max(graph_rebuild.compare(mobilenet, narrow, p, x).values()) < 1e-5  # stem, its BN and the first depthwise
    assert mobilenet.count_params() == 423_018 and params[0.5] < params[0.25] < 423_018
    print("params", mobilenet.count_params(), params)


def test_lesson_06s_shipped_model_prunes_through_its_batchnorm_rescaling_and_residual_add():
    """The model lesson 06 ships (Rescaling, BatchNorm, a residual Add): the chain pruner refuses it and says to use
    the graph pruner; the graph pruner keeps it exact at keep 1.0 and narrows it at 0.5."""
    from helpers.structured_pruning import units
    from helpers.your_model import compress

    model = compress.build_shipped()
    with pytest.raises(units.StructuredPruningError, match="graph pruner"):
        units.rebuild(model, {})
    x = RNG.random((4, *model.input_shape[1:]), dtype=np.float32)
    same = graph_rebuild.prune(model, graph.plan(model, 1.0))
    assert same.count_params() == model.count_params() and np.allclose(model(x).numpy(), same(x).numpy(), atol=1e-5)
    half = graph.plan(model, 0.5)
    narrow = graph_rebuild.prune(model, half)
    assert narrow.count_params() < 0.6 * model.count_params() and half.macs_after < half.macs_before
    assert narrow(x).shape == model(x).shape
