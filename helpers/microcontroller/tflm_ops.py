"""Which operators of a model TFLM lacks, as TFLM itself says so.

TFLM's C++ code prints "Didn't find op for builtin opcode 'REDUCE_PROD'" when it builds an
interpreter for a model with an operator it has no kernel for, and then fails with a generic
"failed to allocate tensors". ``missing_ops`` builds the interpreter in a child process and reads
that line, so ``tflm`` can name the operator instead of suggesting a bigger arena.
"""

from __future__ import annotations

import re
import subprocess
import sys

TIMEOUT_S = 60
_CODE = (
    "import sys\nfrom tflite_micro import runtime\ntry:\n"
    "    runtime.Interpreter.from_bytes(sys.stdin.buffer.read(), arena_size=1 << 24)\nexcept Exception:\n    pass\n"
)


def missing_ops(model: bytes) -> list[str]:
    """The builtin operators of ``model`` this TFLM build has no kernel for (sorted names, e.g.
    ``["REDUCE_PROD"]``); empty when TFLM found every kernel, or could not be asked."""
    try:
        run = subprocess.run([sys.executable, "-c", _CODE], input=bytes(model), capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return []
    text = run.stdout.decode(errors="replace") + run.stderr.decode(errors="replace")
    return sorted(set(re.findall(r"Didn't find op for builtin opcode '(\w+)'", text)))


def raise_for_missing_ops(model: bytes, error=RuntimeError) -> None:
    """Raise ``error`` naming the operators TFLM lacks, if any (else return): no arena can help then."""
    ops = missing_ops(model)
    if ops:
        raise error(
            f"TFLM has no kernel for {', '.join(ops)}, which this model uses: no arena makes it run. Replace the layer "
            "that makes it (e.g. a reduce-product or a custom op in attention code) by one TFLM supports, or keep this "
            "model for LiteRT (phones, Linux devices)."
        )
