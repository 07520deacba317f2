"""The paper's Figures 1-3 from a trained classifier: ``python -m tf_introspect.figures``.

The entry point of the command, which lives in :mod:`tf_introspect.lab.figures_cli` (the
figures in :mod:`tf_introspect.lab.model_figures` and :mod:`tf_introspect.lab.figure3`, the
drawing in :mod:`tf_introspect.lab.plots`).
"""

import sys

from tf_introspect.lab.figures_cli import main

if __name__ == "__main__":
    sys.exit(main())
