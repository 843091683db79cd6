"""Lesson 06, your own model: load it safely, check what applies, compress it, export it.

* ``model_files``: safe loading of ``.keras``, ``.h5`` and SavedModel files.
* ``reader_data``: a reader's data checked on the way in (labels as names, NaN, scales, a stratified split).
* ``compress``: check a model and data, run the techniques that apply, pick and export.
* ``memory``: the recipes' peak memory estimated before anything trains, and a guard that stops with a message.
* ``mobilenet``: section 14, MobileNetV2 through the same recipes; rounding and one-shot pruning by kind of kernel.
"""
