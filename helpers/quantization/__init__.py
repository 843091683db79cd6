"""Lesson 02, quantization with the TFLite converter and TF-MOT.

* ``quantize``: the converter's post-training kinds, QAT with TF-MOT, fake quantization at any width.
* ``explorer``: the bit-width explorer.  ``figures``, ``exercises``: the lesson's figures and checks.
"""
