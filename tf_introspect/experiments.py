"""Resumable experiment runner: ``python -m tf_introspect.experiments run|status|report``.

A *plan* (a TOML file under ``experiments/``, data not code) lists the cells of a paper table:
each cell a flag file of ``flags/`` plus the plan's protocol flags (e.g. the ``short``
protocol's epochs), run for every seed of the plan; a cell with a ``grid`` first runs one
seed per grid value on a validation split held out from the training set and then uses the
value with the best final validation accuracy (never the test set). Every run is one
``python -m tf_introspect.main`` process, working in ``runs/<plan>/<cell>/<run>/`` (it resumes
there from its backup after an interruption); when it finishes, its ``metrics.json`` and
``history.csv`` are copied (no weights) with a ``run.json`` -- the exact command, the git
commit, the protocol, the machine, the wall time and the settings that decide the result --
into ``results/<plan>/<cell>/<run>/``, the folder that is committed. A run whose ``results``
record holds the same settings and protocol is skipped; one whose settings differ is run
again; one whose settings were already trained by another plan or cell is copied from there
(its ``run.json`` says ``reused_from``). So a plan can be started in the background in
several sessions, and each adds what is missing::

    nohup python -m tf_introspect.experiments run experiments/table3_short.toml &
    python -m tf_introspect.experiments status experiments/table3_short.toml
    python -m tf_introspect.experiments report          # regenerates docs/RESULTS.md
    python -m tf_introspect.experiments verify experiments/table3_short.toml ce/seed0

``verify`` trains a finished run again from its recorded command in a scratch folder and
records how close the rerun came (``results/<plan>/<cell>/<run>/verify/``): identical on the
machine kind that made it (``--deterministic``), and on another machine how far it drifts.

Plan keys: ``description``, ``protocol`` (a name, e.g. ``short`` or ``paper``), ``data_dir``
(relative to the repository), ``data_labels`` (how figures name a data set of this copy,
e.g. ``{cifar10 = "CIFAR-10 (JPEG)"}``), ``seeds``, ``validation_split`` (images held out for grids),
``grid_seed``, ``order`` (``cell``: cell by cell, the default; ``seed``: seed by seed),
``reference`` (the cell compared with all others), ``paper_order`` (chains of cells in the
ascending accuracy the paper claims, tested pair by pair in the report), ``[prepare]`` (``path`` and
``command``: made once before the first run, e.g. the data), ``[flags]`` (protocol flags
for every run) and ``[[cell]]`` tables with ``name``, ``flagfile``, optional ``flags``,
``grid = {flag = [values]}``, ``seeds``, ``since`` and ``paper`` / ``paper_std`` (the paper's test
accuracy in %, shown beside ours).

``since`` (a cell's, else the plan's): the commit of the last fix that changes the cell's
results (e.g. the explainers, the data pipeline). A record made by code that does not
contain it (its ``git_commit`` is not a descendant) is stale: it is neither counted nor
reused, and the run is trained again (``--overwrite`` over a finished work folder older than
that commit). Every record names its commit, so nothing relies on memory.
"""

import argparse
import concurrent.futures
import dataclasses
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib

from tf_introspect import atomic
from tf_introspect.workdir import code_version

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = REPO   # where results/ and runs/ live (tests point it elsewhere)
RESULTS = "results"
RUNS = "runs"
RESULTS_DOC = os.path.join("docs", "RESULTS.md")
RECORDED = ("metrics.json", "history.csv")


class PlanError(ValueError):
    """A plan that cannot be run (unknown method, flag or file): raised before any training."""


@dataclasses.dataclass
class Run:
    """One training run of a plan: a cell at one seed, or one grid point."""

    plan: str
    cell: str
    name: str                     # seed<N> or grid/<flag>=<value>
    args: list                    # command-line flags of tf_introspect.main (no --workdir)
    settings: dict                # flags.result_settings of the resolved configuration
    grid: str = ""                # the cell's grid flag when this run is a grid point
    after_grid: str = ""          # the cell whose grid must be finished first (its value)
    since: str = ""               # a record older than this commit is stale (plan key since)

    @property
    def result_dir(self):
        """``results/<plan>/<cell>/<run>``, relative to the repository."""
        return os.path.relpath(os.path.join(ROOT, RESULTS, self.plan, self.cell, self.name),
                               REPO)

    @property
    def workdir(self):
        """``runs/<plan>/<cell>/<run>``, relative to the repository."""
        return os.path.relpath(os.path.join(ROOT, RUNS, self.plan, self.cell, self.name), REPO)

    def command(self):
        """The training command; ``--overwrite`` when the work folder holds a finished or
        started run of other settings (stale: an earlier version of the plan)."""
        from tf_introspect import flags as ti_flags
        from tf_introspect import report
        done = report.load(os.path.join(REPO, self.workdir))
        stale = done is not None and ti_flags.result_settings(done["flags"]) != self.settings
        if done is not None and self.since:   # finished by code older than the last fix
            metrics = os.path.join(REPO, self.workdir, "metrics.json")
            stale = stale or os.path.getmtime(metrics) < commit_time(self.since)
        started = os.path.join(REPO, self.workdir, "settings.json")   # an unfinished run's
        if not stale and os.path.exists(started):
            with open(started) as f:
                stale = json.load(f) != self.settings
        return [sys.executable, "-m", "tf_introspect.main", *self.args,
                f"--workdir={self.workdir}", "--verbose=2", *(["--overwrite"] * stale)]


