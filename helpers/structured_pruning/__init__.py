"""Lesson 01b, structured pruning for speed: whole Dense units and Conv2D filters removed.

* ``units``: choose units by L1 norm and rebuild a physically narrower model (Sequential chains).
* ``graph``, ``graph_rebuild``: the same for functional models - BatchNorm, residual Add, depthwise convolutions.
* ``speed``: fine-tuning, the scratch control, gradual pruning, the width scan, per-layer latency.
* ``explorer``: the speed explorer.  ``figures``, ``exercises``: the lesson's figures and checks.
"""
