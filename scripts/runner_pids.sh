#!/usr/bin/env bash
# The PIDs of the background experiment runner: every scripts/experiments.sh process and all
# its descendants (the runs it started), one line, sorted; with a folder, only the runners
# working there (a worktree: scripts/restart_runner.sh). Used by scripts/quiet.sh.
#   bash scripts/runner_pids.sh [RUNNER_DIR]
set -u
only=${1:+$(realpath -m "$1")}
tree() {  # a PID and all its descendants
    echo "$1"
    for child in $(pgrep -P "$1"); do tree "$child"; done
}
pids=""
for root in $(pgrep -f '^(/usr)?(/bin/)?(ba)?sh [^ ]*scripts/experiments\.sh'); do
    if [ -z "$only" ] || [ "$(realpath "/proc/$root/cwd" 2>/dev/null)" = "$only" ]; then
        pids="$pids $(tree "$root")"
    fi
done
echo $pids | tr ' ' '\n' | sort -un | tr '\n' ' '
