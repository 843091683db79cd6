"""Lesson 04's board with latency as a budget too: only models at or under a latency budget (LiteRT,
one image, one thread: ``metrics["latency_b1_us"]``) are shown, on the frontier and exportable.

``LatencyBudgetBoard`` is ``board_explorer.BoardExplorer`` plus one Text box, "latency budget" (empty:
no limit; "20 µs", "20us", "0.02 ms", "20"). A value it cannot read is a message under the box
and no filter; the board and your points stay.
"""

from __future__ import annotations

import math
import re

import ipywidgets as w

from .. import config, i18n
from ..ui.caption import Caption
from ..ui.explorer import _message
from .board_explorer import BoardExplorer

_UNITS = {"": 1.0, "us": 1.0, "µs": 1.0, "μs": 1.0, "ms": 1000.0, "s": 1e6}


class LatencyBudgetError(config.WorkbookError, ValueError):
    """A latency budget that cannot be read; the message says how to write one."""


def parse_latency(value) -> float | None:
    """Microseconds from 20, "20", "20 µs", "20us", "0.02 ms"; None for "" / "none" (no limit).
    Raises ``LatencyBudgetError`` for text it cannot read, an unknown unit, or a budget <= 0."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "no limit")):
        return None
    if isinstance(value, bool):
        raise LatencyBudgetError(f"A latency budget is a time like '20 µs', not {value!r}.")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-zA-Zµμ]*)\s*", str(value))
        if not match:
            raise LatencyBudgetError(f"Could not read {value!r} as a latency; write e.g. '20 µs', '0.05 ms' or leave it empty.")
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit not in _UNITS:
            raise LatencyBudgetError(f"Unknown unit {match.group(2)!r} in {value!r}; use µs (or us), ms or s.")
    us = number * _UNITS[unit]
    if not math.isfinite(us) or us <= 0:
        raise LatencyBudgetError(f"A latency budget must be above zero (got {value!r}); leave it empty for no limit.")
    return us


def within(entries, limit_us: float | None) -> list[dict]:
    """The entries whose one-image latency is known and <= ``limit_us`` (all of them if None)."""
    if limit_us is None:
        return list(entries)
    return [e for e in entries if isinstance((e.get("metrics") or {}).get("latency_b1_us"), (int, float))
            and e["metrics"]["latency_b1_us"] <= limit_us]  # fmt: skip


class LatencyBudgetBoard(BoardExplorer):
    """The board, filtered by a latency budget as well (export: best under both budgets)."""

    def __init__(self, data, budget: str = "25 KB", latency_budget: str = ""):
        self.latency_budget = w.Text(latency_budget, description=i18n.t("latency budget"), placeholder=i18n.t("e.g. 20 µs"),
                                     layout=w.Layout(width="240px"))  # fmt: skip
        self.latency_note = Caption()
        super().__init__(data, budget)
        self.latency_budget.observe(lambda _change: self.update(), names="value")

    def latency_limit(self) -> float | None:
        """The budget in µs (None: no limit or unreadable; then the note says why)."""
        try:
            limit = parse_latency(self.latency_budget.value)
        except LatencyBudgetError as exc:
            self.latency_note.value = _message("error", [f"latency budget: {exc}"])
            return None
        self.latency_note.value = "" if limit is None else _message("note", [f"showing models at or under {limit:g} µs"])
        return limit

    def visible(self) -> list[dict]:
        return within(super().visible(), self.latency_limit())

    def visible_reference(self) -> list[dict]:
        return within(super().visible_reference(), self.latency_limit())

    def panel(self) -> w.Widget:
        base = super().panel()
        export_row = base.children[-1]
        export_row.children = (self.budget, self.latency_budget, self.export_button, self.status)
        return w.VBox([*base.children[:-1], export_row, self.latency_note])
