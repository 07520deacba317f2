"""scripts/restart_runner.sh, park_runner.sh, bring_home.sh and runner_pids.sh on a throwaway
repository with a fake runner (a scripts/experiments.sh that only waits) and a fake Python
that logs the park and unpark commands (tests/test_parking.py tests those): the worktree is
made, the runner started; run again, the old runner and its child are stopped, the records of
finished runs brought into the checkout (a new run, a rewritten record, a rerun's record; not
unfinished runs or records being written; a conflicting record set aside, never merged), the
unfinished runs parked, the worktree moved to the new HEAD over the runner's generated docs,
the parked runs put there, the locks cleared and a new runner started. park_runner.sh pauses
the runner, brings its records, parks, and lets it go on."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import REPO

FAKE_PYTHON = """#!/usr/bin/env bash
# the fake interpreter: logs its command and the state of the fake runner's child (if any)
child=$(pgrep -f 'sleep 300' | head -1)
echo "$* ${child:+$(cut -d' ' -f3 /proc/$child/stat)}" >> "$(dirname "$0")/../calls"
"""

FAKE_RUNNER = """#!/usr/bin/env bash
# the fake runner: one child that waits, as a training run would
mkdir -p runs
echo "$$ ${RUNNER_UNTIL:-none}" >> runs/started
sleep 300 &
wait
"""


def git(*args, cwd):
    """``git ARGS`` in ``cwd`` (a committer named), its output."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit(cwd, message):
    git("add", "-A", cwd=cwd)
    git("commit", "-qm", message, cwd=cwd)
    return git("rev-parse", "HEAD", cwd=cwd)


def bash(cwd, script, *args, **env):
    """``bash SCRIPT ARGS`` in ``cwd`` with ``env`` added, its completed process (output
    captured)."""
    return subprocess.run(
        ["bash", script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "RUNNER_UNTIL"}, **env},
    )


def restart(main, runner):
    return bash(main, "scripts/restart_runner.sh", str(runner))


def runner_pids(main, runner):
    found = subprocess.run(
        ["bash", "scripts/runner_pids.sh", str(runner)], cwd=main, capture_output=True, text=True
    )
    return [int(p) for p in found.stdout.split()]


def accuracy(run):
    return (run / "metrics.json").read_text().split(": ")[1].rstrip("}")


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def record(folder, finished=True, accuracy=0.9):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text("{}")
    if finished:
        (folder / "metrics.json").write_text(f'{{"test_accuracy": {accuracy}}}')


