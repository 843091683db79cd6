"""The schedule explorer, driven headlessly: every control, the messages, Run, and a failed run."""

from __future__ import annotations

import pytest
from test_pruning import tiny_data

from helpers import models, results
from helpers.pruning import explorer as pruning_explorer
from helpers.pruning import magnitude


@pytest.fixture
def explorer(isolated_cache):
    d = tiny_data(n=256, n_test=60)
    base = models.compile_model(models.build_mlp())
    models.train(base, d, 1)
    return pruning_explorer.ScheduleExplorer(base, d, d, epochs=2)


def test_defaults_are_valid_and_drawn(explorer):
    assert explorer.last_preview.problems == []
    assert explorer.run_button.disabled is False
    assert explorer.message.value == ""
    assert len(explorer.last_preview.steps) == 2 * explorer.steps_in_epoch


@pytest.mark.parametrize(
    ("control", "value", "words"),
    [
        ("final", 0.3, "Swap"),  # final < initial (0.5)
        ("final", 1.0, "[0, 1)"),
        ("frequency", 0, "frequency = 0"),
        ("end", 0, "end_step 0 &lt;= begin_step 0"),
    ],
)
def test_invalid_settings_show_a_message_and_disable_run(explorer, control, value, words):
    getattr(explorer, control).value = value
    assert words in explorer.message.value
    assert explorer.run_button.disabled is True
    assert explorer.run() is None  # a click on a disabled button does nothing


def test_fixing_the_setting_clears_the_message(explorer):
    explorer.final.value = 0.3
    explorer.final.value = 0.8
    assert explorer.message.value == "" and explorer.run_button.disabled is False


def test_a_schedule_beyond_training_gets_a_note_but_may_run(explorer):
    explorer.end.value = explorer.end.max
    assert "Lower end_step or add epochs" in explorer.message.value
    assert explorer.run_button.disabled is False


def test_constant_kind_disables_the_polynomial_knobs(explorer):
    explorer.kind.value = "constant"
    assert explorer.initial.disabled and explorer.power.disabled and explorer.end.disabled
    assert explorer.settings().kind == "constant"


def test_run_adds_a_point_and_keeps_earlier_ones(explorer):
    explorer.final.value = 0.7
    first = explorer.run()
    explorer.final.value = 0.8
    second = explorer.run()
    names = [e["name"] for e in results.load(data=explorer.eval_data)]
    assert first.name in names and second.name in names and first.name != second.name
    assert "added to the board" in explorer.status.value
    assert explorer.progress.value == explorer.progress.max > 0
    assert explorer.run_button.disabled is False


def test_a_failed_run_is_a_message_and_loses_nothing(explorer, monkeypatch):
    explorer.run()
    before = len(results.load(data=explorer.eval_data))

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(magnitude, "explorer_run", broken)
    assert explorer.run() is not None  # the earlier result is still there
    assert "The run failed: MemoryError: out of memory" in explorer.status.value
    assert len(results.load(data=explorer.eval_data)) == before
    assert explorer.run_button.disabled is False


def test_the_panel_holds_every_control(explorer):
    panel = explorer.panel()
    text = repr(panel)
    for control in ("initial sparsity", "final sparsity", "begin step", "end step", "frequency", "power", "epochs"):
        assert control in text
