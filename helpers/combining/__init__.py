"""Lesson 04, techniques combined: clustering, pipelines, the board of every experiment, export.

* ``clustering``: weight clustering and TF-MOT's collaborative pipelines (PQAT, CQAT, PCQAT).
* ``headline``: the MLP's headline recipe (narrow, sparse, distilled, 4-bit) against a converged reference.
* ``export``: the best model under a size budget, its .tflite and a model card.
* ``board_explorer``, ``latency_explorer``: the board of every experiment (and with a latency budget).
* ``figures``, ``exercises``: the lesson's figures and checks.
"""