def test_restart_runner_brings_finished_runs_home_and_starts_again(tmp_path):
    main, runner = tmp_path / "main", tmp_path / "runner"
    (main / "scripts").mkdir(parents=True)
    scripts = ("restart_runner.sh", "runner_pids.sh", "bring_home.sh", "park_runner.sh", "quiet.sh")
    for name in scripts:
        shutil.copy(REPO / "scripts" / name, main / "scripts" / name)
    (main / "scripts" / "experiments.sh").write_text(FAKE_RUNNER)
    python = main / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = main / ".venv" / "calls"
    (main / ".gitignore").write_text("/runs\n.venv\n")
    (main / "docs").mkdir()
    (main / "docs" / "RESULTS.md").write_text("v1")
    results = Path("results") / "plan"
    record(main / results / "ce" / "seed0")  # committed already
    git("init", "-q", cwd=main)
    first = commit(main, "one")
    pids = []
    try:
        done = restart(main, runner)
        assert done.returncode == 0, done.stderr
        assert (runner / ".git").exists() and os.path.islink(runner / ".venv")
        assert "0 file(s) of finished runs brought" in done.stdout
        experiments = "-m tf_introspect.experiments"
        assert [c.split()[:4] for c in calls.read_text().splitlines()] == [
            [*experiments.split(), "park", str(runner)],
            [*experiments.split(), "unpark", str(runner)],
        ]
        assert wait_for(lambda: len(runner_pids(main, runner)) >= 2)  # the runner and its child
        pids = runner_pids(main, runner)

        # what the runner does meanwhile, and the checkout
        record(runner / results / "le" / "seed0")  # a new run: comes here
        record(runner / results / "ce" / "seed1", finished=False)  # unfinished: stays there
        record(runner / results / "le" / "seed2.tmp")  # a record being written: stays there
        (runner / results / "ce" / "seed0" / "metrics.json").write_text('{"test_accuracy": 0.95}')
        rerun = runner / results / "ce" / "seed0" / "verify" / "rerun.json"
        rerun.parent.mkdir()  # ce/seed0 trained again (stale): its record rewritten, a rerun's
        rerun.write_text("{}")
        record(runner / results / "cp" / "seed0", accuracy=0.5)  # and cp/seed0 as well ...
        record(main / results / "cp" / "seed0")  # ... but another cp/seed0 was committed here
        (runner / "docs" / "RESULTS.md").write_text("v2")  # the runner's report
        (runner / "runs" / "plan" / "le" / "seed1").mkdir(parents=True)
        (runner / "runs" / "plan" / "le" / "seed1" / "run.lock").write_text("1")
        (main / "new.txt").write_text("x")
        second = commit(main, "two")
        assert second != first

        # a bad RUNNER_UNTIL: refused before anything is stopped
        refused = bash(main, "scripts/restart_runner.sh", str(runner), RUNNER_UNTIL="soonish")
        assert refused.returncode == 1 and "RUNNER_UNTIL='soonish' is not a time" in refused.stderr
        refused = bash(main, "scripts/restart_runner.sh", str(runner), RUNNER_UNTIL="-1 min")
        assert refused.returncode == 1 and "RUNNER_UNTIL='-1 min' (" in refused.stderr
        assert "has passed" in refused.stderr
        assert runner_pids(main, runner) == pids
        # a relative folder: from the caller's folder; RUNNER_UNTIL passed on as a moment
        done = bash(
            tmp_path, "main/scripts/restart_runner.sh", "runner", RUNNER_UNTIL="tomorrow 18:10"
        )
        assert done.returncode == 0, done.stderr
        moment = subprocess.run(
            ["date", "-d", "tomorrow 18:10", "--iso-8601=seconds"], capture_output=True, text=True
        ).stdout.strip()
        assert f"start only if projected to end by {moment}" in done.stdout
        assert "brought results/plan/le/seed0/\n" in done.stdout  # a new run: its folder whole
        assert "4 file(s) of finished runs brought" in done.stdout  # le: 2; ce: metrics, rerun
        assert accuracy(main / results / "le" / "seed0") == "0.9"
        assert accuracy(main / results / "ce" / "seed0") == "0.95"  # the rewritten record
        assert (main / results / "ce" / "seed0" / "verify" / "rerun.json").exists()
        assert accuracy(main / results / "cp" / "seed0") == "0.9"  # never merged: set aside
        assert "warning: results/plan/cp/seed0 differs here and in the runner" in done.stderr
        (aside,) = (runner / "runs" / "set_aside").glob(f"*/{results}/cp/seed0")
        assert accuracy(aside) == "0.5"
        for kept in ("ce/seed1", "le/seed2.tmp"):
            assert not (main / results / kept).exists() and (runner / results / kept).exists()
        assert git("rev-parse", "HEAD", cwd=runner) == second  # the worktree at the new HEAD
        assert (runner / "docs" / "RESULTS.md").read_text() == "v1"  # the committed one
        assert accuracy(runner / results / "cp" / "seed0") == "0.9"
        assert (runner / results / "le" / "seed0").exists()  # not committed here yet: kept
        assert not (runner / "runs" / "plan" / "le" / "seed1" / "run.lock").exists()
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids))
        assert wait_for(lambda: len(runner_pids(main, runner)) >= 2)  # a new runner
        started = [line.split() for line in (runner / "runs" / "started").read_text().splitlines()]
        assert [until for _, until in started] == ["none", moment]
        assert int(started[0][0]) in pids and int(started[1][0]) not in pids
        pids = runner_pids(main, runner)
        assert (runner / "runs" / "experiments.log").exists()  # the first log kept
        calls.unlink()
        record(runner / results / "ls" / "seed0")
        record(runner / results / "ls" / "grid" / "smoothing=0.6")  # a grid point's record
        parked = bash(main, "scripts/park_runner.sh", str(runner), "--max_mb=9")
        assert parked.returncode == 0, parked.stderr
        assert "brought results/plan/ls/seed0/\n" in parked.stdout
        assert "brought results/plan/ls/grid/smoothing=0.6/\n" in parked.stdout
        assert not list((main / results).rglob("*.copying"))
        (call,) = calls.read_text().splitlines()  # parked while the runner was stopped (T)
        assert call.split() == [*experiments.split(), "park", str(runner), "--max_mb=9", "T"]
        assert runner_pids(main, runner) == pids  # and then it went on
        state = Path(f"/proc/{pids[-1]}/stat").read_text().split()[2]
        assert state != "T", state
        # quiet.sh: the runner stopped while the command runs, its pause written for
        # run --until (lab/deadline.py), and the runner going on
        before = int(time.time())
        quiet = bash(
            main,
            "scripts/quiet.sh",
            "bash",
            "-c",
            f"cut -d' ' -f3 /proc/{pids[-1]}/stat",
            QUIET_RUNNER=str(runner),
        )
        assert quiet.returncode == 0 and quiet.stdout.strip() == "T", quiet.stderr
        (pause,) = (runner / "runs" / "pauses.log").read_text().splitlines()
        paused, resumed = map(int, pause.split())
        assert before <= paused <= resumed - 5 <= int(time.time())  # quiet.sh waits 5 s
        assert Path(f"/proc/{pids[-1]}/stat").read_text().split()[2] != "T"
        usage = bash(main, "scripts/bring_home.sh")
        assert (
            usage.returncode == 2 and "usage: bash scripts/bring_home.sh RUNNER_DIR" in usage.stderr
        )
        refused = restart(main, main)
        assert refused.returncode == 1 and "another worktree than this checkout" in refused.stderr
    finally:
        for pid in pids + runner_pids(main, runner):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
