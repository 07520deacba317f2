"""Where the lab reads and writes: the repository, and the folder of ``results/`` and ``runs/``.

Every lab module reads these as attributes of this module when it needs them
(``paths.ROOT``, never ``from ... import ROOT``), so that one
``monkeypatch.setattr(paths, "ROOT", folder)`` points all of them elsewhere.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = REPO  # where results/ and runs/ live (tests point it elsewhere)
RESULTS = "results"
RUNS = "runs"
RESULTS_DOC = os.path.join("docs", "RESULTS.md")
