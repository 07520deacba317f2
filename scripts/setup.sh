#!/usr/bin/env bash
# Set up a fresh machine for tf_introspect: Debian's Fashion-MNIST package (optional data),
# a virtual environment in .venv with the pinned requirements and the package itself (editable).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Optional data: a machine without apt, root or password-less sudo (or offline) goes on
# without it, with a warning (the tests that need it say so).
if command -v dpkg >/dev/null && ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null \
    && SUDO="sudo -n"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    echo "== apt-get install dataset-fashion-mnist"
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
      || echo "warning: apt-get could not install dataset-fashion-mnist; going on without it" >&2
  else
    echo "warning: not root and no password-less sudo; skipping Debian's dataset-fashion-mnist" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
echo "== pip install -r requirements.txt -r requirements-bench.txt -e ."
# requirements-bench.txt: tf-keras-vis, only compared against in the benchmark (and its test)
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt \
  -r requirements-bench.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
  || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
