"""``Caption``: the ``ipywidgets.HTML`` every explorer writes its captions into (summaries, verdicts, notes,
errors, status lines, the board's hints), shown in the notebook's language.

English is the source of every caption: the explorers build English HTML as before, and a ``Caption`` passes
each value it is given through ``helpers.i18n.caption`` (a traitlets validator, so the constructor's value, a
callback's and a thread's all go through it). In an English notebook that returns the value unchanged; in a
Chinese one every run of text a "prints" template of translations/zh-CN/ matches comes out in Chinese, and a run
no template matches stays English (never an error). ``tests/test_captions.py`` checks that every caption the
explorers write has its template.
"""

from __future__ import annotations

import ipywidgets as w
import traitlets

from .. import i18n


class Caption(w.HTML):
    """An ``ipywidgets.HTML`` whose value is kept in the notebook's language (``helpers.i18n.caption``)."""

    @traitlets.validate("value")
    def _in_notebook_language(self, proposal):
        return i18n.caption(proposal["value"])
