#!/usr/bin/env bash
# Run what is missing of every plan of issue 8, in its order of priority, one run at a time,
# then regenerate docs/RESULTS.md. Finished runs are skipped, so start it again in every
# session (in the background) and commit results/ before the session ends:
#   nohup bash scripts/experiments.sh > runs/experiments.log 2>&1 &
#   .venv/bin/python -m tf_introspect.experiments status experiments/table3_short.toml
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
for plan in experiments/table3_short.toml experiments/table2_short.toml \
            experiments/table3_paper.toml experiments/figure3_short.toml; do
  .venv/bin/python -m tf_introspect.experiments run "$plan"
done
.venv/bin/python -m tf_introspect.experiments report
