"""Lesson 05's "Design for the budget" exercises: self-checks that say what is off."""

from __future__ import annotations

from ..ui.verdict import number, unanswered, verdict
from . import designs


def predict_arena_head(answer, design: str = "c16s2 c32s2 c64s1 gap") -> bool:
    """Exercise: the bytes of activations TFLM must hold at once for ``design`` (the arena's head),
    from the activation shapes alone: int8, so one byte per value; the largest pair of one layer's
    input and output (the greedy planner reuses everything else)."""
    if unanswered(answer):
        return False
    value = number(answer)
    if value is None:
        return verdict(False, f"{answer!r} is not a number of bytes; write e.g. 4704.")
    e = designs.estimate(design)
    ops = designs.graph(design)
    sizes = [784] + [op.out_bytes for op in ops]
    pairs = [sizes[i] + sizes[i + 1] for i in range(len(ops))]
    a, b = e.peak_pair
    if int(value) in (e.head, a + b):
        return verdict(True, f"{a + b:,} B: {a:,} B in + {b:,} B out, the largest pair alive together ({e.head:,} B "
                              f"once each buffer is rounded up to 16 B). TFLM adds ~{e.tail:,} B of its own "
                              f"bookkeeping, so the arena is about {e.arena:,} B.")
    if int(value) in pairs:
        return verdict(False, f"{int(value):,} B is one layer's input + output, but not the largest pair; "
                               "compute every pair (input 28×28×1, then each layer's output).")
    if int(value) == sum(sizes):
        return verdict(False, "That is every activation at once; TFLM reuses memory: only a layer's input and output "
                               "must be alive together.")
    if int(value) == max(sizes):
        return verdict(False, "That is the largest single activation; its layer's input is alive at the same time.")
    return verdict(False, f"{int(value):,} B is off. Shapes: 'same' padding with stride 2 halves 28 → 14 → 7 "
                           "(rounding up); bytes = height × width × channels.")


def device_pick(answer, models: list[dict], device) -> bool:
    """Exercise: the name of the most accurate model that fits ``device``'s flash and RAM."""
    from . import devices
    if unanswered(answer):
        return False
    best = devices.best_that_fits(models, device)
    if best is None:
        return verdict(False, f"Nothing measured here fits {device.name}; run the footprint cells first.")
    rows = {r.name: r for r in devices.footprint_rows(models, device)}
    picked = rows.get(str(answer).strip())
    if picked is None:
        return verdict(False, f"No model is called {answer!r}; copy a name from the footprint table.")
    if picked.name == best.name:
        return verdict(True, f"{best.name}: {best.accuracy:.2%} with {best.flash:,} B flash and {best.arena:,} B "
                              f"arena, the most accurate model that fits {device.name}.")
    if not picked.fits_flash:
        return verdict(False, f"{picked.name!r} needs {picked.flash:,} B of flash; the device has {device.flash:,} B. "
                               "Flash holds the model as stored: gzip does not help on the device.")
    if not picked.fits_ram:
        return verdict(False, f"{picked.name!r} fits the flash but its tensor arena needs {picked.arena:,} B of RAM; "
                               f"the device has {device.ram:,} B.")
    return verdict(False, f"{picked.name!r} fits, at {picked.accuracy:.2%}; another model that fits both budgets is "
                           "more accurate.")


def student_int8_flash(answer, params: int, measured_bytes: int, tolerance: float = 0.05) -> bool:
    """Exercise 9.1: the flash of a small model in int8, from its parameter count. Right within
    ``tolerance`` (5 %) of the measured file. Rejects the naive one byte per parameter, which
    leaves out what a small file cannot hide: 4-byte biases, per-channel scales and zero-points,
    and the graph itself (for the 22k student, about a tenth of the file)."""
    from ..ui.verdict import file_size_guess

    if unanswered(answer):
        return False
    value = number(answer)
    if value is not None and value > 0 and abs(value / params - 1) <= 0.03 and measured_bytes / params > 1 + tolerance:
        return verdict(False, f"{value:,.0f} B is one byte per parameter; the file is {measured_bytes / params:.2f} B per "
                              "parameter: biases stay 32-bit, every channel stores a scale and a zero-point, and the "
                              "graph (operators, tensor shapes, names) is a fixed cost a small model cannot hide.")
    return file_size_guess(
        answer, params, measured_bytes, tolerance,
        "one byte per weight, 4 per bias, plus scales and the graph",
        [(4, "That is the float32 size (4 bytes per parameter); int8 stores one byte per weight."),
         (1 / 8, "That is one *bit* per parameter; int8 is 8 bits = one byte per weight.")],
        unit="int8 weight",
    )  # fmt: skip
