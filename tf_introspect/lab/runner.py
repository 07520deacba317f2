"""Running a plan: every missing run as one ``python -m tf_introspect.main`` process.

Every run works in ``runs/<plan>/<cell>/<run>/`` (it resumes there from its backup after an
interruption); when it finishes it is recorded in ``results/<plan>/<cell>/<run>/``
(:mod:`tf_introspect.lab.records`). A run whose record holds the same settings and protocol
is skipped; one whose settings differ is run again; one whose settings were already trained
by another plan or cell is copied from there. So a plan can be started in the background in
several sessions, and each adds what is missing; ``--jobs`` runs several at a time, each
recorded with its share of the machine (:class:`Sharing`); ``--until`` starts only the runs
projected to end by then (:class:`~tf_introspect.lab.deadline.Deadline`: a session's end,
for runs too large to park).
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from tf_introspect.lab import paths
from tf_introspect.lab.deadline import Deadline
from tf_introspect.lab.errors import PlanError
from tf_introspect.lab.plans import load_plan, plan_runs
from tf_introspect.lab.records import equal_record, load_record, record_run, reuse, timestamp
from tf_introspect.pipeline import outputs
from tf_introspect.pipeline.workdir import STARTS


def execute(plan, run, log=print, sharing=None):
    """Run one training process (resuming in its workdir) and record it; returns success.
    A run recorded elsewhere with the same settings (e.g. the same LE cell in two plans) is
    reused instead of trained again. ``sharing``: the :class:`Sharing` of the runs made
    beside it (``--jobs``)."""
    source = equal_record(run)
    if source is not None:
        reuse(plan, run, source, log)
        return True
    workdir = os.path.join(paths.REPO, run.workdir)
    os.makedirs(workdir, exist_ok=True)
    if outputs.load(workdir) is None and run.made_before_fix():
        log(f"{run.cell}/{run.name}: its backup was begun before {run.since}; starting over")
        shutil.rmtree(os.path.join(workdir, "backup"), ignore_errors=True)
        for name in ("history.csv", STARTS):  # the old code's epochs and start
            if os.path.exists(os.path.join(workdir, name)):
                os.remove(os.path.join(workdir, name))
    lock = os.path.join(workdir, "runner.pid")
    with open(lock, "w") as f:
        f.write(str(os.getpid()))
    sharing = sharing or Sharing()
    sharing.start((run.cell, run.name))
    started, start = timestamp(), time.time()
    log(f"[{started}] start {run.cell}/{run.name}: {' '.join(run.args)}")
    try:
        with open(os.path.join(workdir, "output.log"), "a") as out:
            code = subprocess.call(
                run.command(), cwd=paths.REPO, stdout=out, stderr=subprocess.STDOUT
            )
    finally:
        os.remove(lock)
        share = sharing.finish((run.cell, run.name))
    if code != 0:
        log(f"FAILED {run.cell}/{run.name} (exit {code}); see {run.workdir}/output.log")
        return False
    metrics = os.path.join(paths.REPO, run.workdir, "metrics.json")
    ended = os.path.getmtime(metrics)
    if ended < start:  # finished earlier: main.py reused its folder; its own times count
        with open(metrics) as f:
            trained = json.load(f)["wall_time_s"]
        log(
            f"{run.cell}/{run.name} was already finished in {run.workdir}; recorded with "
            f"its own training time ({trained:.0f} s)"
        )
        record_run(plan, run, trained, timestamp(ended - trained), finished=timestamp(ended))
    else:
        record_run(plan, run, time.time() - start, started, *share)
    log(f"done {run.cell}/{run.name} in {time.time() - start:.0f} s -> {run.result_dir}")
    return True


def prepare(plan, log=print):
    """Run the plan's ``[prepare]`` command (e.g. write CIFAR-10 in its original binary layout)
    unless its ``path`` exists; ``python`` in the command is this interpreter."""
    step = plan.get("prepare")
    if not step or os.path.exists(os.path.join(paths.REPO, step["path"])):
        return
    command = [sys.executable if part == "python" else part for part in step["command"]]
    log(f"preparing {step['path']}: {' '.join(step['command'])}")
    if subprocess.run(command, cwd=paths.REPO).returncode != 0:
        raise PlanError(
            f"plan {plan['name']!r}: its [prepare] step failed ({' '.join(step['command'])}, "
            "above): its data_dir is where this project's machines keep the data; give "
            "--data_dir=DIR with the data set's files (python -m tf_introspect.data info)."
        )


class Sharing:
    """The runs in flight in this process (``run --jobs``), so that each finished run is given
    its share of the machine: the integral over its life of 1 / (runs in flight then)."""

    def __init__(self):
        self._lock, self._spans = threading.Lock(), {}

    def start(self, key):
        with self._lock:
            self._spans[key] = [time.time(), None]

    def finish(self, key):
        """``(machine seconds, most runs in flight at once)`` of the run ``key``."""
        with self._lock:
            now = time.time()
            self._spans[key][1] = now
            begin = self._spans[key][0]
            spans = [(a, now if b is None else b) for a, b in self._spans.values()]
        cuts = sorted({begin, now} | {t for span in spans for t in span if begin < t < now})
        share, most = 0.0, 1
        for a, b in zip(cuts, cuts[1:]):
            n = sum(x <= (a + b) / 2 < y for x, y in spans)
            share, most = share + (b - a) / n, max(most, n)
        return share, most


def run_plan(path, cells=None, seeds=None, jobs=1, log=print, data_dir=None, until=None):
    """Run what is missing of the plan (data from ``data_dir`` if given, see
    :func:`~tf_introspect.lab.plans.load_plan`), ``jobs`` runs at a time (the next one starts
    as soon as one ends), and with ``until`` (seconds since the epoch) only those projected
    to end by then (:class:`~tf_introspect.lab.deadline.Deadline`; a run refused is
    considered again after each run that ends); returns the number of failed runs."""
    plan = load_plan(path, data_dir)
    unknown = set(cells or ()) - {c["name"] for c in plan["cell"]}
    if unknown:
        raise PlanError(
            f"unknown cell(s) {sorted(unknown)}; cells of {path}: "
            f"{', '.join(c['name'] for c in plan['cell'])}."
        )
    prepare(plan, log)
    failed, attempted, in_flight, sharing, refused = 0, set(), {}, Sharing(), set()
    deadline = Deadline(until, log) if until is not None else None
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        while True:
            # again after every finished run: a grid's end gives its seeded runs settings
            pending = [
                r
                for r in plan_runs(plan, cells, seeds)
                if r.settings is not None
                and load_record(r) is None
                and (r.cell, r.name) not in attempted | refused
            ]
            if deadline and pending:
                deadline.refresh()
            for index, run in enumerate(pending):
                if len(in_flight) >= jobs:
                    break
                # the runs it will share the machine with: those in flight and those to come
                beside = min(jobs, len(in_flight) + len(pending) - index) - 1
                if deadline and not deadline.fits(run, beside):
                    refused.add((run.cell, run.name))
                    continue
                attempted.add((run.cell, run.name))
                in_flight[pool.submit(execute, plan, run, log, sharing)] = run
            if not in_flight:
                break
            done, _ = concurrent.futures.wait(
                in_flight, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                run = in_flight.pop(future)
                if not future.result():
                    failed += 1
                elif deadline:
                    deadline.ended(run)
                refused.clear()  # a free slot, a new slowdown: each is priced again
    if refused:
        log(f"{len(refused)} run(s) not started: projected to end after --until.")
    blocked = [r for r in plan_runs(plan, cells, seeds) if r.settings is None]
    if blocked:
        log(f"{len(blocked)} run(s) wait for a grid that did not finish.")
    return failed
