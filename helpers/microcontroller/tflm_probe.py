"""Does a .tflite model allocate and run in TFLM with a given tensor arena? One process per question.

Started by ``helpers.microcontroller.tflm.smallest_arena`` as ``python _tflm_probe.py model.tflite``; it reads
requests from stdin, one per line, and answers each on stdout:

* ``probe N`` -> ``ok`` or ``fail``: build TFLM's interpreter with an N-byte arena and invoke it
  once on zeros. After a ``fail`` the process exits: TFLM's host interpreter can be left in a bad
  state by a failed allocation and crash (segmentation fault) on a later one, so every probe
  that follows a failure gets a fresh process. A crash costs this process, never the kernel.
* ``record N`` -> the total that TFLM's RecordingMicroAllocator reports with an N-byte arena.

Imports only NumPy and tflite_micro (no TensorFlow), so it starts in a fraction of a second.
"""

import os
import re
import sys
import tempfile

import numpy as np
from tflite_micro import runtime


def run_once(model: bytes, size: int):
    interp = runtime.Interpreter.from_bytes(model, arena_size=int(size))
    detail = interp.get_input_details(0)
    interp.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
    interp.invoke()
    return interp


def recorded_total(model: bytes, size: int) -> int:
    interp = run_once(model, size)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:  # print_allocations writes to the C stderr
        os.dup2(capture.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(match.group(1)) if match else -1


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        model = f.read()
    for line in sys.stdin:
        verb, size = line.split()
        if verb == "record":
            try:
                print(recorded_total(model, int(size)), flush=True)
            except RuntimeError:
                print(-1, flush=True)
            continue
        try:
            run_once(model, int(size))
        except RuntimeError:
            print("fail", flush=True)
            return
        print("ok", flush=True)


if __name__ == "__main__":
    main()
