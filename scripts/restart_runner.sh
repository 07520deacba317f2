#!/usr/bin/env bash
# (Re)start the background experiment runner (scripts/experiments.sh) in its own git worktree
# at this checkout's HEAD, first bringing the runs it finished into this checkout's results/:
#   bash scripts/restart_runner.sh [RUNNER_DIR]      # default: ../runner (from this checkout)
# 1. a missing worktree is made (git worktree add --detach) and given this checkout's .venv
#    (made first by scripts/setup.sh on a fresh machine);
# 2. the runner and every run it started are stopped (the runs resume from their backups);
# 3. the records of finished runs are brought here (scripts/bring_home.sh), and what each
#    unfinished run needs to go on is parked in parked/ (python -m tf_introspect.experiments
#    park: its backup, if under 5 MB);
# 4. the worktree moves to this HEAD (its generated docs/ and the records this HEAD tracks
#    are replaced; records this HEAD does not track yet stay there), the runs parked here
#    that are further than its own are put into its runs/ (unpark: on a fresh machine, the
#    runs of the last session resume), the runs it left locked are unlocked and the runner
#    starts again (log in RUNNER_DIR/runs/experiments.log.new, the previous one appended to
#    experiments.log).
# With RUNNER_UNTIL=TIME (anything `date -d` reads: 18:10, "+150 min"), the runs too large to
# park (the MNIST MLP's) start only if projected to end by then (run --until; set it to the
# session's end less the time to park):  RUNNER_UNTIL=18:10 bash scripts/restart_runner.sh
# (a restart without it lifts the limit: give it at every restart of the session)
# Then regenerate the report and commit results/, parked/ and docs/:
#   .venv/bin/python -m tf_introspect.experiments report
# Before a session ends: bash scripts/park_runner.sh (the runner goes on), and commit.
set -euo pipefail
runner=$(realpath -m "${1:-$(dirname "$0")/../../runner}")
cd "$(dirname "$0")/.."
main=$(pwd)
if [ "$runner" = "$main" ]; then
    echo "error: the runner's folder must be another worktree than this checkout ($main)" >&2
    exit 1
fi
head=$(git rev-parse HEAD)
if [ -n "${RUNNER_UNTIL:-}" ]; then  # a moment, not a time of day the runner reads later
    if ! moment=$(date -d "$RUNNER_UNTIL" --iso-8601=seconds 2>/dev/null); then
        echo "error: RUNNER_UNTIL='${RUNNER_UNTIL}' is not a time (e.g. 18:10 or '+150 min')" >&2
        exit 1
    fi
    if [ "$(date -d "$moment" +%s)" -le "$(date +%s)" ]; then
        echo "error: RUNNER_UNTIL='${RUNNER_UNTIL}' ($moment) has passed" >&2
        exit 1
    fi
    export RUNNER_UNTIL=$moment
fi
[ -x .venv/bin/python ] || bash scripts/setup.sh  # a fresh machine: park/unpark need it
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
# 3. the records, run by run (scripts/bring_home.sh); then the unfinished runs, parked
#    here to be committed (python -m tf_introspect.experiments park)
trap 'echo "error: the runner is stopped; mend the error above and run this script again" >&2' ERR
bash scripts/bring_home.sh "$runner"  # a failure stops here (the ERR trap): the checkout
# below would put this HEAD's records over those the runner has not brought home
.venv/bin/python -m tf_introspect.experiments park "$runner" ||
    echo "warning: parking failed (above); the runner starts again without it" >&2
# 4. this HEAD, the runs parked here put there (a fresh machine), unlocked, and start
git -C "$runner" checkout -q -f --detach "$head"
mkdir -p "$runner/runs"
.venv/bin/python -m tf_introspect.experiments unpark "$runner" ||
    echo "warning: unparking failed (above); the runner starts again without it" >&2
find "$runner/runs" \( -name run.lock -o -name runner.pid \) -delete 2>/dev/null || true
if [ -f "$runner/runs/experiments.log.new" ]; then
    cat "$runner/runs/experiments.log.new" >> "$runner/runs/experiments.log"
fi
cd "$runner"
setsid nohup bash scripts/experiments.sh > runs/experiments.log.new 2>&1 < /dev/null &
echo "runner started in $runner at ${head:0:10}; log: $runner/runs/experiments.log.new"
[ -z "${RUNNER_UNTIL:-}" ] || echo "runs too large to park start only if projected to end by $RUNNER_UNTIL"