def _flag_args(flags):
    """``{"epochs": 10, "lr_boundaries": []}`` -> ``["--epochs=10", "--lr_boundaries="]``."""
    def text(value):
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return str(value)
    return [f"--{key}={text(value)}" for key, value in flags.items()]


def load_plan(path, data_dir=None):
    """The plan at ``path`` as a dict, checked: every cell's flag file, method and flags
    must be valid (a clear :class:`PlanError` otherwise, before anything runs).

    ``data_dir``: read the data from there instead of the plan's ``data_dir`` (which names
    where this project's machines keep it); the plan's ``[prepare]`` step, which makes data
    in the plan's folder, and its ``data_labels``, which describe that data, are left out."""
    from tf_introspect import flags as ti_flags
    try:
        with open(path, "rb") as f:
            plan = tomllib.load(f)
    except FileNotFoundError:
        raise PlanError(f"no plan file {path!r}; plans: {', '.join(list_plans()) or 'none'}.")
    except tomllib.TOMLDecodeError as e:
        raise PlanError(f"plan {path!r} is not valid TOML: {e}") from None
    plan["name"] = os.path.splitext(os.path.basename(path))[0]
    if data_dir:   # over the plan's and its cells' own; its data is not the plan's copy
        plan.update(data_dir=data_dir, data_dir_given=True)
        plan.pop("prepare", None)
        plan.pop("data_labels", None)
    cells = plan.get("cell") or []
    if not cells:
        raise PlanError(f"plan {path!r} has no [[cell]] tables.")
    names = [c.get("name") for c in cells]
    if None in names or len(set(names)) != len(names):
        raise PlanError(f"plan {path!r}: every cell needs a unique name, got {names}.")
    if plan.get("reference") and plan["reference"] not in names:
        raise PlanError(f"plan {path!r}: reference {plan['reference']!r} is not a cell "
                        f"({', '.join(names)}).")
    for chain in plan.get("paper_order", []):
        unknown = [c for c in chain if c not in names]
        if unknown:
            raise PlanError(f"plan {path!r}: paper_order names {unknown}, not cells "
                            f"({', '.join(names)}).")
    for cell in cells:
        flagfile = cell.get("flagfile")
        if not flagfile or not os.path.exists(os.path.join(REPO, flagfile)):
            raise PlanError(f"plan {path!r}, cell {cell['name']!r}: no flag file {flagfile!r}.")
        if len(cell.get("grid", {})) > 1:
            raise PlanError(f"cell {cell['name']!r}: a grid sweeps one flag, got "
                            f"{sorted(cell['grid'])}.")
        try:   # resolves every flag: unknown methods, flags or bad values fail here
            ti_flags.config_from_args(_cell_args(plan, cell, cell.get("grid")))
        except ValueError as e:
            raise PlanError(f"plan {path!r}, cell {cell['name']!r}: {e}") from None
    return plan


def _cell_args(plan, cell, grid=None, value=None):
    flags = {**plan.get("flags", {}), **cell.get("flags", {})}
    if plan.get("data_dir_given"):
        flags["data_dir"] = plan["data_dir"]
    elif plan.get("data_dir"):
        flags.setdefault("data_dir", plan["data_dir"])
    if grid:
        (flag, values), = grid.items()
        flags[flag] = values[0] if value is None else value
        flags["validation_split"] = plan.get("validation_split", 5000)
    return [f"--flagfile={cell['flagfile']}", *_flag_args(flags)]


# Issue 8's order of priority: the report shows plans in this order, then the others.
PRIORITY = ("table3_short", "table2_short", "table3_paper", "figure3_short")


