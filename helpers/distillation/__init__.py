"""Lesson 03, knowledge distillation (Hinton, Vinyals & Dean 2015).

* ``distiller``: soft targets, the distillation loss, a ``Distiller`` with a frozen teacher.
* ``studies``: scratch vs distilled over seeds; T and alpha chosen on validation.
* ``explorer``: the distillation explorer.  ``figures``, ``exercises``: the lesson's figures and checks.
"""
