#!/usr/bin/env bash
# Run what is missing of every plan of issue 8, in its order of priority (the MNIST MLP two
# runs at a time: its small steps leave a core idle; ResNets one at a time), then regenerate
# docs/RESULTS.md. Finished runs are skipped, so start it again in every
# session (in the background) and commit results/ before the session ends:
#   mkdir -p runs && nohup bash scripts/experiments.sh > runs/experiments.log 2>&1 &
#   .venv/bin/python -m tf_introspect.experiments status experiments/table3_short.toml
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
# Issue 8's order: Table 3 short, Table 2 short, Table 3 at the paper protocol (seed 0 of both
# cells first: the headline cell at full length), Figure 3, then the paper protocol's other seeds.
run() { .venv/bin/python -m tf_introspect.experiments run "$@"; }
# Figures 1-2 from a plan's trained LE model (kept in runs/, not committed), made once the
# model exists (each call also remakes Figure 3 when its runs exist); Figure 3 from results/.
figures() {  # MODEL DATASET DATA_DIR [LABEL]
  if [ -f "$1" ]; then
    .venv/bin/python -m tf_introspect.figures --model="$1" --dataset="$2" --data_dir="$3" \
        --data_label="${4:-$2}" --out=docs/figures
  fi
}
run experiments/table3_short.toml
figures runs/table3_short/le_grad/seed0/model.keras mnist ../shared/data
# determinism evidence: rerun one finished run on every new machine kind (about 6 minutes)
.venv/bin/python -m tf_introspect.experiments verify experiments/table3_short.toml ce/seed0 \
    --once_per_machine
run experiments/table2_short.toml
figures runs/table2_short/le_grad_cam/seed0/model.keras cifar10 data "CIFAR-10 (JPEG)"
run experiments/table3_paper.toml --seeds=0 --jobs=2
run experiments/figure3_short.toml --cells=mlp_grad,mlp_grad_input,mlp_guided_bp --jobs=2
run experiments/figure3_short.toml
.venv/bin/python -m tf_introspect.figures --figures=3 --out=docs/figures
run experiments/table3_paper.toml --jobs=2
.venv/bin/python -m tf_introspect.experiments report
