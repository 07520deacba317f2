#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite; extra arguments go to pytest.
# Two pytest workers (pytest-xdist): most tests start TensorFlow processes whose start-up and
# tracing are single-threaded, so two at a time fill both cores (7.4 minutes on 2 quiet cores,
# against about 10 one at a time). TEST_WORKERS=0 runs them in this process, one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers="${TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
exec .venv/bin/python -m pytest -q -n "$workers" "$@"
