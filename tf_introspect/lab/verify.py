"""Verifying a finished run: trained again from its recorded command, how close it came.

``python -m tf_introspect.experiments verify PLAN CELL/RUN`` trains a finished run again in
a scratch folder and records how close the rerun came
(``results/<plan>/<cell>/<run>/verify/``): identical on the machine kind that made it
(``--deterministic``), and on another machine how far it drifts.
"""

import glob
import json
import math
import os
import shutil
import subprocess
import sys
import time

from tf_introspect import atomic
from tf_introspect.lab import paths
from tf_introspect.lab.errors import PlanError
from tf_introspect.lab.plans import load_plan, plan_runs
from tf_introspect.lab.records import (
    load_record,
    machine,
    same_machine_kind,
    timestamp,
    trained_here,
)
from tf_introspect.pipeline import outputs
from tf_introspect.pipeline.workdir import code_version

#: the columns computed after an epoch from what it logged, not part of training
#: (:attr:`tf_introspect.callbacks.SimilarityDiagnostics.KEY`, LE's rank correlation)
DIAGNOSTIC_COLUMNS = ("q_confusion_spearman",)


def compare_runs(original, rerun):
    """Largest absolute differences between two finished runs' folders (``metrics.json``
    and ``history.csv``): ``{"test_accuracy": d, "test_loss": d, "history": {column: d},
    "diagnostics": {column: d}, "new_columns": [...]}``. A column of the original that the
    rerun lacks, or epochs that differ, count as ``inf``; the rerun's columns that the original
    lacks are values a newer code logs (issue 20's calibration and diagnostics), listed in
    ``new_columns``, not differences. ``diagnostics`` holds :data:`DIAGNOSTIC_COLUMNS`, apart
    from ``history``: they describe the training without being part of it, so they do not
    decide whether a rerun trained identically (:func:`identical`)."""

    def metrics(folder):
        with open(os.path.join(folder, "metrics.json")) as f:
            return json.load(f)

    a, b = metrics(original), metrics(rerun)
    diff = {k: gap(float(a[k]), float(b[k])) for k in ("test_accuracy", "test_loss")}
    ha, hb = (outputs.history(os.path.join(folder, "history.csv")) for folder in (original, rerun))
    columns = {c for row in ha.values() for c in row} - {"epoch"}
    new = {c for row in hb.values() for c in row} - columns - {"epoch"}
    history = {}
    for column in sorted(columns):
        if sorted(ha) != sorted(hb):
            history[column] = float("inf")
            continue
        try:
            history[column] = max(gap(float(ha[e][column]), float(hb[e][column])) for e in ha)
        except (KeyError, TypeError, ValueError):
            history[column] = float("inf")
    derived = {c: history.pop(c) for c in DIAGNOSTIC_COLUMNS if c in history}
    return {**diff, "history": history, "diagnostics": derived, "new_columns": sorted(new)}


def identical(diff):
    """Whether a rerun trained identically, from :func:`compare_runs`' ``diff`` (also one
    recorded before ``diagnostics`` were kept apart: their columns are then in ``history``):
    test accuracy, loss and every logged training value equal."""
    history = {c: d for c, d in diff["history"].items() if c not in DIAGNOSTIC_COLUMNS}
    return diff["test_accuracy"] == diff["test_loss"] == 0 and not any(history.values())


def diagnostic_gaps(diff):
    """``{column: gap}`` of :data:`DIAGNOSTIC_COLUMNS` in ``diff`` (wherever it keeps them)."""
    found = {**diff["history"], **diff.get("diagnostics", {})}
    return {c: found[c] for c in DIAGNOSTIC_COLUMNS if c in found}


