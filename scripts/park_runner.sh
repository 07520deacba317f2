#!/usr/bin/env bash
# Before a session ends: bring the runs the background runner (scripts/restart_runner.sh)
# has finished into this checkout's results/ (scripts/bring_home.sh) and park what each
# unfinished run needs to go on in parked/ (python -m tf_introspect.experiments park), with
# the runner paused meanwhile (SIGSTOP, so that no backup changes while it is copied; SIGCONT
# however this ends). Then commit results/ and parked/: the next session's
# scripts/restart_runner.sh puts the parked runs into its runner, on whatever machine.
#   bash scripts/park_runner.sh [RUNNER_DIR]      # default: ../runner (from this checkout)
set -euo pipefail
runner=$(realpath -m "${1:-$(dirname "$0")/../../runner}")
cd "$(dirname "$0")/.."
if [ ! -d "$runner/runs" ]; then
    echo "error: no runner in $runner (start one with scripts/restart_runner.sh)" >&2
    exit 1
fi
stopped=""
trap '[ -z "$stopped" ] || { kill -CONT $stopped 2>/dev/null || true; echo "runner resumed"; }' EXIT
while :; do  # again for any process started meanwhile, until none is left running
    pids=""
    for pid in $(bash scripts/runner_pids.sh "$runner"); do
        [[ " $stopped " == *" $pid "* ]] || pids="$pids $pid"
    done
    [ -z "${pids// /}" ] && break
    stopped="$stopped$pids"
    kill -STOP $pids 2>/dev/null || true
done
[ -z "$stopped" ] || { echo "runner paused (PIDs$stopped)"; sleep 1; }
bash scripts/bring_home.sh "$runner"
.venv/bin/python -m tf_introspect.experiments park "$runner" "${@:2}"
echo "now commit: git add results parked && git commit"
