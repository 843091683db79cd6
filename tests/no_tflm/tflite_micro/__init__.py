"""Stands in for a machine without TFLM (macOS, Windows: tflite-micro has Linux x86-64 wheels only).

tests/test_no_tflm.py puts this folder first on PYTHONPATH, so ``import tflite_micro`` fails exactly
as it does where the package is not installed, and lesson 05 must take its no-TFLM path.
"""

raise ModuleNotFoundError("No module named 'tflite_micro' (hidden by tests/no_tflm for the no-TFLM test)", name="tflite_micro")
