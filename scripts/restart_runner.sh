#!/usr/bin/env bash
# (Re)start the background experiment runner (scripts/experiments.sh) in its own git worktree
# at this checkout's HEAD, first bringing the runs it finished into this checkout's results/:
#   bash scripts/restart_runner.sh [RUNNER_DIR]      # default: ../runner (from this checkout)
# 1. a missing worktree is made (git worktree add --detach) and given this checkout's .venv;
# 2. the runner and every run it started are stopped (the runs resume from their backups);
# 3. the records of finished runs (results/<plan>/<cell>/<run>/ with a run.json and a
#    metrics.json) that the runner added or rewrote are brought here, run by run: a run this
#    checkout lacks is copied; for a run it has with the same run.json and metrics.json, the
#    files it lacks (e.g. a rerun's record under verify/); a record the runner rewrote (a stale
#    run trained again) replaces this checkout's if that is still the committed one; any other
#    difference is set aside in RUNNER_DIR/runs/set_aside/ and named, never merged;
# 4. the worktree moves to this HEAD (its generated docs/ and the records this HEAD tracks
#    are replaced; records this HEAD does not track yet stay there), the runs it left locked
#    are unlocked and the runner starts again (log in RUNNER_DIR/runs/experiments.log.new,
#    the previous one appended to experiments.log).
# Then regenerate the report and commit: python -m tf_introspect.experiments report.
set -euo pipefail
runner=$(realpath -m "${1:-$(dirname "$0")/../../runner}")
cd "$(dirname "$0")/.."
main=$(pwd)
if [ "$runner" = "$main" ]; then
    echo "error: the runner's folder must be another worktree than this checkout ($main)" >&2
    exit 1
fi
head=$(git rev-parse HEAD)
if [ ! -e "$runner/.git" ]; then
    git worktree prune
    git worktree add --detach "$runner" "$head"
    [ -e "$runner/.venv" ] || ln -s "$main/.venv" "$runner/.venv"
fi
# 2. stop: TERM, again for any process started meanwhile, KILL after 15 s
for i in $(seq 100); do
    pids=$(bash scripts/runner_pids.sh "$runner")
    [ -z "${pids// /}" ] && break
    [ "$i" = 1 ] && echo "stopping the runner (PIDs $pids)"
    if [ "$i" -lt 75 ]; then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 0.2
done
# 3. the records, run by run
same() { cmp -s "$runner/$1/run.json" "$main/$1/run.json" && cmp -s "$runner/$1/metrics.json" "$main/$1/metrics.json"; }
committed() { git -C "$runner" show "HEAD:$1" 2>/dev/null | cmp -s - "$main/$1"; }
declare -A changed=()
while IFS= read -r -d '' file; do
    changed[$(cut -d/ -f1-4 <<< "$file")]+="$file"$'\n'
done < <(git -C "$runner" ls-files -z --others --exclude-standard -- results
         git -C "$runner" diff -z --name-only -- results)
brought=0
for run in $(printf '%s\n' "${!changed[@]}" | sort); do
    case "$run" in *.tmp) continue ;; esac  # a record being written when the runner stopped
    [ -f "$runner/$run/run.json" ] && [ -f "$runner/$run/metrics.json" ] || continue
    if [ ! -e "$main/$run/run.json" ] || same "$run"; then
        how=missing
    elif committed "$run/run.json" && committed "$run/metrics.json"; then
        how=rewritten
    else
        aside="$runner/runs/set_aside/$(date -u +%Y%m%dT%H%M%S)/$run"
        mkdir -p "$aside"
        while IFS= read -r file; do [ -n "$file" ] && cp "$runner/$file" "$aside/"; done <<< "${changed[$run]}"
        echo "warning: $run differs here and in the runner; the runner's files are in $aside" >&2
        continue
    fi
    while IFS= read -r file; do
        [ -n "$file" ] || continue
        if [ "$how" = rewritten ] || [ ! -e "$main/$file" ]; then
            mkdir -p "$(dirname "$main/$file")"
            cp "$runner/$file" "$main/$file"
            echo "brought $file"
            brought=$((brought + 1))
        fi
    done <<< "${changed[$run]}"
done
echo "$brought file(s) of finished runs brought into $main/results"
# 4. this HEAD, unlocked, and start
git -C "$runner" checkout -q -f --detach "$head"
mkdir -p "$runner/runs"
find "$runner/runs" \( -name run.lock -o -name runner.pid \) -delete 2>/dev/null || true
if [ -f "$runner/runs/experiments.log.new" ]; then
    cat "$runner/runs/experiments.log.new" >> "$runner/runs/experiments.log"
fi
cd "$runner"
setsid nohup bash scripts/experiments.sh > runs/experiments.log.new 2>&1 < /dev/null &
echo "runner started in $runner at ${head:0:10}; log: $runner/runs/experiments.log.new"
