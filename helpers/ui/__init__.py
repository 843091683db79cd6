"""User-interface plumbing every explorer shares (no maths of its own).

* ``explorer``: ``_Explorer``, the base of every lesson's explorer (guarded Run button, progress, the
  board of your runs, the full-mode reference line).
* ``caption``: ``Caption``, the HTML widget every caption is written into (the notebook's language).
* ``layout``: rules that keep a panel readable on a projector.
* ``board_plots``: the size-vs-accuracy board (every logged experiment as a point, the Pareto frontier).
* ``board_figure``: the same board as one figure redrawn in place (fast enough for every move).
* ``pointable_board``: that board as an image you can click (pick a point) and hover (read its name).
* ``raster``: text drawn once and pasted as pixels (what keeps redraws under 100 ms).
* ``verdict``: how every exercise self-check speaks (✓ / ✗ and a hint).

Imports: core modules and this package only; never a lesson's package.
"""
