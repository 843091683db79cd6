"""Peak memory of one training epoch and one int8 conversion of a model, in a fresh process: the measurements
behind ``helpers.your_model.memory`` (its constants) and lesson 06's advice for large models.

    python tools/model_memory.py small_resnet|mobilenet|resnet50 [--batches 6]

Prints the process's peak resident memory (Linux: ``VmHWM`` in /proc; Windows: psutil's ``peak_wset``; macOS:
the current resident memory, a lower bound) after ``import helpers``,
after fitting ``--batches`` batches of 128 random 28 x 28 images, and after ``quantize.convert(model, "int8")``,
next to ``memory.estimate``'s terms. ResNet50 is ``tf_keras.applications.ResNet50`` on the images resized to
32 x 32 inside the model, as a reader might bring it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/envelope.py

import helpers  # noqa: E402,I001,F401 - first: sets TF_USE_LEGACY_KERAS before TensorFlow loads


def _peak_gb() -> float:
    """This process's peak resident memory: envelope's /proc reading on Linux; elsewhere psutil's peak working set
    (Windows) or the current size (a lower bound)."""
    from envelope import _hwm

    peak = _hwm(os.getpid())
    if peak:
        return peak / 1e9
    import psutil

    info = psutil.Process().memory_info()
    return getattr(info, "peak_wset", info.rss) / 1e9


def build(name: str):
    import tf_keras as keras

    from helpers.your_model import compress, mobilenet

    if name == "small_resnet":
        return compress.build_shipped()
    if name == "mobilenet":
        return mobilenet.build_mobilenet()
    if name == "resnet50":
        inputs = keras.Input((28, 28), name="image")
        x = keras.layers.Resizing(32, 32)(keras.layers.Reshape((28, 28, 1))(inputs))
        body = keras.applications.ResNet50(input_tensor=x, weights=None, classes=10, classifier_activation=None)
        return keras.Model(inputs, body.output, name="resnet50")
    raise SystemExit(f"unknown model {name!r}: small_resnet, mobilenet or resnet50")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args(argv)
    import numpy as np
    import tf_keras as keras

    from helpers import models
    from helpers.quantization import quantize
    from helpers.your_model import memory

    imported = _peak_gb()
    keras.utils.set_random_seed(0)
    model = models.compile_model(build(args.model))
    rng = np.random.default_rng(0)
    x = rng.random((128 * args.batches, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    trained, fit_s = _peak_gb(), time.perf_counter() - start
    start = time.perf_counter()
    tflite = quantize.convert(model, "int8", x[:200])
    converted, convert_s = _peak_gb(), time.perf_counter() - start
    est = memory.estimate(model, available=0)
    print(f"{model.name}: {model.count_params():,} parameters; int8 .tflite {len(tflite):,} B")
    print(f"  peak after import {imported:.2f} GB, after training {trained:.2f} GB ({fit_s:.0f} s), "
          f"after the int8 conversion {converted:.2f} GB ({convert_s:.0f} s)")
    print(f"  memory.estimate: training step {est.training / 1e9:.2f} GB, conversion {est.conversion / 1e9:.2f} GB, "
          f"recipes' peak {est.peak / 1e9:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
