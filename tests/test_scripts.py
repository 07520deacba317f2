"""scripts/restart_runner.sh and scripts/runner_pids.sh on a throwaway repository with a fake
runner (a scripts/experiments.sh that only waits): the worktree is made, the runner started;
run again, the old runner and its child are stopped, the finished runs it recorded are copied
into the checkout (not those the checkout has, not unfinished ones) and removed from the
worktree, the locks cleared, the worktree moved to the new HEAD and a new runner started."""

import os
import shutil
import signal
import subprocess
import time

from conftest import REPO

FAKE_RUNNER = """#!/usr/bin/env bash
# the fake runner: one child that waits, as a training run would
mkdir -p runs
echo "$$" >> runs/started
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


def restart(main, runner):
    return subprocess.run(
        ["bash", "scripts/restart_runner.sh", str(runner)],
        cwd=main,
        capture_output=True,
        text=True,
        timeout=120,
    )


def runner_pids(main, runner):
    found = subprocess.run(
        ["bash", "scripts/runner_pids.sh", str(runner)], cwd=main, capture_output=True, text=True
    )
    return [int(p) for p in found.stdout.split()]


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
    for name in ("restart_runner.sh", "runner_pids.sh"):
        shutil.copy(REPO / "scripts" / name, main / "scripts" / name)
    (main / "scripts" / "experiments.sh").write_text(FAKE_RUNNER)
    (main / ".gitignore").write_text("/runs\n.venv\n")
    record(main / "results" / "plan" / "ce" / "seed0")  # committed already
    git("init", "-q", cwd=main)
    first = commit(main, "one")
    pids = []
    try:
        done = restart(main, runner)
        assert done.returncode == 0, done.stderr
        assert (runner / ".git").exists() and os.path.islink(runner / ".venv")
        assert "0 file(s) of finished runs copied" in done.stdout
        assert wait_for(lambda: len(runner_pids(main, runner)) >= 2)  # the runner and its child
        pids = runner_pids(main, runner)

        # the runner records runs; the checkout moves on
        record(runner / "results" / "plan" / "le" / "seed0")  # new: comes home
        record(runner / "results" / "plan" / "ce" / "seed1", finished=False)  # stays
        rerun = runner / "results" / "plan" / "ce" / "seed0" / "verify" / "rerun.json"
        rerun.parent.mkdir()  # a new file in a committed run's record
        rerun.write_text("{}")
        record(runner / "results" / "plan" / "cp" / "seed0", accuracy=0.5)  # the checkout's:
        record(main / "results" / "plan" / "cp" / "seed0")  # committed after the runner began
        (runner / "runs" / "plan" / "le" / "seed1").mkdir(parents=True)
        (runner / "runs" / "plan" / "le" / "seed1" / "run.lock").write_text("1")
        (main / "new.txt").write_text("x")
        second = commit(main, "two")
        assert second != first

        done = restart(main, runner)
        assert done.returncode == 0, done.stderr
        assert "copied results/plan/le/seed0/metrics.json" in done.stdout
        assert "3 file(s) of finished runs copied" in done.stdout  # le's two, ce's rerun
        assert (main / "results" / "plan" / "le" / "seed0" / "metrics.json").exists()
        assert not (runner / "results" / "plan" / "le" / "seed0").exists()
        assert (main / "results" / "plan" / "ce" / "seed0" / "verify" / "rerun.json").exists()
        assert (runner / "results" / "plan" / "ce" / "seed0" / "metrics.json").exists()
        assert not (main / "results" / "plan" / "ce" / "seed1").exists()
        assert (runner / "results" / "plan" / "ce" / "seed1" / "run.json").exists()
        assert not (runner / "runs" / "plan" / "le" / "seed1" / "run.lock").exists()
        assert git("rev-parse", "HEAD", cwd=runner) == second  # the worktree at the new HEAD
        for folder in (main, runner):  # the checkout's record kept, the runner's dropped
            assert (
                "0.9" in (folder / "results" / "plan" / "cp" / "seed0" / "metrics.json").read_text()
            )
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids))
        assert wait_for(lambda: len(runner_pids(main, runner)) >= 2)  # a new runner
        started = (runner / "runs" / "started").read_text().split()
        assert len(started) == 2 and int(started[0]) in pids and int(started[1]) not in pids
        pids = runner_pids(main, runner)
        assert (runner / "runs" / "experiments.log").exists()  # the first log kept
    finally:
        for pid in pids + runner_pids(main, runner):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
