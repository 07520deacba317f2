"""Carrying unfinished runs to the next machine: ``experiments park`` and ``unpark``.

A run resumes from its backup after any interruption (:mod:`tf_introspect.pipeline.workdir`),
but the backup lives in the runner's ``runs/``, which is not committed: when a session ends
and the next one starts on a fresh machine, every run still training starts over (a ResNet-8
run of the budget protocol loses up to 1.5 hours). ``park RUNNER_DIR`` copies what each run
of ``RUNNER_DIR/runs/`` needs to go on into this checkout's ``parked/``, to be committed with
the results; ``unpark RUNNER_DIR`` puts it back into a runner's ``runs/`` (on the next
machine), where the run resumes as after any interruption. What is carried:

- an unfinished run (a ``settings.json``, no ``metrics.json``, a backup of at least one
  finished epoch): its backup -- the weights, the optimizer's and the method's variables and
  the epoch count that ``BackupAndRestore`` keeps -- mended first as a resumed run would
  (:func:`~tf_introspect.pipeline.workdir.backup_epoch`; the previous ``*.bkp`` pair is left
  behind), and ``settings.json``, ``history.csv``, ``starts.json`` and ``output.log``;
- a finished run with no record in ``results/``: a teacher trained for a plan's runs
  (``--teacher_workdir``, or ``<run>/teacher``), or a plan's run finished just before the
  runner stopped (the runner records it when it finds it); its files (``metrics.json``,
  ``model.keras``, ...).

TensorBoard's logs (``tb/``) stay behind. A folder larger than ``max_mb`` is not carried
(e.g. the MNIST MLP's 14 MB of weights and momentum: committing one each session would
swell the repository; those runs are short) and starts over on a fresh machine; nor is a run
whose teacher is not carried (it would distil from a teacher trained again). A plan's run is
carried only with the plan's current settings (a run of older settings is trained again
anyway), a teacher only with the settings its runs train it with, and a parked copy is
replaced only by one further on (or by one of the plan's settings). A parked run is dropped
once ``results/`` holds its record, or once the plan's settings for it change or it turns
out made by code older than its cell's ``since``; a teacher once no run that uses it is left
(:class:`_Needs`). ``parked.json`` in each
parked folder says how far it got, where and when. A run resumed on another machine kind is
no longer bit-identical to one trained on a single machine: its ``metrics.json`` lists every
start (``starts``: the epoch, commit and machine), and ``verify`` expects identical numbers
only when every start was on its own machine kind.
"""

import json
import os
import shutil
import tempfile

from tf_introspect import atomic
from tf_introspect.lab import paths
from tf_introspect.lab.records import timestamp
from tf_introspect.pipeline import outputs, workdir
from tf_introspect.pipeline.config import ConfigError
from tf_introspect.pipeline.settings import without_data_fingerprint

PARKED = "parked"
NOTE = "parked.json"
#: an unfinished run's files besides its backup (each if present)
UNFINISHED = ("settings.json", "history.csv", workdir.STARTS, "output.log")
BACKUP = ("training_metadata.json", "latest.weights.h5")
#: never carried: a live run's lock, the runner's lock, a parked folder's note
LOCKS = (workdir.LOCK, "runner.pid", NOTE)
DEFAULT_MAX_MB = 5.0


def _run_folders(runs):
    """Every run's folder under ``runs`` (it holds a ``settings.json``), relative to it; not
    in a folder being written (``*.tmp``)."""
    found = []
    for folder, subfolders, files in os.walk(runs):
        subfolders[:] = sorted(
            d
            for d in subfolders
            if d not in ("tb", "backup", "set_aside") and not d.endswith(".tmp")
        )
        if "settings.json" in files:
            found.append(os.path.relpath(folder, runs))
    return sorted(found)


