"""Does the converted model still compute what the Keras model computes? A check after every conversion.

``measure.measure`` already runs the Keras model and the .tflite on the same test images; this
module compares the two sets of outputs (no extra inference) and, when they disagree, says why
it probably happened:

* NaN or infinite outputs (an overflow, or a float model that already gives NaN);
* int8 input whose quantization range does not cover the data: the representative (calibration)
  images were scaled differently from the data the model is measured on (0-255 vs 0-1, say);
* ops that fell back to TensorFlow (Flex) or custom ops;
* otherwise: quantization error too large for this model (fewer bits, or QAT/fine-tuning needed).

A disagreement is flagged with a ``ConversionWarning`` (shown in the notebook, never fatal): the
measured numbers stay, and the warning says what to check.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np

from . import i18n

SAMPLES = 300  # images compared: enough to see a broken conversion, cheap enough for every measure
MIN_AGREEMENT = 0.8  # top-1 agreement below this is flagged (int8 PTQ of a trained model agrees ~99 %, a 3-bit
# QAT MLP ~84 %, a conversion calibrated on wrongly scaled images <10 %) ...
MAX_DROP = 0.02  # ... when the .tflite is also this much less accurate (near-tied logits of an untrained
# model flip between classes without any loss: not a broken conversion)


class ConversionWarning(UserWarning):
    """The converted model's predictions disagree with the Keras model's."""


_default_format = warnings.formatwarning


def _format(message, category, filename, lineno, line=None):
    """A ConversionWarning shows as its message alone: the file and line of the helper that raised
    it say nothing to a reader (and would put a path into every saved notebook). In a Chinese notebook the
    message is in Chinese (``i18n.caption``, the "prints" templates)."""
    if issubclass(category, ConversionWarning):
        return f"{category.__name__}: {i18n.caption(str(message))}\n"
    return _default_format(message, category, filename, lineno, line)


warnings.formatwarning = _format

#: A warning line as ``_format`` writes it: the category, then the message alone.
_WARNING_LINE = re.compile(r"(ConversionWarning: )(.+)")


def warnings_in_chinese(text: str, folder=None) -> str:
    """Printed stderr ``text`` with each ``ConversionWarning: …`` line's message in Chinese
    (``i18n.caption_in_chinese``), as ``_format`` writes it in a Chinese notebook; every other line unchanged.
    ``tools/translate.py`` applies it to the committed Chinese lessons' stderr."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _WARNING_LINE.fullmatch(body)
        out.append((match.group(1) + i18n.caption_in_chinese(match.group(2), folder) if match else body) + line[len(body):])
    return "".join(out)


@dataclasses.dataclass(frozen=True)
class Agreement:
    samples: int
    top1: float  # fraction of images where both models pick the same class
    nonfinite: int  # NaN/inf values in the converted model's outputs
    causes: tuple[str, ...]  # likely causes, when flagged
    accuracy_drop: float = float("nan")  # Keras accuracy minus .tflite accuracy on these images (labels given)

    @property
    def flagged(self) -> bool:
        lost = not self.accuracy_drop < MAX_DROP  # NaN (no labels) counts as lost
        return self.nonfinite > 0 or (self.top1 < MIN_AGREEMENT and lost)

    def message(self, name: str = "the converted model") -> str:
        what = (
            f"{self.nonfinite} NaN/inf outputs"
            if self.nonfinite
            else f"the same class on only {self.top1:.0%} of {self.samples} images"
        )
        return f"{name}: the .tflite and the Keras model disagree ({what}). Likely causes: " + " ".join(
            f"({i}) {c}" for i, c in enumerate(self.causes, start=1)
        )


def _op_names(tflite: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    try:
        return [op["op_name"] for op in Interpreter(model_content=tflite)._get_ops_details()]
    except (AttributeError, RuntimeError, ValueError):  # an internal API: diagnosis only, never fatal
        return []


def _input_range(tflite: bytes) -> tuple[float, float] | None:
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_content=tflite).get_input_details()[0]
    if np.dtype(detail["dtype"]) == np.float32:
        return None
    scale, zero_point = detail["quantization"]
    if not scale:
        return None
    info = np.iinfo(detail["dtype"])
    return (info.min - zero_point) * scale, (info.max - zero_point) * scale


def likely_causes(
    tflite: bytes, x: np.ndarray, converted: np.ndarray, reference: np.ndarray, qat: bool = False
) -> list[str]:
    """The causes that the evidence supports, most specific first. ``qat``: the Keras model is a
    quantization-aware one, which already simulates the quantized arithmetic."""
    causes = []
    if not np.all(np.isfinite(reference)):
        causes.append("the Keras model itself gives NaN/inf on these images: check its weights and the data.")
    elif not np.all(np.isfinite(converted)):
        causes.append("an op overflowed in the converted model (NaN/inf only there): look for huge activations.")
    span = _input_range(tflite)
    if span is not None:
        lo, hi = span
        outside = float(np.mean((x < lo - 1e-6) | (x > hi + 1e-6)))
        used = (float(np.max(x)) - float(np.min(x))) / (hi - lo) if hi > lo else 1.0
        if outside > 0.01 or used < 0.05:
            causes.append(
                f"the int8 input range [{lo:.3g}, {hi:.3g}] was calibrated on representative images scaled differently "
                f"from these (which span [{float(np.min(x)):.3g}, {float(np.max(x)):.3g}]): pass calibration images "
                "preprocessed exactly like the data (e.g. both divided by 255)."
            )
    fallbacks = sorted({name for name in _op_names(tflite) if name.startswith("Flex") or name == "CUSTOM"})
    if fallbacks:
        causes.append(f"ops fell back to TensorFlow or custom kernels ({', '.join(fallbacks)}), which run differently.")
    if not causes and qat:
        causes.append(
            "the Keras model is quantization-aware, so it already simulates the quantized arithmetic: a disagreement "
            "means the converter did not reproduce it (grids other than int8 are stored on the int8 grid, activation "
            "ranges are rounded differently). Check the converted file's stored values and scales."
        )
    if not causes:
        causes.append(
            "the quantization error is too large for this model: try per-channel or more bits, quantization-aware "
            "training, or keep the most sensitive layer in float."
        )
    return causes


