#!/usr/bin/env bash
# Run what is missing of every plan, in the order of priority below (the MNIST MLP two runs
# at a time: its small steps leave a core idle; ResNets one at a time), then regenerate
# docs/RESULTS.md. Finished runs are skipped, so start it again in every
# session (in the background) and commit results/ before the session ends:
#   mkdir -p runs && nohup bash scripts/experiments.sh > runs/experiments.log 2>&1 &
# or, in a worktree of its own, bash scripts/restart_runner.sh, and before the session ends
# bash scripts/park_runner.sh (unfinished runs carried to the next machine in parked/).
#   .venv/bin/python -m tf_introspect.experiments status experiments/table3_short.toml
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
# Order (issues 17, 18 and 20). Two branches side by side:
# - CIFAR-10, one ResNet process at the lowest priority (nice 19: it takes the cycles the MLP
#   leaves; its runs park at a session's end and lose nothing): the budget protocol's 80-epoch pilot
#   (issue 17), then Table 2 at the budget protocol with the parity runs' float32 half first
#   (CE and LE(Grad-CAM), seeds 0-1), the bfloat16 parity runs, the folder check (issue 21:
#   CE on CIFAR-10's JPEG folder), the rest of Table 2, issue 22's cells of Table 2 (after the
#   evidence cells), and the 60-epoch pilot last;
# - MNIST, one MLP process at normal priority (its runs cannot be parked, so they go first
#   and end within a session; BUILD.md, "The runner's two branches"): the mechanism cells of
#   the short plan (issue 20: LE-Uniform, the similarity
#   temperature), then Table 3 at the paper's protocol, then issue 22's cells of the short
#   plan (CS-KD, Tf-KD, PS-KD: after the evidence plans, as the issue asks).
# Then the stale Figure 3 runs, the finished short plans (skipped: nothing missing) and their
# figures, the report.
run() { .venv/bin/python -m tf_introspect.experiments run "$@"; }
# The MNIST MLP's runs: too large to park (14 MB backups), so with RUNNER_UNTIL set (the
# session's end: scripts/restart_runner.sh passes it on) each starts only if projected to end
# by then; otherwise its core goes to the ResNet.
fit() { run "$@" ${RUNNER_UNTIL:+--until="$RUNNER_UNTIL"}; }
if [ -n "${RUNNER_UNTIL:-}" ]; then  # anything date -d reads, as a moment
    RUNNER_UNTIL=$(date -d "$RUNNER_UNTIL" --iso-8601=seconds) || exit 1
fi
# Figures 1-2 from a plan's trained LE model (kept in runs/, not committed), made once the
# model exists (each call also remakes Figure 3 when its runs exist); Figure 3 from results/.
# Figure 2 beside the same plan's CE model (BASELINE) when that is still in runs/ too.
figures() {  # MODEL DATASET DATA_DIR [LABEL] [BASELINE]
  if [ -f "$1" ]; then
    .venv/bin/python -m tf_introspect.figures --model="$1" --dataset="$2" --data_dir="$3" \
        --data_label="${4:-$2}" --out=docs/figures \
        ${5:+$( [ -f "$5" ] && echo "--baseline_model=$5")}
  fi
}
cifar() {
  run experiments/budget_pilot.toml --cells=ce_80
  run experiments/table2_budget.toml --cells=ce,le_grad_cam --seeds=0,1
  run experiments/parity_bf16.toml
  run experiments/folder_check.toml        # issue 21: the folder path on real data
  run experiments/table2_budget.toml --cells=ce,le_grad_cam,le_uniform,ls,cp,le_permut
  run experiments/table2_budget.toml       # issue 22's cells (CS-KD, Tf-KD, PS-KD), 3 seeds
  run experiments/budget_pilot.toml      # the 60-epoch pilot: it cannot change the choice
}
mnist() {
  fit experiments/table3_short.toml --cells=le_uniform,le_temperature
  fit experiments/table3_paper.toml
  fit experiments/table3_short.toml --cells=cskd,tfkd_self,tfkd_reg,pskd   # issue 22
}
.venv/bin/python -m tf_introspect.experiments verify experiments/table3_short.toml ce/seed0 \
    --once_per_machine      # determinism evidence on every new machine kind (about 6 minutes)
(renice -n 19 -p "$BASHPID" > /dev/null; cifar) &
mnist
wait
fit experiments/table3_paper.toml --jobs=2
run experiments/figure3_short.toml   # ResNet-8 runs too (parked)
fit experiments/table3_short.toml
figures runs/table3_short/le_grad/seed0/model.keras mnist ../shared/data mnist \
    runs/table3_short/ce/seed0/model.keras
run experiments/table2_short.toml
figures runs/table2_short/le_grad_cam/seed0/model.keras cifar10 data "CIFAR-10 (JPEG)" \
    runs/table2_short/ce/seed0/model.keras
.venv/bin/python -m tf_introspect.figures --figures=3 --out=docs/figures \
    --reliability=experiments/table3_short.toml,experiments/table3_paper.toml,experiments/table2_budget.toml
.venv/bin/python -m tf_introspect.experiments report
