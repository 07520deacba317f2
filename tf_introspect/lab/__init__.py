"""The lab: the code that produces the project's evidence from trained runs.

Experiment plans and their runs (:mod:`.plans`, :mod:`.runner`, :mod:`.records`,
:mod:`.verify`, :mod:`.status`, the session's deadline :mod:`.deadline`, runs carried to the
next machine :mod:`.parking`, the calibration of older runs :mod:`.calibrate`, the
``experiments`` command line in :mod:`.cli`), the results document (:mod:`.results_doc`,
:mod:`.stats`, the verdicts :mod:`.verdicts`, the claims at its head :mod:`.claims`, issue
20's mechanism :mod:`.mechanism`, its figures :mod:`.figures_doc`), the comparison of work
folders (:mod:`.compare`) and the figures (the paper's: :mod:`.plots`,
:mod:`.model_figures`, :mod:`.figure3`; ours: :mod:`.reliability`, :mod:`.curves`; the
command line :mod:`.figures_cli`). Where they read and write: :mod:`.paths`; the error of a
plan that cannot be run: :mod:`.errors`.
"""
