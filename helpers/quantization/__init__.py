"""Lesson 02, quantization with the TFLite converter and TF-MOT.

* ``quantize``: the converter's post-training kinds, fake quantization at any width.
* ``qat``: quantization-aware training with TF-MOT (8-bit, and n-bit Dense grids).
* ``explorer``: the bit-width explorer.  ``figures``, ``exercises``: the lesson's figures and checks.
"""
