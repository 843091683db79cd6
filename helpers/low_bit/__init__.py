"""Lesson 02b, below 8 bits for real with LiteRT Quantizer.

* ``quantizer``: LiteRT Quantizer configurations, real int8/int4/int2 files.
* ``sizes``: a plan's file size and weight error, predicted before quantizing.
* ``mixed_precision``: per-layer sensitivity and bits per layer under a byte budget.
* ``explorer``: the mixed-precision explorer.  ``exercises``: the lesson's checks.
"""
