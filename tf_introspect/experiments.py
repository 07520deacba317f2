"""Resumable experiment runner: ``python -m tf_introspect.experiments run|status|report``.

The entry point of the ``experiments`` command line, which lives in
:mod:`tf_introspect.lab.cli`; plans, runs, records, verification, status and the results
document are the modules of :mod:`tf_introspect.lab`.
"""

import sys

from tf_introspect.lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
