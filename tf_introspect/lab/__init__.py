"""The lab: the code that produces the project's evidence from trained runs.

Experiment plans and their runs (:mod:`.plans`, :mod:`.runner`, :mod:`.records`,
:mod:`.verify`, :mod:`.status`, the ``experiments`` command line in :mod:`.cli`), the results
document (:mod:`.results_doc`, :mod:`.stats`), the comparison of work folders
(:mod:`.compare`) and the paper's figures (:mod:`.plots`, :mod:`.model_figures`,
:mod:`.figure3`, :mod:`.figures_cli`). Where they read and write: :mod:`.paths`; the error
of a plan that cannot be run: :mod:`.errors`.
"""
