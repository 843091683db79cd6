"""Lesson 00 (baselines and how every lesson measures): its figures and exercise checks.

The baselines themselves, the data and the measurement are the core (``helpers.models``,
``helpers.data``, ``helpers.measure``): every lesson uses them.
"""