class _Needs:
    """Which run folders are still needed, from every plan (``experiments/*.toml``): a plan's
    run while it has the run's current settings, until ``results/`` holds its current record
    (:func:`~tf_introspect.lab.records.load_record`: same settings, not stale) and unless it
    was made by code older than its cell's ``since``; a teacher (``--teacher_workdir``, or
    ``<run>/teacher``) while it has the settings the plan runs that use it train it with and
    one of them is needed; any other folder inside a plan run's folder (an assistant) as long
    as that run; any other folder under ``runs/<plan>/`` until every run of that plan is
    recorded."""

    def __init__(self):
        from tf_introspect.lab.plans import list_plans, load_plan, plan_runs

        self.runs, self.users = {}, {}  # a teacher's folder: [(run, its settings)]
        for path in list_plans():
            for run in plan_runs(load_plan(path)):
                self.runs[os.path.join(run.plan, run.cell, run.name)] = run
                teacher = _teacher(run)
                if teacher:
                    self.users.setdefault(teacher[0], []).append((run, teacher[1]))
        self._complete = {}

    def why_not(self, relative, folder):
        """None while ``folder``, the run folder ``runs/<relative>`` (or its parked copy), is
        needed, else why not."""
        from tf_introspect.lab.records import load_record

        run = self.runs.get(relative)
        if run is not None:
            settings = _settings(folder)
            if load_record(run) is not None:
                return "recorded in results/"
            if settings is not None and without_data_fingerprint(settings) != run.settings:
                return "the plan's settings for it changed: it is trained again"
            if run.made_before_fix(folder):
                return f"made by code older than the cell's since = {run.since}: trained again"
            return None
        parts = relative.split(os.sep)
        if relative in self.users:  # a teacher: as long as a run that uses it
            settings = _settings(folder)
            users = [
                r
                for r, wanted in self.users[relative]
                if settings is None or without_data_fingerprint(settings) == wanted
            ]
            if not users:
                return "not the teacher its runs need now (other settings)"
            root = _up(folder, len(parts))  # runs/ (or parked/) beside it
            if all(self.why_not(_relative(r), os.path.join(root, _relative(r))) for r in users):
                return "no run that uses it is left"
            return None
        for i in range(len(parts) - 1, 0, -1):  # inside a plan run's folder: as long as it
            owner = os.path.join(*parts[:i])
            if owner in self.runs:
                return self.why_not(owner, _up(folder, len(parts) - i))
        plan = parts[0]
        if plan not in self._complete:
            self._complete[plan] = all(
                load_record(r) is not None for r in self.runs.values() if r.plan == plan
            )
        return f"every run of plan {plan!r} is recorded" if self._complete[plan] else None

    def teachers(self, relative):
        """The folders (relative to ``runs/``) of the teachers the plan run ``relative`` uses."""
        run = self.runs[relative]
        return [t for t, users in self.users.items() if any(r is run for r, _ in users)]


def _relative(run):
    return os.path.join(run.plan, run.cell, run.name)


def _up(folder, levels):
    """``folder``'s ancestor ``levels`` up."""
    for _ in range(levels):
        folder = os.path.dirname(folder.rstrip(os.sep))
    return folder


def _teacher(run):
    """``(folder relative to runs/, settings)`` of the teacher that ``run`` trains (or reuses)
    before itself, or None (no teacher, or one given as a file)."""
    from tf_introspect.pipeline import config, registry
    from tf_introspect.pipeline.settings import result_settings

    if run.settings is None:
        return None
    cfg = config.from_args([*run.args, f"--workdir={run.workdir}"])
    kind = registry.entry(cfg.method).teacher
    if kind == "none" or cfg.teacher:
        return None
    sub = cfg.sub_run("teacher", method="ce", model=cfg.teacher_model_name(kind))
    runs = os.path.relpath(os.path.join(paths.ROOT, paths.RUNS), paths.REPO)
    relative = os.path.relpath(sub.workdir, runs)  # <run>/teacher
    if relative.startswith(os.pardir):  # a --teacher_workdir: runs/... of the runner's checkout
        relative = os.path.relpath(sub.workdir, paths.RUNS)
    if relative.startswith(os.pardir) or os.path.isabs(sub.workdir):
        return None  # a teacher outside runs/: not the runner's to carry
    return relative, without_data_fingerprint(result_settings(sub))


