"""helpers.plots: the size-vs-accuracy board and the sample grid (Agg backend, nothing shown)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from helpers import data, results
from helpers.baseline import figures as baseline_figures
from helpers.quantization import figures as quantization_figures
from helpers.ui import board_plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def entry(name, size, acc, technique, id_=None):
    return {
        "id": id_ or f"id-{name}",
        "technique": technique,
        "name": name,
        "metrics": {"tflite_gz": size, "tflite_accuracy": acc},
    }


ENTRIES = [
    entry("baseline mlp", 240_000, 0.88, "baseline"),
    entry("pruned 50", 130_000, 0.875, "pruning"),
    entry("pruned 80", 60_000, 0.86, "pruning"),
    entry("pruned 90 bad", 200_000, 0.70, "pruning"),  # dominated
]


def scatter_labels(ax):
    return [c.get_label() for c in ax.collections if isinstance(c, PathCollection)]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_empty_board_says_there_is_nothing_yet():
    fig = board_plots.board([])
    ax = fig.axes[0]
    assert any("No experiments" in t for t in texts(ax))
    assert len(ax.collections) == 0 and len(ax.get_lines()) == 0
    assert ax.get_legend() is None


def test_entries_without_usable_metrics_count_as_empty():
    fig = board_plots.board([{"technique": "pruning", "name": "x", "metrics": {"tflite_accuracy": None}}])
    assert any("No experiments" in t for t in texts(fig.axes[0]))


def test_board_plots_one_series_per_technique_on_a_log_axis():
    fig = board_plots.board(ENTRIES)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert sorted(scatter_labels(ax)) == ["baseline", "pruning"]
    by_label = {c.get_label(): c for c in ax.collections}
    offsets = by_label["pruning"].get_offsets()
    assert len(offsets) == 3
    # x is KiB, y is percent
    np.testing.assert_allclose(sorted(offsets[:, 0]), sorted([130_000 / 1024, 60_000 / 1024, 200_000 / 1024]))
    np.testing.assert_allclose(sorted(offsets[:, 1]), sorted([87.5, 86.0, 70.0]))
    assert not any("No experiments" in t for t in texts(ax))
    legend = ax.get_legend()
    assert legend is not None
    assert {t.get_text() for t in legend.get_texts()} >= {"baseline", "pruning", "Pareto frontier"}


def test_board_draws_the_pareto_frontier_through_the_frontier_points():
    fig = board_plots.board(ENTRIES)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Pareto frontier"]
    assert len(lines) == 1
    front = results.pareto_front(ENTRIES)
    assert [e["name"] for e in front] == ["pruned 80", "pruned 50", "baseline mlp"]
    xs, ys = lines[0].get_data()
    np.testing.assert_allclose(xs, [e["metrics"]["tflite_gz"] / 1024 for e in front])
    np.testing.assert_allclose(ys, [e["metrics"]["tflite_accuracy"] * 100 for e in front])


def test_no_frontier_line_for_a_single_frontier_point():
    one_best = [entry("best", 10_000, 0.9, "pruning"), entry("worse", 20_000, 0.8, "pruning")]
    fig = board_plots.board(one_best)
    assert [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Pareto frontier"] == []


def test_highlight_by_name_rings_and_labels_the_entry():
    fig = board_plots.board(ENTRIES, highlight="pruned 50")
    ax = fig.axes[0]
    assert "pruned 50" in texts(ax)
    assert "pruned 80" not in texts(ax)
    rings = [c for c in ax.collections if c.get_label() not in ("baseline", "pruning")]
    assert len(rings) == 1
    np.testing.assert_allclose(rings[0].get_offsets(), [[130_000 / 1024, 87.5]])


def test_highlight_by_id_and_several_at_once():
    fig = board_plots.board(ENTRIES, highlight=["id-pruned 80", "baseline mlp"])
    labels = texts(fig.axes[0])
    assert "pruned 80" in labels and "baseline mlp" in labels
    assert "pruned 50" not in labels


def test_unknown_technique_still_plots():
    fig = board_plots.board([entry("odd", 1_000, 0.5, "hashing"), entry("odd 2", 2_000, 0.6, "hashing")])
    assert scatter_labels(fig.axes[0]) == ["hashing"]


def test_board_draws_into_a_given_axes_and_uses_the_title():
    fig, (left, right) = plt.subplots(1, 2)
    got = board_plots.board(ENTRIES, title="Lesson 01", ax=right)
    assert got is fig
    assert right.get_title() == "Lesson 01"
    assert len(left.collections) == 0


def tiny_data(per_class=3):
    y = np.repeat(np.arange(10), per_class).astype(np.int32)
    x = np.random.default_rng(0).random((len(y), 28, 28), dtype=np.float32)
    return data.Dataset(
        name="fashion_mnist", source="test", mode="fast",
        x_train=x, y_train=y, x_test=x, y_test=y, class_names=data.FASHION_CLASSES,
    )  # fmt: skip


def test_sample_grid_has_one_titled_panel_per_class():
    ds = tiny_data()
    fig = baseline_figures.sample_grid(ds)
    assert len(fig.axes) == 10
    assert [ax.get_title() for ax in fig.axes] == list(data.FASHION_CLASSES)
    for col, ax in enumerate(fig.axes):
        (image,) = ax.get_images()
        shown = image.get_array()
        assert shown.shape == (28, 28)
        # The image in the panel really is one of that class's training images.
        members = ds.x_train[ds.y_train == col]
        assert any(np.array_equal(shown, m) for m in members)


def test_sample_grid_with_several_rows():
    fig = baseline_figures.sample_grid(tiny_data(), per_class=2)
    assert len(fig.axes) == 20
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:10] == list(data.FASHION_CLASSES)  # only the first row is titled
    assert titles[10:] == [""] * 10


def test_show_board_reads_the_log_for_this_data(isolated_cache):
    ds = tiny_data()
    results.record("pruning", "mine", {"tflite_gz": 1_000, "tflite_accuracy": 0.5}, data=ds, key='test/mine')
    results.record(
        "pruning",
        "other mode",
        {"tflite_gz": 2_000, "tflite_accuracy": 0.6},
        data=type("D", (), {"name": "fashion_mnist", "source": "x", "mode": "full"})(), key='test/other mode')
    fig = board_plots.show_board(ds, highlight="mine")
    ax = fig.axes[0]
    (series,) = [c for c in ax.collections if c.get_label() == "pruning"]
    assert len(series.get_offsets()) == 1
    assert "mine" in texts(ax)


def test_bit_sweep_plot_has_a_line_per_setting_and_float_references():
    fig = quantization_figures.bit_sweep(
        (8, 4, 2), {"MLP per-channel": [0.88, 0.87, 0.3], "MLP per-tensor": [0.88, 0.85, 0.1]}, {"MLP": 0.886}
    )
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] == [
        "MLP per-channel",
        "MLP per-tensor",
    ]
    assert ax.xaxis_inverted() and any("MLP float" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_quantization_grid_is_the_explorers_figure_left_open():
    from helpers import models
    from helpers.quantization import quantize

    view = quantize.explorer_view(models.build_mlp(), "dense_1", 3, True, True)
    fig = quantization_figures.quantization_grid(view, title="static")
    assert fig.axes[0].get_title() == "static" and fig.number in plt.get_fignums()
    assert len(fig.axes[0].collections[0].get_segments()) == len(view.levels) == 7
    plt.close(fig)


def test_every_technique_the_lessons_log_has_its_own_style():
    """The techniques of data/precomputed/ (what every lesson logs in full mode) that a board can
    place each have a style, and no two share one (two grey circles in a legend cannot be told apart)."""
    import json

    from helpers import precomputed
    from helpers.ui import board_plots

    logged = set()
    for lesson in precomputed.LESSONS:  # the lessons' ledgers (not 06_mobilenet.json, a stored run of lesson 06)
        entries = json.loads((precomputed.DIR / f"{precomputed.LESSONS[lesson]}.json").read_text(encoding="utf-8"))["entries"]
        logged |= {e["technique"] for e in board_plots.usable_entries(entries, "tflite_gz")}
    assert {"baseline", "pruning", "structured", "quantization", "low-bit", "design"} <= logged
    assert logged <= set(board_plots.TECHNIQUE_STYLE), logged - set(board_plots.TECHNIQUE_STYLE)
    styles = list(board_plots.TECHNIQUE_STYLE.values())
    assert len(set(styles)) == len(styles) and len({c for c, _ in styles}) == len(styles)
