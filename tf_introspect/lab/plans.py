"""Experiment plans: what to train for a paper table, checked before anything runs.

A *plan* (a TOML file under ``experiments/``, data not code) lists the cells of a paper table:
each cell a flag file of ``flags/`` plus the plan's protocol flags (e.g. the ``short``
protocol's epochs), run for every seed of the plan; a cell with a ``grid`` first runs one
seed per grid value on a validation split held out from the training set and then uses the
value with the best final validation accuracy (never the test set). Here: loading and
checking a plan, and the :class:`Run` list it makes.

Plan keys: ``description``, ``protocol`` (a name, e.g. ``short`` or ``paper``), ``data_dir``
(relative to the repository), ``data_labels`` (how figures name a data set of this copy,
e.g. ``{cifar10 = "CIFAR-10 (JPEG)"}``), ``seeds``, ``validation_split`` (images held out for
grids),
``grid_seed``, ``order`` (``cell``: cell by cell, the default; ``seed``: seed by seed),
``reference`` (the cell compared with all others), ``paper_order`` (chains of cells in the
ascending accuracy the paper claims, tested pair by pair in the report), ``[prepare]`` (``path`` and
``command``: made once before the first run, e.g. the data), ``[flags]`` (protocol flags
for every run) and ``[[cell]]`` tables with ``name``, ``flagfile``, optional ``flags``,
``grid = {flag = [values]}``, ``seeds``, ``since`` and ``paper`` / ``paper_std`` (the paper's test
accuracy in %, shown beside ours). ``table`` (the plan's, and a cell's where its paper number
comes from another table): the paper's table or figure it reproduces, e.g. ``"Table 3"``,
which names its rows in the report's claims at a glance (:mod:`tf_introspect.lab.claims`).

``since`` (a cell's, else the plan's): the commit of the last fix that changes the cell's
results (e.g. the explainers, the data pipeline). A record made by code that does not
contain it (its ``git_commit`` is not a descendant) is stale: it is neither counted nor
reused, and the run is trained again (``--overwrite`` over a finished work folder older than
that commit). Every record names its commit, so nothing relies on memory.
"""

import dataclasses
import json
import os
import sys
import tomllib

from tf_introspect.lab import paths
from tf_introspect.lab.errors import PlanError
from tf_introspect.lab.records import commit_time, current, load_record
from tf_introspect.pipeline import outputs
from tf_introspect.pipeline.workdir import STARTS

__all__ = [
    "PRIORITY",
    "PlanError",
    "Run",
    "cell_args",
    "chosen_value",
    "grid_runs",
    "list_plans",
    "load_plan",
    "plan_runs",
    "seed_runs",
]


