"""Run records: ``results/<plan>/<cell>/<run>/`` (the committed evidence of a finished run).

A record is the run's ``metrics.json`` and ``history.csv`` (no weights) with a ``run.json``:
the exact command, the git commit, the protocol, the machine, the wall time and the
settings that decide the result. Here: writing one (trained, or reused from another plan's
run of the same settings), reading one back if it still holds a run's settings and is not
stale (made by code older than the cell's ``since`` commit), and the machine time it took.
"""

import datetime
import json
import os
import shutil
import subprocess
import time

from tf_introspect import atomic
from tf_introspect.lab import paths
from tf_introspect.lab.errors import PlanError
from tf_introspect.pipeline.workdir import code_version, machine

RECORDED = ("metrics.json", "history.csv")


def read_record(folder):
    """A finished run's ``run.json`` with its ``metrics.json`` under "metrics"; a run recorded
    before its metrics held the calibration gets that of its ``calibration.json``
    (:mod:`tf_introspect.lab.calibrate`), if any, and ``calibrated_after_training``."""
    with open(os.path.join(folder, "run.json")) as f:
        record = json.load(f)
    with open(os.path.join(folder, "metrics.json")) as f:
        record["metrics"] = json.load(f)
    later = os.path.join(folder, "calibration.json")
    if "test_ece" not in record["metrics"] and os.path.exists(later):
        with open(later) as f:
            found = json.load(f)
        record["metrics"].update(
            {k: found[k] for k in ("test_nll", "test_ece", "test_reliability")}
        )
        record["calibrated_after_training"] = True
    return record


def machine_seconds(record):
    """The machine time a finished run took: its wall time, shared with the runs beside it
    (``run --jobs``; records made before ``machine_time_s`` divide by ``runs_at_a_time``)."""
    if "machine_time_s" in record:
        return record["machine_time_s"]
    return record["wall_time_s"] / record.get("runs_at_a_time", 1)


def seconds_an_epoch(record):
    """Machine seconds an epoch of a finished run: a run resumed from its backup timed only
    the epochs of its last start (``resumed_after_epoch`` in its metrics)."""
    metrics = record["metrics"]
    timed = (
        metrics["epochs"]
        + metrics.get("pretraining_epochs", 0)
        - (metrics.get("resumed_after_epoch") or 0)
    )
    return machine_seconds(record) / max(1, timed)


#: suffixes of a record folder being written: by :func:`record_run` (``.tmp``) or by
#: ``scripts/bring_home.sh`` (``.copying``); never read as a record
BEING_WRITTEN = (".tmp", ".copying")


def load_record(run):
    """The committed record of ``run`` if it holds the same settings and protocol, else None."""
    folder = os.path.join(paths.REPO, run.result_dir)
    if run.settings is None or not os.path.exists(os.path.join(folder, "run.json")):
        return None
    record = read_record(folder)
    if record.get("settings") != run.settings or not current(record, run.since):
        return None
    return record


def _git(*args):
    return subprocess.run(["git", *args], cwd=paths.REPO, capture_output=True, text=True)


def current(record, since):
    """Whether ``record`` was made by code containing commit ``since`` (always without one).
    A commit git does not know (or no git) is a :class:`PlanError`, not a silent rerun."""
    if not since:
        return True
    if _git("cat-file", "-e", f"{since}^{{commit}}").returncode != 0:
        raise PlanError(f"since = {since!r} is not a commit of this repository.")
    made = record.get("git_commit", "")
    return bool(made) and _git("merge-base", "--is-ancestor", since, made).returncode == 0


def commit_time(commit):
    """The commit time of ``commit`` (seconds since the epoch)."""
    return float(_git("show", "-s", "--format=%ct", commit).stdout.strip())


def trained_on(record):
    """The machines that trained a recorded run: the ``machine`` of each of its starts
    (``metrics.json``'s ``starts``: a run resumed on another machine names both), or the
    record's own for a run recorded before starts were. ``None`` for a start not known (a run
    begun before starts were recorded, and resumed since)."""
    starts = record.get("metrics", {}).get("starts") or []
    return [s["machine"] for s in starts] or [record["machine"]]


