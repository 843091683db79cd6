"""Lesson 05: an honest fit - the model plus what the firmware around it needs, against a device.

A device's flash holds the model *and* the program: TFLM's interpreter, the kernels of the operators
the model uses, the application. Its RAM holds the tensor arena *and* TFLM's objects outside it,
the stack and the application's buffers. ``Runtime`` is that allowance (every default with its
source; edit them for your firmware); ``honest_footprint`` adds it up; ``arena_declaration`` gives the
arena a firmware should declare: 16-byte aligned, with the alignment slack TFLM may lose when it
aligns the start of the buffer it is given (``MicroAllocator::Create`` aligns the arena pointer up
to ``MicroArenaBufferAlignment()`` = 16 and shrinks the usable size by the bytes skipped).

Imports nothing of TensorFlow, so tests and the estimator use it freely.
"""

from __future__ import annotations

import dataclasses

from .. import config

KIB = 1024
ALIGN = 16


class FootprintError(config.WorkbookError, ValueError):
    """A runtime allowance or an arena that makes no sense; the message says which and what to do."""


#: Where each default of ``Runtime`` comes from (shown by the lesson next to the numbers).
SOURCES = {
    "core_flash": "TFLM overview (tensorflow.org/lite/microcontrollers): \"the core runtime just fits in 16 KB on an "
                  "Arm Cortex M3\"",
    "flash_per_op": "same page (earlier version): 22 KB for the core plus the operators of the speech example, i.e. "
                    "~1.5 KB per operator type; rounded up to 2 KiB (optimized CMSIS-NN kernels are larger)",
    "persistent_ram": "assumption: the MicroInterpreter, its op resolver and error reporter live outside the arena "
                      "(a few hundred bytes on a 32-bit build); 1 KiB allowed",
    "stack": "assumption: 2 KiB; Zephyr's default main stack is 1 KiB, TFLM's kernels call a few levels deep "
             "(measure it on the device by stack painting)",
    "app_flash": "assumption: 8 KiB for start-up code, the HAL, a sensor driver and serial output",
    "app_ram": "assumption: 4 KiB for a sensor buffer (one 28×28 image is 784 B), globals and the heap",
}


@dataclasses.dataclass(frozen=True)
class Runtime:
    """What a TFLM firmware needs besides the model and its arena (bytes). Edit any field."""

    core_flash: int = 16 * KIB
    flash_per_op: int = 2 * KIB
    persistent_ram: int = 1 * KIB
    stack: int = 2 * KIB
    app_flash: int = 8 * KIB
    app_ram: int = 4 * KIB

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FootprintError(f"Runtime.{field.name} must be a whole number of bytes ≥ 0, not {value!r}.")

    def flash(self, op_types: int) -> int:
        """Flash for the program: the core, ``op_types`` operator kernels, the application."""
        if isinstance(op_types, bool) or not isinstance(op_types, int) or op_types < 0:
            raise FootprintError(f"op_types must be a count of operator types ≥ 0, not {op_types!r}.")
        return self.core_flash + self.flash_per_op * op_types + self.app_flash

    @property
    def ram(self) -> int:
        """RAM besides the arena: TFLM's objects outside it, the stack, the application."""
        return self.persistent_ram + self.stack + self.app_ram

    def table(self) -> str:
        """A Markdown table of the allowance and where each figure comes from."""
        lines = ["| allowance | bytes | source |", "|---|---|---|"]
        for field in dataclasses.fields(self):
            lines.append(f"| {field.name} | {getattr(self, field.name):,} | {SOURCES[field.name]} |")
        return "\n".join(lines)


NO_RUNTIME = Runtime(0, 0, 0, 0, 0, 0)


def arena_declaration(arena: int, margin: float = 0.0) -> int:
    """Bytes to declare for a measured ``arena``: plus ``margin`` (a fraction), rounded up to 16 B,
    plus 16 B of alignment slack (TFLM aligns the arena's start up to 16 B inside the buffer).
    Declare it ``alignas(16)`` as well; the slack covers a linker that ignores that."""
    if isinstance(arena, bool) or not isinstance(arena, int) or arena <= 0:
        raise FootprintError(f"The arena must be a positive whole number of bytes, not {arena!r}.")
    if not 0 <= margin <= 1:
        raise FootprintError(f"margin is a fraction from 0 to 1 (0.1 = 10 %), not {margin!r}.")
    grown = -(-int(arena * (1 + margin) * 1000) // 1000) if margin else arena  # ceil, robust to float noise
    return -(-grown // ALIGN) * ALIGN + ALIGN


@dataclasses.dataclass(frozen=True)
class HonestFootprint:
    model_flash: int
    runtime_flash: int
    arena: int  # as declared (arena_declaration)
    runtime_ram: int
    flash_budget: int
    ram_budget: int

    @property
    def flash(self) -> int:
        return self.model_flash + self.runtime_flash

    @property
    def ram(self) -> int:
        return self.arena + self.runtime_ram

    @property
    def fits(self) -> bool:
        return self.flash <= self.flash_budget and self.ram <= self.ram_budget

    def line(self) -> str:
        return (f"flash {self.model_flash:,} (model) + {self.runtime_flash:,} (runtime + app) = {self.flash:,} of "
                f"{self.flash_budget:,} B; RAM {self.arena:,} (arena as declared) + {self.runtime_ram:,} "
                f"(TFLM outside the arena, stack, app) = {self.ram:,} of {self.ram_budget:,} B -> "
                + ("fits" if self.fits else "does NOT fit"))


def honest_footprint(model_flash: int, arena: int, op_types: int, flash_budget: int, ram_budget: int,
               runtime: Runtime | None = None) -> HonestFootprint:
    """Model + runtime + application against a device's flash and RAM (bytes)."""
    runtime = Runtime() if runtime is None else runtime
    return HonestFootprint(int(model_flash), runtime.flash(op_types), arena_declaration(int(arena)), runtime.ram,
                     int(flash_budget), int(ram_budget))


def op_types(model: bytes) -> list[str]:
    """The distinct TFLite builtin operators of ``model`` (the kernels a firmware must register)."""
    from tensorflow.lite.python import schema_py_generated as fb

    m = fb.Model.GetRootAsModel(bytes(model), 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    codes = [m.OperatorCodes(i) for i in range(m.OperatorCodesLength())]
    return sorted({names.get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode()), "CUSTOM") for c in codes})
