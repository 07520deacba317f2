#!/usr/bin/env bash
# Bring the records of the runs a background runner (scripts/experiments.sh in its own git
# worktree) has finished into this checkout's results/, run by run (a run's records:
# results/<plan>/<cell>/<run>/ with a run.json and a metrics.json):
#   bash scripts/bring_home.sh RUNNER_DIR
# - a run this checkout lacks is copied;
# - for a run it has with the same run.json and metrics.json, the files it lacks (e.g. a
#   rerun's record under verify/);
# - a record the runner rewrote (a stale run trained again) replaces this checkout's if that
#   is still the committed one;
# - any other difference is set aside in RUNNER_DIR/runs/set_aside/ and named, never merged;
# - a record being written (*.tmp) is left there.
# Records are written whole (a folder renamed into place), so the runner may go on meanwhile;
# here too: a new run's folder is copied aside and renamed into place, a file copied aside and
# renamed over its old copy, so that a stop midway leaves no half-copied record.
# Used by scripts/restart_runner.sh and scripts/park_runner.sh.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: bash scripts/bring_home.sh RUNNER_DIR (e.g. ../runner)" >&2
    exit 2
fi
runner=$(realpath -m "$1")
cd "$(dirname "$0")/.."
main=$(pwd)
same() { cmp -s "$runner/$1/run.json" "$main/$1/run.json" && cmp -s "$runner/$1/metrics.json" "$main/$1/metrics.json"; }
committed() { git -C "$runner" show "HEAD:$1" 2>/dev/null | cmp -s - "$main/$1"; }
declare -A changed=()
while IFS= read -r -d '' file; do
    run=$(cut -d/ -f1-4 <<< "$file")  # results/<plan>/<cell>/<run>, or .../grid/<flag>=<v>
    [ "${run##*/}" = grid ] && run=$(cut -d/ -f1-5 <<< "$file")
    changed[$run]+="$file"$'\n'
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
    if [ ! -e "$main/$run" ]; then  # a new run: its whole folder, renamed into place
        mkdir -p "$(dirname "$main/$run")"
        rm -rf "$main/$run.copying"
        cp -r "$runner/$run" "$main/$run.copying"
        mv -T "$main/$run.copying" "$main/$run"
        echo "brought $run/"
        brought=$((brought + $(find "$main/$run" -type f | wc -l)))
        continue
    fi
    while IFS= read -r file; do
        [ -n "$file" ] || continue
        if [ "$how" = rewritten ] || [ ! -e "$main/$file" ]; then
            mkdir -p "$(dirname "$main/$file")"
            cp "$runner/$file" "$main/$file.copying"
            mv -f "$main/$file.copying" "$main/$file"
            echo "brought $file"
            brought=$((brought + 1))
        fi
    done <<< "${changed[$run]}"
done
echo "$brought file(s) of finished runs brought into $main/results"