def compare(
    reference: np.ndarray, converted: np.ndarray, tflite: bytes, x: np.ndarray, y=None, qat: bool = False
) -> Agreement:
    """Top-1 agreement and non-finite outputs of ``converted`` against ``reference`` (the Keras
    model's outputs for the same images ``x``; ``y`` their labels), with likely causes when
    flagged: NaN/inf, or agreement under ``MIN_AGREEMENT`` with an accuracy loss of ``MAX_DROP``
    or more (or no labels to tell)."""
    reference = np.asarray(reference)[:SAMPLES]
    converted = np.asarray(converted)[:SAMPLES]
    if reference.shape != converted.shape or len(reference) == 0:
        return Agreement(len(reference), float("nan"), 0, ())
    nonfinite = int(np.size(converted) - np.count_nonzero(np.isfinite(converted)))
    top1 = float(np.mean(np.argmax(reference, axis=-1) == np.argmax(converted, axis=-1)))
    drop = float("nan")
    if y is not None:
        y = np.asarray(y)[:SAMPLES]
        drop = float(np.mean(np.argmax(reference, -1) == y) - np.mean(np.argmax(converted, -1) == y))
    result = Agreement(len(reference), top1, nonfinite, (), drop)
    if result.flagged:
        causes = tuple(likely_causes(tflite, np.asarray(x)[:SAMPLES], converted, reference, qat))
        result = dataclasses.replace(result, causes=causes)
    return result


def warn_if_flagged(agreement: Agreement, name: str) -> None:
    if agreement.flagged:
        warnings.warn(agreement.message(name), ConversionWarning, stacklevel=3)


# ----------------------------------------------------------------------------- at conversion time


def check_calibration(images, name: str = "the conversion", rescaled_in_model: bool | None = None) -> None:
    """Warn (``ConversionWarning``) about calibration images that would quietly spoil an int8 file:
    NaN/inf values (activation ranges are measured on them), or whole numbers above 1.5 - raw 0-255
    pixels - unless the model rescales them itself (``rescaled_in_model``: True if it has a
    Rescaling/Normalization layer, None if unknown): a model trained on pixels divided by 255 then
    gets an input grid 255x too wide. Integer arrays (token ids) are not pixels and are not checked."""
    x = np.asarray(images)
    if x.size == 0 or x.dtype.kind != "f":
        return
    x = x.astype(np.float64)
    finite = np.isfinite(x).reshape(len(x), -1).all(axis=1)
    if not finite.all():
        warnings.warn(
            f"{name}: {int((~finite).sum())} of {len(x)} calibration images hold NaN or infinite values; the converter "
            "measures each layer's int8 range on them, so those ranges (and the file) are not to be trusted. Drop them "
            "first: `x = x[np.isfinite(x).reshape(len(x), -1).all(axis=1)]`.",
            ConversionWarning,
            stacklevel=3,
        )
        x = x[finite]
    if len(x) and not rescaled_in_model and float(x.max()) > 1.5 and np.all(np.abs(x - np.round(x)) < 1e-3):
        warnings.warn(
            f"{name}: the calibration images are whole numbers from {x.min():.0f} to {x.max():.0f} (raw pixels?)"
            + (" and the model has no Rescaling layer" if rescaled_in_model is False else "")
            + ". If the model was trained on pixels divided by 255, calibrate on images scaled "
            "the same way (`x / 255`): otherwise the int8 input grid spans 0-255 and real inputs in 0-1 fall into a "
            "single step of it (accuracy near chance). If the model really takes 0-255 values, ignore this.",
            ConversionWarning,
            stacklevel=3,
        )


def check_converted(reference, tflite: bytes, x, name: str = "the converted model") -> Agreement:
    """The check ``measure`` runs, at conversion time: the new file's outputs on ``x`` (its first
    ``SAMPLES`` finite images) against ``reference(x)`` (a function giving the Keras model's, or the
    float .tflite's, outputs); a ``ConversionWarning`` with likely causes if they disagree or hold NaN/inf."""
    from .litert_run import tflite_predict

    x = np.asarray(x)[:SAMPLES]
    if x.dtype.kind == "f":
        x = x[np.isfinite(x).reshape(len(x), -1).all(axis=1)]
    if len(x) == 0:
        return Agreement(0, float("nan"), 0, ())
    agreement = compare(reference(x), tflite_predict(tflite, x), tflite, x)
    warn_if_flagged(agreement, name)
    return agreement