def trained_here(record, here):
    """Whether every start of a recorded run was on the machine kind ``here`` (a start on an
    unknown machine was not)."""
    return all(m and same_machine_kind(here, m) for m in trained_on(record))


def same_machine_kind(a, b):
    """Whether two ``machine()`` records describe the same kind of machine (on the keys both
    have: records made before a key was added are compared on the others)."""
    return all(a[k] == b[k] for k in set(a) & set(b))


def record_run(plan, run, wall_time, started, machine_time=None, at_a_time=1, finished=None):
    """Copy the finished run's outputs into its results folder, atomically. With ``run
    --jobs`` the wall time depends on the runs beside: ``machine_time`` is the run's share of
    the machine (:class:`~tf_introspect.lab.runner.Sharing`), ``at_a_time`` the most runs at
    once in its life. ``finished``: when the training ended (default: now)."""
    with open(os.path.join(paths.REPO, run.workdir, "metrics.json")) as f:
        trained_by = json.load(f).get("code_version")  # the code that trained it
    commit, dirty = trained_by if trained_by else code_version()
    record = {
        "plan": run.plan,
        "cell": run.cell,
        "run": run.name,
        "protocol": plan.get("protocol"),
        "command": ["python", "-m", "tf_introspect.main", *run.args, f"--workdir={run.workdir}"],
        "settings": run.settings,
        "git_commit": commit,
        "uncommitted_changes": dirty,
        "machine": machine(),
        "wall_time_s": round(wall_time, 1),
        "machine_time_s": round(wall_time if machine_time is None else machine_time, 1),
        "runs_at_a_time": at_a_time,
        "started": started,
        "finished": finished or timestamp(),
    }
    _write_record(run, run.workdir, record)


def _write_record(run, source, record):
    """``results/<plan>/<cell>/<run>/``: the :data:`RECORDED` files of folder ``source``
    (relative to the repository) and ``record`` as ``run.json``, replaced as a whole."""
    final = os.path.join(paths.REPO, run.result_dir)
    tmp = final.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in RECORDED:
        shutil.copy(os.path.join(paths.REPO, source, name), os.path.join(tmp, name))
    atomic.write_json(os.path.join(tmp, "run.json"), record)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def timestamp(seconds=None):
    """``seconds`` since the epoch (default: now) as an ISO 8601 UTC time."""
    return datetime.datetime.fromtimestamp(
        time.time() if seconds is None else seconds, datetime.UTC
    ).isoformat(timespec="seconds")


def equal_record(run):
    """The results folder (relative to the repository) of a run of another plan or cell
    recorded with exactly ``run``'s settings (itself trained, not reused), or None."""
    import glob

    own = os.path.normpath(run.result_dir)
    pattern = os.path.join(paths.ROOT, paths.RESULTS, "**", "run.json")
    for path in sorted(glob.glob(pattern, recursive=True)):
        folder = os.path.relpath(os.path.dirname(path), paths.REPO)
        if (
            os.path.normpath(folder) == own
            or f"{os.sep}verify" in folder
            or folder.endswith(BEING_WRITTEN)
        ):  # a record being written (or left by a crash, or by scripts/bring_home.sh)
            continue
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if (
            record.get("settings") == run.settings
            and not record.get("reused_from")
            and current(record, run.since)
        ):
            return folder
    return None


def reuse(plan, run, source, log=print):
    """Record ``run`` from the finished run in ``source`` (same settings, another cell or
    plan): its files are copied and its ``run.json`` names ``source`` as ``reused_from``."""
    with open(os.path.join(paths.REPO, source, "run.json")) as f:
        record = json.load(f)
    record.update(
        plan=run.plan,
        cell=run.cell,
        run=run.name,
        protocol=plan.get("protocol"),
        reused_from=source,
    )
    _write_record(run, source, record)
    log(f"reused {run.cell}/{run.name}: the same settings were trained in {source}")
