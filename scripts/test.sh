#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite; extra arguments go to pytest.
# Two pytest workers (pytest-xdist): TensorFlow's start-up and tracing are single-threaded, so
# two tests at a time fill both cores (9 to 12 minutes on 2 quiet cores, 2026-12-08; BUILD.md).
# --dist loadfile: each file on one worker, so a module fixture (the bench's smoke run, the XLA
# steps, the mirrored-strategy script) is computed once. TEST_WORKERS=0: one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers="${TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadfile "$@"