def gap(a: float, b: float) -> float:
    """``|a - b|``; 0 when both are NaN (a value undefined in both runs, e.g. LE-Uniform's
    rank correlation), ``inf`` when only one is."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else float("inf")
    return abs(a - b)


def verify(path, cell, name, log=print):
    """Train a finished run again from its recorded command, in a fresh scratch folder
    (``runs/verify/...``), and record how close it came in
    ``results/<plan>/<cell>/<run>/verify/<time>.json`` (the machine, the code's commit, the
    largest differences; ``identical`` when there are none). On the machine kind that made
    the run, ``--deterministic`` runs should be identical; on another, this measures how far
    floating-point differences carry. Returns the verification record."""
    plan = load_plan(path)
    runs = {(r.cell, r.name): r for r in plan_runs(plan) if r.settings is not None}
    run = runs.get((cell, name))
    record = load_record(run) if run else None
    if record is None:
        done = sorted(f"{c}/{n}" for (c, n), r in runs.items() if load_record(r))
        raise PlanError(
            f"{cell}/{name} is not a finished run of {path}; finished: {', '.join(done) or 'none'}."
        )
    workdir = os.path.relpath(
        os.path.join(paths.ROOT, paths.RUNS, "verify", run.plan, run.cell, run.name), paths.REPO
    )
    shutil.rmtree(os.path.join(paths.REPO, workdir), ignore_errors=True)  # never resume it
    os.makedirs(os.path.join(paths.REPO, workdir))
    args = [a for a in record["command"][3:] if not a.startswith("--workdir=")]
    command = [
        sys.executable,
        "-m",
        "tf_introspect.main",
        *args,
        f"--workdir={workdir}",
        "--verbose=2",
    ]
    started, start = timestamp(), time.time()
    log(f"[{started}] verify {run.cell}/{run.name}: {' '.join(args)}")
    with open(os.path.join(paths.REPO, workdir, "output.log"), "a") as out:
        code = subprocess.call(command, cwd=paths.REPO, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise PlanError(
            f"the rerun of {run.cell}/{run.name} failed (exit {code}); see {workdir}/output.log"
        )
    diff = compare_runs(os.path.join(paths.REPO, run.result_dir), os.path.join(paths.REPO, workdir))
    same = identical(diff)
    here = machine()
    commit, dirty = code_version()
    result = {
        "run": f"{run.plan}/{run.cell}/{run.name}",
        "command": ["python", "-m", "tf_introspect.main", *args, f"--workdir={workdir}"],
        "machine": here,
        "same_machine_kind": trained_here(record, here),
        "git_commit": commit,
        "uncommitted_changes": dirty,
        "recorded_git_commit": record["git_commit"],
        "max_abs_diff": diff,
        "identical": same,
        "wall_time_s": round(time.time() - start, 1),
        "finished": timestamp(),
    }
    stamp = result["finished"].replace(":", "").replace("+0000", "Z")
    folder = os.path.join(paths.REPO, run.result_dir, "verify")
    os.makedirs(folder, exist_ok=True)
    atomic.write_json(os.path.join(folder, f"{stamp}.json"), result)
    log(
        f"verify {run.cell}/{run.name}: {'identical' if same else 'differs'} "
        f"(test accuracy {diff['test_accuracy']:.2g} apart, largest history difference "
        f"{max(diff['history'].values(), default=0):.2g}"
        + "".join(f"; diagnostic {c} {d:.2g} apart" for c, d in diff["diagnostics"].items() if d)
        + ")"
    )
    return result


def verified_here(path, cell, name):
    """Whether a verification of ``cell/name`` was recorded on this machine kind."""
    plan = load_plan(path)
    here = machine()
    return any(
        same_machine_kind(v["machine"], here) and "cpu_model" in v["machine"]
        for r in plan_runs(plan)
        if (r.cell, r.name) == (cell, name) and r.settings
        for v in verifications(r)
    )


def verifications(run):
    """The verification records of ``run`` (oldest first)."""
    out = []
    for path in sorted(glob.glob(os.path.join(paths.REPO, run.result_dir, "verify", "*.json"))):
        with open(path) as f:
            out.append(json.load(f))
    return out