def _json(folder, name):
    """The JSON file ``name`` in ``folder``, or None (missing or unreadable)."""
    try:
        with open(os.path.join(folder, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _settings(folder):
    return _json(folder, "settings.json")


def parked_note(folder):
    """The ``parked.json`` of the parked run in ``folder``, or None."""
    return _json(folder, NOTE)


def _progress(folder):
    """``(finished, epochs)`` of the run in ``folder``: a finished run is further than any
    unfinished one; an unfinished one is as far as its backup (0: nothing to carry)."""
    done = outputs.load(folder)
    if done is not None:
        return True, done["epochs"] + done.get("pretraining_epochs", 0)
    return False, _epochs(os.path.join(folder, "backup"))


def _epochs(backup):
    """The epochs finished in the backup folder ``backup`` (mended as a resumed run would:
    :func:`~tf_introspect.pipeline.workdir.backup_epoch`); 0 if there is none or it cannot be
    read."""
    if not os.path.isdir(backup):
        return 0
    try:
        return workdir.backup_epoch(backup)
    except ConfigError:
        return 0


def _carry(folder, staging):
    """Copy what the run in ``folder`` needs to go on into ``staging``; its progress. An
    unfinished run's backup is copied first (so its history holds at least its epochs) and
    mended in ``staging`` (the runner's own is left as it is)."""
    if outputs.load(folder) is not None:
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and name not in LOCKS:
                shutil.copy2(path, staging)
        return _progress(folder)
    source, backup = os.path.join(folder, "backup"), os.path.join(staging, "backup")
    os.makedirs(backup)
    for name in BACKUP:
        for suffix in ("", ".bkp"):
            if os.path.exists(os.path.join(source, name + suffix)):
                shutil.copy2(os.path.join(source, name + suffix), backup)
    epochs = _epochs(backup)
    for name in os.listdir(backup):
        if name.endswith(".bkp"):
            os.remove(os.path.join(backup, name))
    for name in UNFINISHED:
        if os.path.exists(os.path.join(folder, name)):
            shutil.copy2(os.path.join(folder, name), staging)
    return False, epochs


def _size_mb(folder):
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def _own_files(folder):
    """The paths (relative to ``folder``) of a parked run's own files: its top level and its
    backup, not the run folders inside it (a teacher, parked in its own right)."""
    found = [n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n))]
    backup = os.path.join(folder, "backup")
    if os.path.isdir(backup):
        found += [os.path.join("backup", n) for n in os.listdir(backup)]
    return sorted(found)


