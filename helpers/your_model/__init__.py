"""Lesson 06, your own model: load it safely, check what applies, compress it, export it.

* ``model_files``: safe loading of ``.keras``, ``.h5`` and SavedModel files.
* ``compress``: check a model and data, run the techniques that apply, pick and export.
"""
