"""Will lesson 06's recipes fit in this machine's memory? An estimate before anything trains, and a guard
that stops with a message instead of a kernel the operating system kills without a word.

The estimate adds what measurements on this stack showed to dominate (``python tools/model_memory.py MODEL``
reproduces them; numbers in the README's resource table and lesson 06, section 14):

* the kernel after ``import helpers``: 0.72 GB;
* training one batch: 4 copies of the weights (weights, gradients, Adam's two moments) plus the layer
  outputs of a batch kept for the backward pass, twice (the gradients of the same size);
* an int8 conversion, the peak of every recipe: about 0.45 GB of converter state plus 11 copies of the
  weights (ResNet50, 94 MB of float32 weights: 1.61 GB peak while training, 3.05 GB while converting);
* the models lesson 06 keeps alive at once, each with its Adam moments: the pruned model with its masks (4
  copies), the dense control (3), three dense seeds (9), the channel-pruned seeds (about 7 at 75 % and 50 %
  kept), the clustered model (4) and the original: about 30 copies of the weights.

The terms add up: a conversion runs after training in the same process, and the memory TensorFlow took for
training stays with it (MobileNetV2: 1.15 GB after training, 1.60 GB after the int8 conversion). A check against
a whole run: ResNet50 on 32 px images needed about 5.5 GiB (5.9 GB) through these recipes on a 2-core machine
(reported in the workbook's issue 24); the estimate gives 6.2 GB for it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import models
from . import reader_data

GB = 1e9
IMPORTED = 0.72 * GB  # bytes: the kernel after `import helpers` (tools/model_memory.py, README envelope: 0.71 GB)
CONVERTER = 0.45 * GB  # bytes: TFLiteConverter's own state in an int8 conversion, beyond the weights
CONVERT_COPIES = 11  # copies of the float32 weights during an int8 conversion
KEPT_COPIES = 30  # copies of the weights alive at once in lesson 06's recipes (module docstring)


@dataclasses.dataclass
class MemoryEstimate:
    """Bytes the recipes on a model are expected to need at their peak, and what the machine has free.
    ``available`` is None where it cannot be read (then ``fits`` is True: nothing to compare with)."""

    model: str
    weights: int  # float32 bytes of every weight
    training: int  # one training step at ``batch_size``
    conversion: int  # an int8 conversion
    peak: int  # IMPORTED + training + conversion + the models kept alive
    available: int | None
    batch_size: int

    @property
    def fits(self) -> bool:
        return self.available is None or self.peak <= self.available

    def __str__(self) -> str:
        free = "unknown" if self.available is None else f"{self.available / GB:.1f} GB"
        return (f"{self.model}: {self.weights / 1e6:,.1f} MB of float32 weights; the recipes need about "
                f"{self.peak / GB:.1f} GB at their peak (training step at batch {self.batch_size}: "
                f"{self.training / GB:.2f} GB, int8 conversion: {self.conversion / GB:.2f} GB); free now: {free}")  # fmt: skip


def available_bytes() -> int | None:
    """Memory the operating system can still give this process (``psutil.virtual_memory().available``,
    on Linux, macOS and Windows alike), or None when psutil is missing."""
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _activations_per_image(model) -> int:
    total = 0
    for layer in model.layers:
        shape = getattr(layer, "output_shape", None)
        if isinstance(shape, tuple) and all(isinstance(s, (int, type(None))) for s in shape):
            total += int(np.prod([s for s in shape[1:] if s is not None]))
    return total


def estimate(model, batch_size: int = models.BATCH_SIZE, available: int | None = None) -> MemoryEstimate:
    """The peak memory of lesson 06's recipes on ``model`` (the module docstring gives each term and where
    it was measured). ``available``: bytes free, read from the machine when None."""
    weights = 4 * int(model.count_params())
    training = 4 * weights + 2 * 4 * batch_size * _activations_per_image(model)
    conversion = int(CONVERTER) + CONVERT_COPIES * weights
    peak = int(IMPORTED) + training + conversion + KEPT_COPIES * weights
    return MemoryEstimate(model.name, weights, training, conversion, peak,
                          available_bytes() if available is None else available, batch_size)  # fmt: skip


def guard(model, batch_size: int = models.BATCH_SIZE, available: int | None = None) -> MemoryEstimate:
    """``estimate`` and stop before anything heavy runs when it does not fit: raises
    ``reader_data.CapstoneError`` naming the need, what is free and the ways out. Returns the estimate."""
    found = estimate(model, batch_size, available)
    if not found.fits:
        raise reader_data.CapstoneError(
            f"{found}. Running the recipes would likely exhaust memory, and the operating system would end the "
            "kernel without a message. Ways out: close other notebooks and programs; use a smaller input size or a "
            "narrower model (the weights and a batch's layer outputs dominate); set DISTIL = False; or run this "
            "lesson on a machine with more memory (a hosted runtime with 8 GB or more, README 'Colab'). "
            "To try anyway, skip this check (memory.estimate only prints the estimate)."
        )
    return found
