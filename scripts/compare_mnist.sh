#!/usr/bin/env bash
# A short measured comparison on real data: the paper's MLP on full MNIST, 3 epochs each (the
# quick-start settings), with CE, LS, CP, DML, KD (teacher: the CE run's model, T=4) and
# LE(Grad) (1 warm-up epoch). About 6 minutes on 2 CPU cores. Extra arguments go to every run
# (e.g. --seed=1). Results: runs/compare_mnist/<method>/metrics.json and a table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=runs/compare_mnist
for method in ce ls cp dml le kd; do
  extra=()
  [ "$method" = kd ] && extra=(--teacher="$OUT/ce/model.keras")
  echo "== $method"
  $PY -m tf_introspect.main --flagfile=flags/quickstart/mnist_le.flags --method=$method \
    --workdir="$OUT/$method" --verbose=2 "${extra[@]}" "$@"
done
$PY -m tf_introspect.report "$OUT"/{ce,ls,cp,dml,kd,le}