@dataclasses.dataclass
class Run:
    """One training run of a plan: a cell at one seed, or one grid point."""

    plan: str
    cell: str
    name: str  # seed<N> or grid/<flag>=<value>
    args: list  # command-line flags of tf_introspect.main (no --workdir)
    settings: dict  # pipeline.settings.result_settings of the resolved configuration
    grid: str = ""  # the cell's grid flag when this run is a grid point
    after_grid: str = ""  # the cell whose grid must be finished first (its value)
    since: str = ""  # a record older than this commit is stale (plan key since)

    @property
    def result_dir(self):
        """``results/<plan>/<cell>/<run>``, relative to the repository."""
        return os.path.relpath(
            os.path.join(paths.ROOT, paths.RESULTS, self.plan, self.cell, self.name), paths.REPO
        )

    @property
    def workdir(self):
        """``runs/<plan>/<cell>/<run>``, relative to the repository."""
        return os.path.relpath(
            os.path.join(paths.ROOT, paths.RUNS, self.plan, self.cell, self.name), paths.REPO
        )

    def made_before_fix(self, folder=None):
        """Whether the run in ``folder`` (default: its work folder), finished or not, was
        begun by code older than the cell's ``since`` commit: its first start (``starts`` in
        its ``metrics.json``, or ``starts.json``), else the commit its ``metrics.json`` names.
        None where that cannot be told (a run begun before starts were recorded and not
        finished; a finished one that names no commit)."""
        if not self.since:
            return False
        folder = folder or os.path.join(paths.REPO, self.workdir)
        done = outputs.load(folder)
        starts = (done or {}).get("starts")
        if done is None and os.path.exists(os.path.join(folder, STARTS)):
            with open(os.path.join(folder, STARTS)) as f:
                starts = json.load(f)
        first = starts[0]["code_version"] if starts else (done or {}).get("code_version")
        if not first or not first[0] or first[0] == "unknown":
            return None
        return not current({"git_commit": first[0]}, self.since)

    def command(self):
        """The training command; ``--overwrite`` when the work folder holds a finished or
        started run of other settings (stale: an earlier version of the plan)."""
        from tf_introspect.pipeline.settings import result_settings, without_data_fingerprint

        done = outputs.load(os.path.join(paths.REPO, self.workdir))
        stale = (
            done is not None
            and without_data_fingerprint(result_settings(done["flags"])) != self.settings
        )
        if done is not None and self.since:  # finished by code older than the last fix
            made_before = self.made_before_fix()
            if made_before is None:  # no commit named: when it was written
                metrics = os.path.join(paths.REPO, self.workdir, "metrics.json")
                made_before = os.path.getmtime(metrics) < commit_time(self.since)
            stale = stale or made_before
        started = os.path.join(paths.REPO, self.workdir, "settings.json")  # an unfinished run's
        if not stale and os.path.exists(started):
            with open(started) as f:
                stale = without_data_fingerprint(json.load(f)) != self.settings
        return [
            sys.executable,
            "-m",
            "tf_introspect.main",
            *self.args,
            f"--workdir={self.workdir}",
            "--verbose=2",
            *(["--overwrite"] * stale),
        ]


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
    from tf_introspect.pipeline import config

    try:
        with open(path, "rb") as f:
            plan = tomllib.load(f)
    except (FileNotFoundError, IsADirectoryError) as e:
        what = (
            f"{path!r} is a folder, not a plan file"
            if isinstance(e, IsADirectoryError)
            else f"no plan file {path!r}"
        )
        raise PlanError(f"{what}; plans: {', '.join(list_plans()) or 'none'}.") from None
    except tomllib.TOMLDecodeError as e:
        raise PlanError(f"plan {path!r} is not valid TOML: {e}") from None
    plan["name"] = os.path.splitext(os.path.basename(path))[0]
    if data_dir:  # over the plan's and its cells' own; its data is not the plan's copy
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
        raise PlanError(
            f"plan {path!r}: reference {plan['reference']!r} is not a cell ({', '.join(names)})."
        )
    for where in [plan, *cells]:
        if not isinstance(where.get("table", ""), str):
            raise PlanError(
                f"plan {path!r}: table names the paper's table or figure as text, e.g. "
                f'table = "Table 3", got {where["table"]!r}.'
            )
    for chain in plan.get("paper_order", []):
        unknown = [c for c in chain if c not in names]
        if unknown:
            raise PlanError(
                f"plan {path!r}: paper_order names {unknown}, not cells ({', '.join(names)})."
            )
    _check_comparisons(path, plan, names)
    for cell in cells:
        flagfile = cell.get("flagfile")
        if not flagfile or not os.path.exists(os.path.join(paths.REPO, flagfile)):
            raise PlanError(f"plan {path!r}, cell {cell['name']!r}: no flag file {flagfile!r}.")
        if len(cell.get("grid", {})) > 1:
            raise PlanError(
                f"cell {cell['name']!r}: a grid sweeps one flag, got {sorted(cell['grid'])}."
            )
        try:  # resolves every flag: unknown methods, flags or bad values fail here
            config.from_args(cell_args(plan, cell, cell.get("grid")))
        except ValueError as e:
            raise PlanError(f"plan {path!r}, cell {cell['name']!r}: {e}") from None
    return plan


