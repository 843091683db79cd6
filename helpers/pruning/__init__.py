"""Lesson 01, magnitude pruning with TF-MOT.

* ``schedule``: pruning schedules checked, the sparsity curve TF-MOT follows, the explorer's preview.
* ``magnitude``: prune-and-fine-tune, the dense control, the sensitivity scan.
* ``sparsity``: the arithmetic of sparsity apart from TF-MOT (magnitude masks, m:n structure).
* ``explorer``: the sparsity-schedule explorer.  ``figures``, ``exercises``: the lesson's figures and checks.
"""
