#!/bin/bash
# Run a command (a benchmark) on a quiet machine: pause the background experiment runner
# (scripts/experiments.sh and every process under it) with SIGSTOP, run the command, and resume
# the runner with SIGCONT however the command ends. Paused runs lose only wall time (a paused
# epoch's recorded time is longer); nothing they compute changes.
#   scripts/quiet.sh .venv/bin/python -m tf_introspect.bench --parts=data
set -u
pids=$(bash "$(dirname "$0")/runner_pids.sh")
if [ -n "${pids// /}" ]; then
    trap 'kill -CONT $pids 2>/dev/null; echo "quiet.sh: runner resumed at $(date -u +%FT%TZ)" >&2' EXIT
    kill -STOP $pids
    echo "quiet.sh: runner paused (PIDs $pids) at $(date -u +%FT%TZ)" >&2
    sleep 5
else
    echo "quiet.sh: no runner found; running the command as it is" >&2
fi
"$@"
