"""TensorFlow's start-up lines, kept off the terminal by default.

Importing TensorFlow 2.21 writes, on every command,
``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`` and
``I0000 ... port.cc:153] oneDNN custom operations are on ...`` (twice) to standard error: absl's
C++ logging, before TensorFlow has set it up, which ``TF_CPP_MIN_LOG_LEVEL`` does not filter
(measured with 1, 2 and 3: only the ``cpu_feature_guard`` line goes; ``TF_ENABLE_ONEDNN_OPTS=0``
would silence one line but change the numerics). So :func:`import_tensorflow_quietly`, run by
the package before anything imports TensorFlow (every ``python -m tf_introspect.*`` command):

* sets ``TF_CPP_MIN_LOG_LEVEL=2`` (errors only) unless the environment sets it already;
* imports TensorFlow with the process's standard error (file descriptor 2, where C++ writes)
  sent to a temporary file, then writes back every captured line except C++ log lines below
  that level (severity ``I`` = 0, ``W`` and absl's notice above = 1; ``E`` = 2 and ``F`` = 3
  stay), so an error at import still shows. A crash inside the import (a fatal ``F`` line
  aborts the process) loses the captured lines, but ``faulthandler`` still prints where it
  died (here) on the real standard error: rerun with ``TF_CPP_MIN_LOG_LEVEL=0`` to see them.

A user's own setting wins and shows more: ``TF_CPP_MIN_LOG_LEVEL=0`` prints every line.
"""

import faulthandler
import os
import re
import sys
import tempfile

#: A C++ log line and its severity: absl's ``I0000 00:00:17.5  123 file.cc:1] ...`` and
#: TensorFlow's older ``2025-01-01 00:00:00.0: I file.cc:1] ...``.
_LOG_LINE = re.compile(
    r"^(?:([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]|"
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) )"
)
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}


def _shown(line, min_level):
    if line.startswith(_ABSL_NOTICE):
        return min_level <= 1
    match = _LOG_LINE.match(line)
    return not match or _LEVELS[match.group(1) or match.group(2)] >= min_level


def import_tensorflow_quietly():
    """Import TensorFlow showing only its start-up lines at ``TF_CPP_MIN_LOG_LEVEL`` or above
    (default 2; module docstring)."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        min_level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        min_level = 0
    if min_level <= 0:
        import tensorflow  # noqa: F401

        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no usable standard error
        import tensorflow  # noqa: F401

        return
    was_enabled = faulthandler.is_enabled()
    with tempfile.TemporaryFile() as captured:
        try:
            os.dup2(captured.fileno(), 2)
            faulthandler.enable(file=saved)
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            if was_enabled:
                faulthandler.enable()  # back on sys.stderr
            else:
                faulthandler.disable()
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if _shown(line, min_level))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
