#!/usr/bin/env bash
# (Re)start the background experiment runner (scripts/experiments.sh) in its own git worktree
# at this checkout's HEAD, first bringing the runs it finished into this checkout's results/:
#   bash scripts/restart_runner.sh [RUNNER_DIR]      # default: ../runner
# 1. a missing worktree is made (git worktree add --detach) and given this checkout's .venv;
# 2. the runner and every run it started are stopped (the runs resume from their backups);
# 3. the files it added to the records of finished runs (results/<plan>/<cell>/<run>/ with a
#    run.json and metrics.json: new runs, the records of reruns), untracked there, are copied
#    here unless this checkout has them, then removed there (a checkout would trip over
#    them); the runs it left locked are unlocked;
# 4. the worktree moves to this HEAD and the runner starts again (nohup, log in
#    RUNNER_DIR/runs/experiments.log.new; the previous one is appended to experiments.log).
# Commit what step 3 copied: python -m tf_introspect.experiments report; git add results docs.
set -euo pipefail
cd "$(dirname "$0")/.."
main=$(pwd)
runner=$(realpath -m "${1:-../runner}")
head=$(git rev-parse HEAD)
if [ ! -e "$runner/.git" ]; then
    git worktree add --detach "$runner" "$head"
    [ -e "$runner/.venv" ] || ln -s "$main/.venv" "$runner/.venv"
fi
# 2. the runner working in the worktree, and every run it started
pids=$(bash scripts/runner_pids.sh "$runner")
if [ -n "${pids// /}" ]; then
    echo "stopping the runner (PIDs $pids)"
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 100); do  # up to 20 s for them to end
        alive=0
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    kill -KILL $pids 2>/dev/null || true
fi
# 3. the files the runner added to the records of finished runs (new runs, reruns' records):
# copied here unless this checkout has them, then removed there; nothing else is touched
files=()  # decided before anything is removed
while IFS= read -r file; do
    run=$(cut -d/ -f1-4 <<< "$file")
    [ -f "$runner/$run/run.json" ] && [ -f "$runner/$run/metrics.json" ] && files+=("$file")
done < <(git -C "$runner" ls-files --others --exclude-standard -- results)
copied=0
for file in "${files[@]}"; do
    if [ ! -e "$main/$file" ]; then
        mkdir -p "$(dirname "$main/$file")"
        cp "$runner/$file" "$main/$file"
        echo "copied $file"
        copied=$((copied + 1))
    fi
    rm -f "$runner/$file"
done
find "$runner/results" -type d -empty -delete 2>/dev/null || true
echo "$copied file(s) of finished runs copied into $main/results"
find "$runner/runs" \( -name run.lock -o -name runner.pid \) -delete 2>/dev/null || true
# 4. this HEAD, and start
git -C "$runner" checkout -q --detach "$head"
mkdir -p "$runner/runs"
if [ -f "$runner/runs/experiments.log.new" ]; then
    cat "$runner/runs/experiments.log.new" >> "$runner/runs/experiments.log"
fi
cd "$runner"
setsid nohup bash scripts/experiments.sh > runs/experiments.log.new 2>&1 < /dev/null &
echo "runner started in $runner at ${head:0:10}; log: $runner/runs/experiments.log.new"
