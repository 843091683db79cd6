"""Quantization-aware training (lesson 02): TF-MOT's 8-bit QAT, an n-bit Dense grid for what the
converter cannot store (``NBitDenseConfig``), and the conversion of a QAT model.

Sources: TF-MOT's ``quantize_model``/``quantize_apply`` and ``QuantizeConfig``
(tensorflow_model_optimization/python/core/quantization/keras/quantize.py, quantize_config.py).
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from .. import keras_compat, models
from .quantize import check_bits

MIN_QAT_STEPS = 400


def qat_epochs(data) -> int:
    """Epochs of quantization-aware fine-tuning: at least one, and at least ~400 steps (the
    quantizers calibrate and the weights adapt over steps, not epochs): 1 on full
    Fashion-MNIST, 6 on the fast subset, ~37 on the small digits fallback."""
    return max(1, math.ceil(MIN_QAT_STEPS / models.steps_per_epoch(len(data.x_train))))


def quantization_aware(model: keras.Model, data, epochs: int = 1, learning_rate: float = 1e-4, label: str = "QAT "):
    """``quantize_model`` on a copy of ``model``, fine-tuned for ``epochs`` (TF-MOT's 8-bit QAT).

    Raises ``keras_compat.ModelError`` naming the problem and the ways out for a model TF-MOT
    cannot quantize (Keras 3, subclassed, a layer such as LayerNormalization or Rescaling)."""
    keras_compat.require_graph_model(model, "Quantization-aware training")
    keras_compat.check_inputs(model, data.x_train, "the training images")
    copy = models.copy_model(model)
    try:
        qat = tfmot.quantization.keras.quantize_model(copy)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise keras_compat.tfmot_error(exc, "Quantization-aware training", model) from None
    models.compile_model(qat, learning_rate)
    models.train(qat, data, epochs, label=label)
    return qat


class NBitDenseConfig(tfmot.quantization.keras.QuantizeConfig):
    """Dense kernels fake-quantized at ``bits`` (symmetric, per-tensor) during training, 8-bit
    activations: TF-MOT's way to train for a grid the converter cannot store (LiteRT Quantizer
    can: lesson 02b)."""

    def __init__(self, bits: int, per_axis: bool = False):
        self.bits = bits
        self.per_axis = per_axis  # one grid per output channel (lesson 02b: what LiteRT Quantizer stores)

    def get_weights_and_quantizers(self, layer):
        # narrow_range: integers +-(2^(b-1) - 1) with zero at 0, as TFLite's int8 weights; without
        # it the converted kernel gets a nonzero zero-point that FULLY_CONNECTED refuses to run.
        quantizer = tfmot.quantization.keras.quantizers.LastValueQuantizer(
            num_bits=self.bits, symmetric=True, narrow_range=True, per_axis=self.per_axis
        )
        return [(layer.kernel, quantizer)]

    def get_activations_and_quantizers(self, layer):
        quantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer(
            num_bits=8, symmetric=False, narrow_range=False, per_axis=False
        )
        return [(layer.activation, quantizer)]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {"bits": self.bits, "per_axis": self.per_axis}


def nbit_qat(
    model: keras.Model, data, bits: int, epochs: int = 1, learning_rate: float = 1e-4, label: str = "", per_axis=False
):
    """QAT with every Dense kernel on a ``bits``-bit grid (the MLP; Conv2D is left to 8-bit),
    per tensor or (``per_axis``) per output channel."""
    bits = check_bits(bits)
    keras_compat.require_graph_model(model, f"{bits}-bit QAT")
    copy = models.copy_model(model)
    q = tfmot.quantization.keras
    try:
        annotated = keras.models.clone_model(
            copy,
            clone_function=lambda layer: (
                q.quantize_annotate_layer(layer, NBitDenseConfig(bits, per_axis))
                if isinstance(layer, keras.layers.Dense)
                else layer
            ),
        )
        with q.quantize_scope({"NBitDenseConfig": NBitDenseConfig}):
            qat = q.quantize_apply(annotated)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise keras_compat.tfmot_error(exc, f"{bits}-bit QAT", model) from None
    models.compile_model(qat, learning_rate)
    models.train(qat, data, epochs, label=label or f"{bits}-bit QAT ")
    return qat


def convert_qat(qat_model) -> bytes:
    """A QAT model to .tflite: its quantizer ranges become the int8 scales (no calibration data)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()