def _check_comparisons(path, plan, names):
    """The statistics keys of a plan (:func:`families`, ``paired``, ``equivalence``) must name
    its cells, and need its ``reference``."""
    named = {
        "families": [c for family in plan.get("families", []) for c in family],
        "paired": plan.get("paired", []),
        "equivalence": plan.get("equivalence", {}).get("cells", []),
    }
    for key, cells in named.items():
        if cells and not plan.get("reference"):
            raise PlanError(f"plan {path!r}: {key} compares cells with the reference; it has none.")
        unknown = [c for c in cells if c not in names or c == plan.get("reference")]
        if unknown:
            raise PlanError(
                f"plan {path!r}: {key} names {unknown}, not cells other than the reference "
                f"({', '.join(n for n in names if n != plan.get('reference'))})."
            )
    twice = sorted({c for c in named["families"] if named["families"].count(c) > 1})
    if twice:
        raise PlanError(f"plan {path!r}: {twice} in more than one comparison family.")
    margin = plan.get("equivalence", {}).get("margin")
    if named["equivalence"] and not (isinstance(margin, int | float) and margin > 0):
        raise PlanError(
            f"plan {path!r}: equivalence needs a margin > 0 (points of accuracy), got {margin!r}."
        )


def families(plan):
    """The plan's comparison families: lists of cells each compared with the reference, whose
    p-values are adjusted together (Holm). ``families`` in the plan, fixed before its runs
    start (cells added later get a family of their own, so earlier verdicts do not change);
    without it, every other cell is one family."""
    reference = plan.get("reference")
    if not reference:
        return []
    if "families" in plan:
        return [list(f) for f in plan["families"]]
    return [[c["name"] for c in plan["cell"] if c["name"] != reference]]


def cell_args(plan, cell, grid=None, value=None):
    """The command-line flags of ``tf_introspect.main`` for ``cell`` of ``plan`` (no seed,
    no work folder): its flag file, the plan's then the cell's flags and the data folder;
    with ``grid`` (``{flag: values}``) the flag at ``value`` (default: the first) on the
    plan's validation split."""
    flags = {**plan.get("flags", {}), **cell.get("flags", {})}
    if plan.get("data_dir_given"):
        flags["data_dir"] = plan["data_dir"]
    elif plan.get("data_dir"):
        flags.setdefault("data_dir", plan["data_dir"])
    if grid:
        ((flag, values),) = grid.items()
        flags[flag] = values[0] if value is None else value
        flags["validation_split"] = plan.get("validation_split", 5000)
    return [f"--flagfile={cell['flagfile']}", *_flag_args(flags)]


# Issue 8's order of priority: the report shows plans in this order, then the others.
PRIORITY = ("table3_short", "table2_short", "table3_paper", "figure3_short")


def list_plans():
    """The plans under ``experiments/``, the priority ones first."""
    folder = os.path.join(paths.REPO, "experiments")
    names = (
        sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".toml"))
        if os.path.isdir(folder)
        else []
    )
    names.sort(key=lambda n: PRIORITY.index(n) if n in PRIORITY else len(PRIORITY))
    return [os.path.join("experiments", f"{n}.toml") for n in names]


def _run(plan, cell, name, args, **kw):
    from tf_introspect.pipeline import config
    from tf_introspect.pipeline.settings import result_settings

    settings = result_settings(config.from_args(args))
    return Run(
        plan["name"],
        cell["name"],
        name,
        args,
        settings,
        since=cell.get("since", plan.get("since", "")),
        **kw,
    )


def grid_runs(plan, cell):
    """The grid points of ``cell`` (empty without a grid)."""
    if not cell.get("grid"):
        return []
    ((flag, values),) = cell["grid"].items()
    seed = plan.get("grid_seed", 0)
    return [
        _run(
            plan,
            cell,
            f"grid/{flag}={v}",
            [*cell_args(plan, cell, cell["grid"], v), f"--seed={seed}"],
            grid=flag,
        )
        for v in values
    ]


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
            runs.append(
                Run(plan["name"], cell["name"], f"seed{seed}", None, None, after_grid=cell["name"])
            )
            continue
        flags = dict(cell.get("flags", {}))
        if chosen is not None:
            ((flag, _),) = cell["grid"].items()
            flags[flag] = chosen[0]
        args = [*cell_args(plan, {**cell, "flags": flags}), f"--seed={seed}"]
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
            runs[i] for i in range(longest) for runs in seeded if i < len(runs)
        ]
    return [r for g, runs in zip(grids, seeded) for r in g + runs]
