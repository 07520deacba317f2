#!/usr/bin/env bash
# The PIDs of the background experiment runner: every scripts/experiments.sh process and all
# its descendants (the runs it started), one line, sorted. With a folder (a worktree:
# scripts/restart_runner.sh), only the runners working there, and also any tf_introspect
# process working there whose runner has already gone. Used by scripts/quiet.sh.
#   bash scripts/runner_pids.sh [RUNNER_DIR]
set -u
only=${1:+$(realpath -m "$1")}
tree() {  # a PID and all its descendants
    echo "$1"
    for child in $(pgrep -P "$1"); do tree "$child"; done
}
works_in() { [ "$(realpath "/proc/$1/cwd" 2>/dev/null)" = "$only" ]; }
pids=""
for root in $(pgrep -f '^(/usr)?(/bin/)?(ba)?sh [^ ]*scripts/experiments\.sh'); do
    if [ -z "$only" ] || works_in "$root"; then
        pids="$pids $(tree "$root")"
    fi
done
if [ -n "$only" ]; then
    for pid in $(pgrep -f 'tf_introspect'); do
        works_in "$pid" && pids="$pids $pid"
    done
fi
echo $pids | tr ' ' '\n' | sort -un | tr '\n' ' '