def list_plans():
    """The plans under ``experiments/``, the priority ones first."""
    folder = os.path.join(REPO, "experiments")
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".toml")) \
        if os.path.isdir(folder) else []
    names.sort(key=lambda n: PRIORITY.index(n) if n in PRIORITY else len(PRIORITY))
    return [os.path.join("experiments", f"{n}.toml") for n in names]


def _run(plan, cell, name, args, **kw):
    from tf_introspect import flags as ti_flags
    settings = ti_flags.result_settings(ti_flags.config_from_args(args))
    return Run(plan["name"], cell["name"], name, args, settings,
               since=cell.get("since", plan.get("since", "")), **kw)


def grid_runs(plan, cell):
    """The grid points of ``cell`` (empty without a grid)."""
    if not cell.get("grid"):
        return []
    (flag, values), = cell["grid"].items()
    seed = plan.get("grid_seed", 0)
    return [_run(plan, cell, f"grid/{flag}={v}",
                 [*_cell_args(plan, cell, cell["grid"], v), f"--seed={seed}"], grid=flag)
            for v in values]


def chosen_value(plan, cell):
    """``(value, validation accuracy)`` of the best finished grid point, or None while the
    grid is unfinished. Ties go to the first value listed."""
    points = grid_runs(plan, cell)
    best = None
    for run in points:
        record = load_record(run)
        if record is None:
            return None
        accuracy = record["metrics"]["validation_accuracy"]
        if best is None or accuracy > best[1]:
            best = (run.settings[run.grid], accuracy)
    return best


def seed_runs(plan, cell, seeds=None):
    """The seeded runs of ``cell``; a grid cell's use its chosen value (``None`` args until
    the grid is finished)."""
    seeds = seeds if seeds is not None else cell.get("seeds", plan.get("seeds", [0]))
    chosen = chosen_value(plan, cell) if cell.get("grid") else None
    runs = []
    for seed in seeds:
        if cell.get("grid") and chosen is None:
            runs.append(Run(plan["name"], cell["name"], f"seed{seed}", None, None,
                            after_grid=cell["name"]))
            continue
        flags = dict(cell.get("flags", {}))
        if chosen is not None:
            (flag, _), = cell["grid"].items()
            flags[flag] = chosen[0]
        args = [*_cell_args(plan, {**cell, "flags": flags}), f"--seed={seed}"]
        runs.append(_run(plan, cell, f"seed{seed}", args))
    return runs


def plan_runs(plan, cells=None, seeds=None):
    """Every run of the plan, in order: cell by cell as listed, each grid before its seeds;
    with ``order = "seed"`` all grids first, then every cell's first seed before any cell's
    second."""
    chosen = [c for c in plan["cell"] if not cells or c["name"] in cells]
    grids = [grid_runs(plan, c) for c in chosen]
    seeded = [seed_runs(plan, c, seeds) for c in chosen]
    if plan.get("order", "cell") == "seed":
        longest = max((len(runs) for runs in seeded), default=0)
        return [r for runs in grids for r in runs] + [
            runs[i] for i in range(longest) for runs in seeded if i < len(runs)]
    return [r for g, runs in zip(grids, seeded) for r in g + runs]


def _read_record(folder):
    """A finished run's ``run.json`` with its ``metrics.json`` under "metrics"."""
    with open(os.path.join(folder, "run.json")) as f:
        record = json.load(f)
    with open(os.path.join(folder, "metrics.json")) as f:
        record["metrics"] = json.load(f)
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
    timed = (metrics["epochs"] + metrics.get("pretraining_epochs", 0)
             - (metrics.get("resumed_after_epoch") or 0))
    return machine_seconds(record) / max(1, timed)


def load_record(run):
    """The committed record of ``run`` if it holds the same settings and protocol, else None."""
    folder = os.path.join(REPO, run.result_dir)
    if run.settings is None or not os.path.exists(os.path.join(folder, "run.json")):
        return None
    record = _read_record(folder)
    if record.get("settings") != run.settings or not current(record, run.since):
        return None
    return record


def _git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


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


