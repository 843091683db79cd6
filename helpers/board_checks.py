"""Lesson 05's "Design for the budget" exercises: self-checks that say what is off."""

from __future__ import annotations

from . import board_design
from .checks import _number, _unanswered, _verdict


def predict_arena_head(answer, design: str = "c16s2 c32s2 c64s1 gap") -> bool:
    """Exercise: the bytes of activations TFLM must hold at once for ``design`` (the arena's head),
    from the activation shapes alone: int8, so one byte per value; the largest pair of one layer's
    input and output (the greedy planner reuses everything else)."""
    if _unanswered(answer):
        return False
    value = _number(answer)
    if value is None:
        return _verdict(False, f"{answer!r} is not a number of bytes; write e.g. 4704.")
    e = board_design.estimate(design)
    ops = board_design.graph(design)
    sizes = [784] + [op.out_bytes for op in ops]
    pairs = [sizes[i] + sizes[i + 1] for i in range(len(ops))]
    a, b = e.peak_pair
    if int(value) in (e.head, a + b):
        return _verdict(True, f"{a + b:,} B: {a:,} B in + {b:,} B out, the largest pair alive together ({e.head:,} B "
                              f"once each buffer is rounded up to 16 B). TFLM adds ~{e.tail:,} B of its own "
                              f"bookkeeping, so the arena is about {e.arena:,} B.")
    if int(value) in pairs:
        return _verdict(False, f"{int(value):,} B is one layer's input + output, but not the largest pair; "
                               "compute every pair (input 28×28×1, then each layer's output).")
    if int(value) == sum(sizes):
        return _verdict(False, "That is every activation at once; TFLM reuses memory: only a layer's input and output "
                               "must be alive together.")
    if int(value) == max(sizes):
        return _verdict(False, "That is the largest single activation; its layer's input is alive at the same time.")
    return _verdict(False, f"{int(value):,} B is off. Shapes: 'same' padding with stride 2 halves 28 → 14 → 7 "
                           "(rounding up); bytes = height × width × channels.")
