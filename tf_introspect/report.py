"""Compare finished runs: ``python -m tf_introspect.report WORKDIR [WORKDIR ...]``.

The command lives in :mod:`tf_introspect.lab.compare`; this module is its entry point. A
run's output files are read by :mod:`tf_introspect.pipeline.outputs`.
"""

import sys

from tf_introspect.lab.compare import main

if __name__ == "__main__":
    sys.exit(main())