def _replace(staging, final):
    """``final`` becomes ``staging`` as a whole (its parent made); the folders inside the old
    ``final`` but its backup are kept (a teacher parked or trained in its own right,
    TensorBoard's logs). The old folder is renamed aside first and its folders moved over
    after the new one is in place, so an error on the way loses neither (``*.tmp`` folders
    are never taken for runs)."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    old = final.rstrip(os.sep) + ".old.tmp"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(final):
        os.replace(final, old)
    shutil.move(staging, final)
    if os.path.isdir(old):
        for name in os.listdir(old):
            if name != "backup" and os.path.isdir(os.path.join(old, name)):
                shutil.move(os.path.join(old, name), os.path.join(final, name))
        shutil.rmtree(old)


def park(runner, max_mb=DEFAULT_MAX_MB, log=print):
    """Carry the runs of ``runner``/runs that are further than their parked copy into this
    checkout's ``parked/`` and drop the parked copies that are no longer needed; returns
    the number of runs parked. Run it while the runner is paused or stopped
    (``scripts/park_runner.sh``): a backup being written is mended like a killed run's."""
    runs = os.path.join(runner, paths.RUNS)
    parked_root = os.path.join(paths.ROOT, PARKED)
    needs, left = _Needs(), set()
    folders = _run_folders(runs) if os.path.isdir(runs) else []
    teachers_first = sorted(folders, key=lambda r: r in needs.runs)  # a run after its teachers
    count = 0
    for relative in teachers_first:
        folder, final = os.path.join(runs, relative), os.path.join(parked_root, relative)
        if needs.why_not(relative, folder):
            continue
        missing = relative in needs.runs and [t for t in needs.teachers(relative) if t in left]
        if missing:
            log(f"not parked: {relative} (its teacher {missing[0]} is not parked)")
            left.add(relative)
            continue
        os.makedirs(paths.ROOT, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=paths.ROOT, prefix=".parking") as tmp:
            staging = os.path.join(tmp, "run")
            os.makedirs(staging)
            finished, epochs = _carry(folder, staging)
            if not finished and epochs == 0:
                continue
            note, settings = parked_note(final), _settings(staging)
            if (
                note is not None
                and note["settings"] == settings
                and (note["finished"], note["epochs"]) >= (finished, epochs)
            ):
                continue  # the parked copy is as far
            size = _size_mb(staging)
            if size > max_mb:
                log(
                    f"not parked: {relative} ({size:.1f} MB > --max_mb={max_mb:g}); it starts "
                    "over on a fresh machine"
                )
                left.add(relative)
                continue
            atomic.write_json(
                os.path.join(staging, NOTE),
                {
                    "epochs": epochs,
                    "finished": finished,
                    "settings": settings,
                    "parked": timestamp(),
                    "machine": workdir.cpu_model(),
                },
            )
            _replace(staging, final)
        state = "finished" if finished else f"{epochs} epoch(s) finished"
        log(f"parked {relative}: {state} ({size:.1f} MB) -> {PARKED}/{relative}")
        count += 1
    prune(log, needs)
    return count


def unpark(runner, log=print):
    """Put every parked run that is further than ``runner``/runs' own copy there, so that
    the runner resumes it (the parked runs no longer needed are dropped first); returns the
    number of runs put there."""
    prune(log)
    parked_root = os.path.join(paths.ROOT, PARKED)
    count = 0
    for relative in _run_folders(parked_root) if os.path.isdir(parked_root) else []:
        source = os.path.join(parked_root, relative)
        note = parked_note(source)
        if note is None:
            continue
        target = os.path.join(runner, paths.RUNS, relative)
        if _settings(target) == note["settings"] and _progress(target) >= (
            note["finished"],
            note["epochs"],
        ):
            continue  # the runner's own copy is as far (the same machine)
        if workdir.in_use(target):
            log(f"not unparked: {relative} is training in {target} (stop the runner first)")
            continue
        staging = target.rstrip(os.sep) + ".unpark.tmp"  # its own files, then swapped in whole
        shutil.rmtree(staging, ignore_errors=True)
        for name in _own_files(source):
            if name != NOTE:
                os.makedirs(os.path.dirname(os.path.join(staging, name)), exist_ok=True)
                shutil.copy2(os.path.join(source, name), os.path.join(staging, name))
        _replace(staging, target)  # the folders inside the runner's own (a teacher) are kept
        state = "finished" if note["finished"] else f"resumes after epoch {note['epochs']}"
        log(f"unparked {relative}: {state} (parked {note['parked']} on {note['machine']})")
        count += 1
    return count


def prune(log=print, needs=None):
    """Drop the parked runs no longer needed (:class:`_Needs`: recorded since, trained
    again with the plan's new settings, ...)."""
    parked_root = os.path.join(paths.ROOT, PARKED)
    if not os.path.isdir(parked_root):
        return
    needs = needs or _Needs()
    for relative in _run_folders(parked_root):
        folder = os.path.join(parked_root, relative)
        why = os.path.isdir(folder) and needs.why_not(relative, folder)
        if why:
            shutil.rmtree(folder)
            log(f"dropped {PARKED}/{relative}: {why}")
    for folder, _, _ in os.walk(parked_root, topdown=False):  # the emptied folders
        if folder != parked_root and not os.listdir(folder):
            os.rmdir(folder)
