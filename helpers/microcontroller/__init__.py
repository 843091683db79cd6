"""Lesson 05, models on a microcontroller with TensorFlow Lite for Microcontrollers (TFLM).

A *device* here is a microcontroller with a flash and a RAM budget (the size-vs-accuracy *device* is
another thing: ``helpers.ui.board_plots``).

* ``tflm``: TFLM's host interpreter: run a model, find its smallest tensor arena (``tflm_probe``).
* ``devices``: devices (presets or your own), which models fit one.
* ``footprint``: an honest footprint: the model plus the firmware and runtime around it.
* ``lut``: TFLM's look-up-table compression.  ``int4``: int4 weights on TFLM.
* ``designs``, ``design_training``, ``ablation``: a CNN designed for a device's budget, how it is trained, and what each ingredient of the recipe buys.
* ``c_export``: the model as a C++ array with its arena.
* ``explorer``, ``figures``, ``exercises``: the footprint explorer, its chart and the lesson's checks.
"""
