#!/bin/bash
# Run a command (a benchmark) on a quiet machine: pause the background experiment runner
# (scripts/experiments.sh and every process under it) with SIGSTOP, run the command, and resume
# the runner with SIGCONT however the command ends. Paused runs lose only wall time (a paused
# epoch's recorded time is longer); nothing they compute changes. Each pause is written into
# the paused runner's runs/pauses.log ("PAUSED RESUMED", seconds since the epoch), so that
# run --until does not take a paused run's time for the machine's speed (lab/deadline.py).
#   scripts/quiet.sh .venv/bin/python -m tf_introspect.bench --parts=data
# QUIET_RUNNER=DIR pauses only the runner working in the worktree DIR (default: every runner).
set -u
pids=$(bash "$(dirname "$0")/runner_pids.sh" ${QUIET_RUNNER:+"$QUIET_RUNNER"})
if [ -n "${pids// /}" ]; then
    folders=$(for pid in $pids; do
        cwd=$(realpath "/proc/$pid/cwd" 2>/dev/null) && [ -d "$cwd/runs" ] && echo "$cwd"
    done | sort -u)
    paused=$(date +%s)
    resume() {
        kill -CONT $pids 2>/dev/null
        for folder in $folders; do echo "$paused $(date +%s)" >> "$folder/runs/pauses.log"; done
        echo "quiet.sh: runner resumed at $(date -u +%FT%TZ)" >&2
    }
    trap resume EXIT
    kill -STOP $pids
    echo "quiet.sh: runner paused (PIDs $pids) at $(date -u +%FT%TZ)" >&2
    sleep 5
else
    echo "quiet.sh: no runner found; running the command as it is" >&2
fi
"$@"
