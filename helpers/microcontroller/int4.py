"""Lesson 05: int4 weights written by LiteRT Quantizer (``litert-quantizer``), and whether TFLM runs them.

``static_int8(float_tflite, images, int4_ops)``: LiteRT Quantizer's static recipe (int8
activations, int8 per-channel weights), with 4-bit weights for the operators named in ``int4_ops``
("CONV_2D", "FULLY_CONNECTED", ...; ``ALL`` for every supported operator). The lesson runs the
files on TFLM and shows what the pinned build accepts (measured on tflite-micro 0.dev20261023:
int4 CONV_2D weights run, unpacked into an arena scratch buffer on every invoke; int4
FULLY_CONNECTED weights run per tensor and are refused in Prepare per channel - the check is in
tflite-micro's ``fully_connected_common.cc``).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from . import designs

ALL = "ALL_SUPPORTED"


def static_int8(float_tflite: bytes, images: np.ndarray, int4_ops: tuple[str, ...] = (), calibration: int = 100,
                per_tensor: tuple[str, ...] = ()) -> bytes:
    """A full-integer .tflite from LiteRT Quantizer: ``Quantizer(float, recipe).calibrate(...)`` on
    ``calibration`` of ``images``, then ``quantize``. Weights of ``int4_ops`` get 4 bits, one scale
    per output channel (LiteRT Quantizer's default) or, for the operators also named in
    ``per_tensor``, one scale for the whole tensor (``QuantGranularity.TENSORWISE``): the pinned
    TFLM refuses per-channel int4 FULLY_CONNECTED weights but runs per-tensor ones."""
    from litert_quantizer import qtyping, quantizer, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                              activation_num_bits=8, weight_num_bits=8)
    for op in int4_ops:
        granularity = qtyping.QuantGranularity.TENSORWISE if op in per_tensor else qtyping.QuantGranularity.CHANNELWISE
        manager.add_static_config(".*", getattr(qtyping.TFLOperationName, op), 8, 4, granularity)
    q = quantizer.Quantizer(bytes(float_tflite), manager.get_quantization_recipe())
    x = designs.images(images[:calibration])
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):  # progress bars and size reports
        result = q.calibrate({"serving_default": [{"image": x[i : i + 1]} for i in range(len(x))]})
        return bytes(q.quantize(result, enable_progress_bar=False, enable_progress_report=False).quantized_model)


_RUN = """
import sys
import numpy as np
from tflite_micro import runtime
it = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
d = it.get_input_details(0)
it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
it.invoke()
print("ran")
"""


def tflm_refusal(model: bytes, arena: int = 1 << 20) -> str | None:
    """None when TFLM allocates and runs ``model`` once (``arena`` bytes); else TFLM's own reason,
    the lines it printed (run in a child process: a refusal can leave TFLM unusable, or crash it)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from . import tflm
    tflm._require_tflm("Running a model on TFLM")
    with tempfile.TemporaryDirectory(prefix="tflm-int4-") as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(bytes(model))
        done = subprocess.run([sys.executable, "-c", _RUN, str(path), str(int(arena))], capture_output=True, text=True,
                              timeout=tflm.PROBE_TIMEOUT_S)
    if done.returncode == 0 and "ran" in done.stdout:
        return None
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines()
             if ln.strip() and "Traceback" not in ln and not ln.startswith(("File ", "  "))]
    tflm = [ln for ln in lines if ".cc:" in ln or "failed" in ln.lower() or "Error" in ln]
    return "\n".join(tflm or lines[-3:]) or f"exit code {done.returncode}"