def machine():
    """What the run's speed and (floating-point) result may depend on."""
    import tensorflow as tf
    return {"platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "cpu_model": _cpu_model(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "tensorflow": tf.__version__}


def _cpu_model():
    """The CPU's model name (``/proc/cpuinfo``; ``None`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def same_machine_kind(a, b):
    """Whether two ``machine()`` records describe the same kind of machine (on the keys both
    have: records made before a key was added are compared on the others)."""
    return all(a[k] == b[k] for k in set(a) & set(b))


def _record(plan, run, wall_time, started, machine_time=None, at_a_time=1, finished=None):
    """Copy the finished run's outputs into its results folder, atomically. With ``run
    --jobs`` the wall time depends on the runs beside: ``machine_time`` is the run's share of
    the machine (:class:`Sharing`), ``at_a_time`` the most runs at once in its life.
    ``finished``: when the training ended (default: now)."""
    with open(os.path.join(REPO, run.workdir, "metrics.json")) as f:
        trained_by = json.load(f).get("code_version")   # the code that trained it
    commit, dirty = trained_by if trained_by else code_version()
    record = {"plan": run.plan, "cell": run.cell, "run": run.name,
              "protocol": plan.get("protocol"),
              "command": ["python", "-m", "tf_introspect.main", *run.args,
                          f"--workdir={run.workdir}"],
              "settings": run.settings, "git_commit": commit, "uncommitted_changes": dirty,
              "machine": machine(), "wall_time_s": round(wall_time, 1),
              "machine_time_s": round(wall_time if machine_time is None else machine_time, 1),
              "runs_at_a_time": at_a_time, "started": started, "finished": finished or _now()}
    _write_record(run, run.workdir, record)


def _write_record(run, source, record):
    """``results/<plan>/<cell>/<run>/``: the :data:`RECORDED` files of folder ``source``
    (relative to the repository) and ``record`` as ``run.json``, replaced as a whole."""
    final = os.path.join(REPO, run.result_dir)
    tmp = final.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in RECORDED:
        shutil.copy(os.path.join(REPO, source, name), os.path.join(tmp, name))
    atomic.write_json(os.path.join(tmp, "run.json"), record)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _now(seconds=None):
    """``seconds`` since the epoch (default: now) as an ISO 8601 UTC time."""
    return datetime.datetime.fromtimestamp(time.time() if seconds is None else seconds,
                                           datetime.timezone.utc).isoformat(timespec="seconds")


def equal_record(run):
    """The results folder (relative to the repository) of a run of another plan or cell
    recorded with exactly ``run``'s settings (itself trained, not reused), or None."""
    import glob
    own = os.path.normpath(run.result_dir)
    pattern = os.path.join(ROOT, RESULTS, "**", "run.json")
    for path in sorted(glob.glob(pattern, recursive=True)):
        folder = os.path.relpath(os.path.dirname(path), REPO)
        if (os.path.normpath(folder) == own or f"{os.sep}verify" in folder
                or folder.endswith(".tmp")):   # a record being written (or left by a crash)
            continue
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if (record.get("settings") == run.settings and not record.get("reused_from")
                and current(record, run.since)):
            return folder
    return None


def reuse(plan, run, source, log=print):
    """Record ``run`` from the finished run in ``source`` (same settings, another cell or
    plan): its files are copied and its ``run.json`` names ``source`` as ``reused_from``."""
    with open(os.path.join(REPO, source, "run.json")) as f:
        record = json.load(f)
    record.update(plan=run.plan, cell=run.cell, run=run.name, protocol=plan.get("protocol"),
                  reused_from=source)
    _write_record(run, source, record)
    log(f"reused {run.cell}/{run.name}: the same settings were trained in {source}")


def execute(plan, run, log=print, sharing=None):
    """Run one training process (resuming in its workdir) and record it; returns success.
    A run recorded elsewhere with the same settings (e.g. the same LE cell in two plans) is
    reused instead of trained again. ``sharing``: the :class:`Sharing` of the runs made
    beside it (``--jobs``)."""
    source = equal_record(run)
    if source is not None:
        reuse(plan, run, source, log)
        return True
    workdir = os.path.join(REPO, run.workdir)
    os.makedirs(workdir, exist_ok=True)
    lock = os.path.join(workdir, "runner.pid")
    with open(lock, "w") as f:
        f.write(str(os.getpid()))
    sharing = sharing or Sharing()
    sharing.start((run.cell, run.name))
    started, start = _now(), time.time()
    log(f"[{started}] start {run.cell}/{run.name}: {' '.join(run.args)}")
    try:
        with open(os.path.join(workdir, "output.log"), "a") as out:
            code = subprocess.call(run.command(), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    finally:
        os.remove(lock)
        share = sharing.finish((run.cell, run.name))
    if code != 0:
        log(f"FAILED {run.cell}/{run.name} (exit {code}); see {run.workdir}/output.log")
        return False
    metrics = os.path.join(REPO, run.workdir, "metrics.json")
    ended = os.path.getmtime(metrics)
    if ended < start:   # finished earlier: main.py reused its folder; its own times count
        with open(metrics) as f:
            trained = json.load(f)["wall_time_s"]
        log(f"{run.cell}/{run.name} was already finished in {run.workdir}; recorded with "
            f"its own training time ({trained:.0f} s)")
        _record(plan, run, trained, _now(ended - trained), finished=_now(ended))
    else:
        _record(plan, run, time.time() - start, started, *share)
    log(f"done {run.cell}/{run.name} in {time.time() - start:.0f} s -> {run.result_dir}")
    return True


def prepare(plan, log=print):
    """Run the plan's ``[prepare]`` command (e.g. write CIFAR-10 in its original binary layout)
    unless its ``path`` exists; ``python`` in the command is this interpreter."""
    step = plan.get("prepare")
    if not step or os.path.exists(os.path.join(REPO, step["path"])):
        return
    command = [sys.executable if part == "python" else part for part in step["command"]]
    log(f"preparing {step['path']}: {' '.join(step['command'])}")
    subprocess.run(command, cwd=REPO, check=True)


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


def run_plan(path, cells=None, seeds=None, jobs=1, log=print, data_dir=None):
    """Run what is missing of the plan (data from ``data_dir`` if given, see
    :func:`load_plan`), ``jobs`` runs at a time (the next one starts as soon as one ends);
    returns the number of failed runs."""
    plan = load_plan(path, data_dir)
    unknown = set(cells or ()) - {c["name"] for c in plan["cell"]}
    if unknown:
        raise PlanError(f"unknown cell(s) {sorted(unknown)}; cells of {path}: "
                        f"{', '.join(c['name'] for c in plan['cell'])}.")
    prepare(plan, log)
    failed, attempted, in_flight, sharing = 0, set(), set(), Sharing()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        while True:
            # again after every finished run: a grid's end gives its seeded runs settings
            pending = [r for r in plan_runs(plan, cells, seeds)
                       if r.settings is not None and load_record(r) is None
                       and (r.cell, r.name) not in attempted]
            for run in pending[:jobs - len(in_flight)]:
                attempted.add((run.cell, run.name))
                in_flight.add(pool.submit(execute, plan, run, log, sharing))
            if not in_flight:
                break
            done, _ = concurrent.futures.wait(
                in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            failed += sum(not future.result() for future in done)
            in_flight -= done
    blocked = [r for r in plan_runs(plan, cells, seeds) if r.settings is None]
    if blocked:
        log(f"{len(blocked)} run(s) wait for a grid that did not finish.")
    return failed


def compare_runs(original, rerun):
    """Largest absolute differences between two finished runs' folders (``metrics.json``
    and ``history.csv``): ``{"test_accuracy": d, "test_loss": d, "history": {column: d}}``.
    A column missing on either side, or epochs that differ, count as ``inf``."""
    def metrics(folder):
        with open(os.path.join(folder, "metrics.json")) as f:
            return json.load(f)
    a, b = metrics(original), metrics(rerun)
    diff = {k: abs(float(a[k]) - float(b[k])) for k in ("test_accuracy", "test_loss")}
    from tf_introspect import report
    ha, hb = (report.history(os.path.join(folder, "history.csv")) for folder in (original, rerun))
    columns = {c for rows in (ha, hb) for row in rows.values() for c in row} - {"epoch"}
    history = {}
    for column in sorted(columns):
        if sorted(ha) != sorted(hb):
            history[column] = float("inf")
            continue
        try:
            history[column] = max(abs(float(ha[e][column]) - float(hb[e][column])) for e in ha)
        except (KeyError, TypeError, ValueError):
            history[column] = float("inf")
    return {**diff, "history": history}


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
        raise PlanError(f"{cell}/{name} is not a finished run of {path}; finished: "
                        f"{', '.join(done) or 'none'}.")
    workdir = os.path.relpath(os.path.join(ROOT, RUNS, "verify", run.plan, run.cell, run.name),
                              REPO)
    shutil.rmtree(os.path.join(REPO, workdir), ignore_errors=True)   # never resume a rerun
    os.makedirs(os.path.join(REPO, workdir))
    args = [a for a in record["command"][3:] if not a.startswith("--workdir=")]
    command = [sys.executable, "-m", "tf_introspect.main", *args, f"--workdir={workdir}",
               "--verbose=2"]
    started, start = _now(), time.time()
    log(f"[{started}] verify {run.cell}/{run.name}: {' '.join(args)}")
    with open(os.path.join(REPO, workdir, "output.log"), "a") as out:
        code = subprocess.call(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise PlanError(f"the rerun of {run.cell}/{run.name} failed (exit {code}); see "
                        f"{workdir}/output.log")
    diff = compare_runs(os.path.join(REPO, run.result_dir), os.path.join(REPO, workdir))
    identical = diff["test_accuracy"] == diff["test_loss"] == 0 and not any(
        diff["history"].values())
    here = machine()
    commit, dirty = code_version()
    result = {"run": f"{run.plan}/{run.cell}/{run.name}",
              "command": ["python", "-m", "tf_introspect.main", *args,
                          f"--workdir={workdir}"],
              "machine": here, "same_machine_kind": same_machine_kind(here, record["machine"]),
              "git_commit": commit, "uncommitted_changes": dirty,
              "recorded_git_commit": record["git_commit"],
              "max_abs_diff": diff, "identical": identical,
              "wall_time_s": round(time.time() - start, 1), "finished": _now()}
    stamp = result["finished"].replace(":", "").replace("+0000", "Z")
    folder = os.path.join(REPO, run.result_dir, "verify")
    os.makedirs(folder, exist_ok=True)
    atomic.write_json(os.path.join(folder, f"{stamp}.json"), result)
    log(f"verify {run.cell}/{run.name}: {'identical' if identical else 'differs'} "
        f"(test accuracy {diff['test_accuracy']:.2g} apart, largest history difference "
        f"{max(diff['history'].values(), default=0):.2g})")
    return result


def verified_here(path, cell, name):
    """Whether a verification of ``cell/name`` was recorded on this machine kind."""
    plan = load_plan(path)
    here = machine()
    return any(same_machine_kind(v["machine"], here) and "cpu_model" in v["machine"]
               for r in plan_runs(plan) if (r.cell, r.name) == (cell, name) and r.settings
               for v in verifications(r))


def verifications(run):
    """The verification records of ``run`` (oldest first)."""
    import glob
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, run.result_dir, "verify", "*.json"))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def _runner_alive(run):
    """Whether a live runner process works on ``run`` (its ``runner.pid``; a runner killed
    without cleaning up leaves the file with a dead PID)."""
    try:
        with open(os.path.join(REPO, run.workdir, "runner.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except PermissionError:
        return True          # alive, another user's
    except (OSError, ValueError):
        return False
    return True


#: Keras' lines of an epoch (``--verbose=2``): "Epoch 8/15" then "391/391 - 93s - 238ms/step ..."
EPOCH_START = re.compile(r"^Epoch (\d+)/\d+$")
EPOCH_LINE = re.compile(r"^\d+/\d+ - (\d+)s - ")
#: main.py's line before each start of training (of the run, or of a teacher it trains)
TRAINING_LINE = re.compile(r"\] Training (\S+) with (\S+) on ")


def _epoch_seconds(log, model, method):
    """``{epoch (1-based): seconds}`` Keras printed into ``log`` while training ``model``
    with ``method`` (an epoch trained again after a resume: its last time). A teacher or
    assistant trained in the same process (its own "Training ..." line, another model or
    method) costs otherwise, so its epochs are left out."""
    seconds, mine, epoch = {}, True, None
    for line in log.splitlines():
        if training := TRAINING_LINE.search(line):
            mine, epoch = training.groups() == (model, method), None
        elif start := EPOCH_START.match(line):
            epoch = int(start.group(1))
        elif (end := EPOCH_LINE.match(line)) and mine:
            seconds[epoch if epoch is not None else len(seconds) + 1] = int(end.group(1))
    return seconds


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def _live_progress(run):
    """``(epochs finished, seconds a warm-up epoch, seconds an epoch after the warm-up)`` of
    a run in progress: the epochs in its ``history.csv``, and the medians of its epoch times
    in its ``output.log`` (None before the first of each). LE's warm-up epochs train plain
    CE, several times cheaper than its later epochs, so they price only warm-up epochs."""
    from tf_introspect import report
    workdir = os.path.join(REPO, run.workdir)
    settings = run.settings or {}
    try:
        with open(os.path.join(workdir, "output.log"), errors="replace") as f:
            seconds = _epoch_seconds(f.read(), settings.get("model"), settings.get("method"))
    except OSError:
        seconds = {}
    history = os.path.join(workdir, "history.csv")
    epochs = len(report.history(history)) if os.path.exists(history) else 0
    warmup = _warmup(run)
    return (epochs, _median(t for e, t in seconds.items() if e <= warmup),
            _median(t for e, t in seconds.items() if e > warmup))


#: the settings that decide what an epoch costs (a grid value or the seed does not), the
#: weightiest first: a run is priced from the timed runs sharing the longest prefix of these
COST_KEYS = ("model", "dataset", "batch_size", "method", "explainer", "train_limit",
             "validation_split")
#: the prefix two runs must share to price one from the other's time (an explainer or a
#: subset may differ; another method or model may cost several times more or less)
SAME_COST = 4


def _kind(settings):
    return tuple(settings.get(k) for k in COST_KEYS)


def _rates_by_kind():
    """Seconds an epoch of every committed seeded run of every plan, by :data:`COST_KEYS`."""
    rates = {}
    for path in glob.glob(os.path.join(ROOT, RESULTS, "*", "*", "seed*", "run.json")):
        try:
            record = _read_record(os.path.dirname(path))
            rate = seconds_an_epoch(record)
        except (OSError, ValueError, KeyError):
            continue
        rates.setdefault(_kind(record["settings"]), []).append(rate)
    return rates


def _closest_rates(kinds, timed, least=SAME_COST):
    """The rates in ``timed`` (``{kind: [seconds an epoch]}``) of the kinds sharing the
    longest prefix of :data:`COST_KEYS` with any of ``kinds``, if at least ``least`` long."""
    def shared(a, b):
        n = 0
        while n < len(a) and a[n] == b[n]:
            n += 1
        return n
    best = max((shared(a, b) for a in kinds for b in timed), default=0)
    if best < least:
        return []
    return [t for b, times in timed.items() if any(shared(a, b) == best for a in kinds)
            for t in times]


def _warmup(run):
    """LE's warm-up epochs of ``run`` (0 for a method without one), at most its epochs."""
    settings = run.settings or {}
    return min(settings.get("warmup_epochs") or 0, settings.get("epochs") or 0)


def _whole_run_rate(run, progress):
    """Seconds an epoch over the whole of a run in progress, from its measured epochs (None
    while only its warm-up is timed: that would price LE at CE's cost)."""
    _, warm, after = progress
    if after is None:
        return None
    warmup, epochs = _warmup(run), run.settings["epochs"]
    return (warmup * (after if warm is None else warm) + (epochs - warmup) * after) / epochs


def _live_seconds_left(run, progress, fallback):
    """Seconds left of a run in progress: its warm-up epochs left at its warm-up rate, its
    later epochs at their rate, else at ``fallback`` (seconds an epoch over whole runs of its
    kind; None: not yet timed, and so is the result)."""
    done, warm, after = progress
    warmup, epochs = _warmup(run), run.settings["epochs"]
    after = after if after is not None else fallback
    warm = warm if warm is not None else after
    left_warm, left_after = max(0, warmup - done), epochs - max(done, warmup)
    if (left_after and after is None) or (left_warm and warm is None):
        return None
    return left_warm * (warm or 0) + left_after * (after or 0)


def _mean(values):
    return sum(values) / len(values) if values else None


def status(path):
    """Lines: per cell done / running / left (and reusable: runs another plan already
    trained with the same settings, copied at no cost), and the projected time left.

    Each run left is priced at its cell's seconds an epoch: the mean of the cell's finished
    runs, else of its runs in progress, else of the finished (any plan) or running runs of
    the closest cost (:data:`COST_KEYS`: same model, data, batch and method, e.g. another
    explainer), else, roughly, of the plan's runs on the same model and data; else it is
    "not yet timed". A run in progress is priced for its epochs left at its own measured
    rates, LE's warm-up epochs (plain CE) apart from its later ones, which cost several
    times more. Machine time: a run made beside others counts its share
    (:func:`machine_seconds`)."""
    plan = load_plan(path)
    runs = plan_runs(plan)
    per_epoch, live, live_rate = {}, {}, {}
    timed = _rates_by_kind()            # finished runs of every plan, and this plan's live
    mine_timed = {}                     # this plan's, by kind
    records = {(run.cell, run.name): load_record(run) for run in runs}   # read once
    for run in runs:
        record = records[run.cell, run.name]
        if record:
            rate = seconds_an_epoch(record)
            per_epoch.setdefault(run.cell, []).append(rate)
        elif run.settings and _runner_alive(run):
            live[run.cell, run.name] = _live_progress(run)
            rate = live_rate[run.cell, run.name] = _whole_run_rate(run,
                                                                   live[run.cell, run.name])
            if rate:
                timed.setdefault(_kind(run.settings), []).append(rate)
        else:
            continue
        if rate:
            mine_timed.setdefault(_kind(run.settings), []).append(rate)
    lines, total_left, unknown = [], 0.0, 0
    width = max(len(cell["name"]) for cell in plan["cell"])
    for cell in plan["cell"]:
        mine = [r for r in runs if r.cell == cell["name"]]
        done = [r for r in mine if records[r.cell, r.name]]
        running = [r for r in mine if (r.cell, r.name) in live]
        reusable = [r for r in mine if r not in done and r not in running
                    and r.settings is not None and equal_record(r)]   # another plan's: free
        left = len(mine) - len(done) - len(running) - len(reusable)
        kinds = {_kind(r.settings) for r in mine if r.settings}
        rate = _mean(per_epoch.get(cell["name"])
                     or [live_rate[r.cell, r.name] for r in running if live_rate[r.cell, r.name]]
                     or _closest_rates(kinds, timed)
                     or _closest_rates(kinds, mine_timed, least=2))
        # a seeded run waiting for its grid has no settings yet: its grid points' epochs
        known = [r.settings["epochs"] for r in mine if r.settings]
        for r in mine:
            if r in done or r in reusable:
                continue
            epochs = r.settings["epochs"] if r.settings else (known or [None])[0]
            seconds = (_live_seconds_left(r, live[r.cell, r.name], rate) if r in running
                       else None if epochs is None or rate is None else epochs * rate)
            if seconds is None:
                unknown += 1
            else:
                total_left += seconds
        progress = "".join(f" ({live[r.cell, r.name][0]}/{r.settings['epochs']} epochs)"
                           for r in running)
        lines.append(f"{cell['name']:{width}s} done {len(done):3d}  running {len(running):2d}"
                     f"{progress}  left {left:3d}"
                     + (f"  reusable {len(reusable)}" if reusable else ""))
    projected = (f"{total_left / 3600:.1f} h" if total_left >= 3600 else
                 f"{total_left / 60:.0f} min") + (f" (+{unknown} runs not yet timed)"
                                                  if unknown else "")
    lines.append("projected time left on this machine (runs made with --jobs priced at their "
                 f"share of the machine): {projected}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf_introspect.experiments",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run what is missing of a plan")
    run_p.add_argument("plan")
    run_p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                       help="only these seeds, e.g. 0,1,2")
    run_p.add_argument("--cells", type=lambda s: s.split(","), help="only these cells")
    run_p.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    run_p.add_argument("--data_dir", help="read the data from here instead of the plan's "
                       "data_dir (and skip its [prepare] step); it is not a setting, so "
                       "runs recorded with another data folder still count as finished: to "
                       "keep runs on other data apart, move results/<plan>/ away first")
    status_p = sub.add_parser("status", help="done / running / left, projected time")
    status_p.add_argument("plan")
    verify_p = sub.add_parser("verify", help="train a finished run again and record how "
                              "close it came (determinism evidence)")
    verify_p.add_argument("plan")
    verify_p.add_argument("run", help="CELL/RUN, e.g. ce/seed0")
    verify_p.add_argument("--once_per_machine", action="store_true",
                          help="skip if this run was already verified on this machine kind")
    report_p = sub.add_parser("report", help=f"regenerate {RESULTS_DOC} from results/")
    report_p.add_argument("plans", nargs="*", help="plans (default: every experiments/*.toml)")
    args = parser.parse_args(argv)
    caller = os.getcwd()

    def from_caller(path):   # a plan named from the caller's folder, else from the repository
        here = os.path.join(caller, path)
        return os.path.relpath(here, REPO) if os.path.exists(here) else path
    if getattr(args, "plan", None):
        args.plan = from_caller(args.plan)
    if getattr(args, "plans", None):
        args.plans = [from_caller(p) for p in args.plans]
    os.chdir(REPO)
    try:
        if args.command == "run":
            if args.jobs < 1:
                parser.error(f"--jobs must be >= 1, got {args.jobs}")
            # as given from the caller's folder, recorded relative to the repository
            data_dir = args.data_dir and os.path.relpath(os.path.join(caller, args.data_dir),
                                                         REPO)
            return 1 if run_plan(args.plan, args.cells, args.seeds, args.jobs,
                                 data_dir=data_dir) else 0
        if args.command == "verify":
            cell, _, name = args.run.partition("/")
            if args.once_per_machine and verified_here(args.plan, cell, name):
                print(f"{args.run} of {args.plan} was already verified on this machine kind.")
                return 0
            result = verify(args.plan, cell, name)
            # a difference on the machine kind that made the run breaks determinism
            return 1 if result["same_machine_kind"] and not result["identical"] else 0
        if args.command == "status":
            print("\n".join(status(args.plan)))
            return 0
        from tf_introspect import results_report
        results_report.write(args.plans or list_plans())
        print(f"wrote {RESULTS_DOC}")
        return 0
    except PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
