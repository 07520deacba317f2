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
  (``--teacher_workdir``), or a plan's run finished just before the runner stopped; its files
  (``metrics.json``, ``model.keras``, ...). The runner records such a run when it finds it.

TensorBoard's logs (``tb/``) stay behind. A folder larger than ``max_mb`` is not carried
(e.g. the MNIST MLP's 14 MB of weights and momentum: committing one each session would
swell the repository; those runs are short) and starts over on a fresh machine. A parked run
is replaced only by one further on (or by one of other settings: the plan changed), and
dropped once ``results/`` holds its record (a teacher: once every run of its plan is
recorded). ``parked.json`` in each parked folder says how far it got, where and when.
A run resumed on another machine kind is no longer bit-identical to one trained on a single
machine: its ``metrics.json`` lists every start (``starts``: the epoch, commit and machine),
and ``verify`` compares it as made on another kind unless every start was on its own.
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

PARKED = "parked"
NOTE = "parked.json"
#: an unfinished run's files besides its backup (each if present)
UNFINISHED = ("settings.json", "history.csv", workdir.STARTS, "output.log")
BACKUP = ("training_metadata.json", "latest.weights.h5")
#: never carried: a live run's lock, the runner's lock, a parked folder's note
LOCKS = (workdir.LOCK, "runner.pid", NOTE)
DEFAULT_MAX_MB = 5.0


def _run_folders(runs):
    """Every run's folder under ``runs`` (it holds a ``settings.json``), relative to it."""
    found = []
    for folder, subfolders, files in os.walk(runs):
        subfolders[:] = sorted(d for d in subfolders if d not in ("tb", "backup", "set_aside"))
        if "settings.json" in files and not folder.endswith(".tmp"):
            found.append(os.path.relpath(folder, runs))
    return sorted(found)


class _Needs:
    """Which runs still need their folder, from every plan (``experiments/*.toml``): a plan's
    run until ``results/`` holds its current record (:func:`~tf_introspect.lab.records.
    load_record`: same settings, not stale); any other folder under ``runs/<plan>/`` (a
    teacher) until every run of that plan is recorded."""

    def __init__(self):
        from tf_introspect.lab.plans import list_plans, load_plan, plan_runs

        self.runs = {}
        for path in list_plans():
            for run in plan_runs(load_plan(path)):
                self.runs[os.path.join(run.plan, run.cell, run.name)] = run
        self._complete = {}

    def why_not(self, relative, folder):
        """None while ``folder``, the run folder ``runs/<relative>`` (or its parked copy), is
        needed, else why not."""
        from tf_introspect.lab.records import load_record

        run = self.runs.get(relative)
        if run is not None and load_record(run) is not None:
            return "recorded in results/"
        if run is not None:
            if run.begun_before_fix(folder):
                return f"begun before the cell's since = {run.since}: it starts over"
            return None
        plan = relative.split(os.sep)[0]
        if plan not in self._complete:
            self._complete[plan] = all(
                load_record(r) is not None for r in self.runs.values() if r.plan == plan
            )
        return f"every run of plan {plan!r} is recorded" if self._complete[plan] else None


def _settings(folder):
    try:
        with open(os.path.join(folder, "settings.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _note(folder):
    try:
        with open(os.path.join(folder, NOTE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


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


def _files_to_carry(folder, staging):
    """Copy what the run in ``folder`` needs to go on into ``staging``; its progress."""
    finished, epochs = _progress_of_copy(folder, staging)
    if finished:
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and name not in LOCKS:
                shutil.copy2(path, staging)
    else:
        for name in UNFINISHED:
            if os.path.exists(os.path.join(folder, name)):
                shutil.copy2(os.path.join(folder, name), staging)
    return finished, epochs


def _progress_of_copy(folder, staging):
    """The progress of the run in ``folder``; an unfinished run's backup is copied into
    ``staging/backup`` and mended there (the runner's own is left as it is)."""
    if outputs.load(folder) is not None:
        return _progress(folder)
    source = os.path.join(folder, "backup")
    if not os.path.isdir(source):
        return False, 0
    backup = os.path.join(staging, "backup")
    os.makedirs(backup)
    for name in BACKUP:
        for suffix in ("", ".bkp"):
            if os.path.exists(os.path.join(source, name + suffix)):
                shutil.copy2(os.path.join(source, name + suffix), backup)
    epochs = _epochs(backup)
    for name in os.listdir(backup):
        if name.endswith(".bkp"):
            os.remove(os.path.join(backup, name))
    return False, epochs


def _size_mb(folder):
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def _replace(staging, final):
    """``final`` becomes ``staging`` (its parent made), as a whole."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = final.rstrip(os.sep) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.move(staging, tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def park(runner, max_mb=DEFAULT_MAX_MB, log=print):
    """Carry the runs of ``runner``/runs that are further than their parked copy into this
    checkout's ``parked/`` and drop the parked copies that are no longer needed; returns
    the number of runs parked. Run it while the runner is paused or stopped
    (``scripts/park_runner.sh``): a backup being written is mended like a killed run's."""
    runs = os.path.join(runner, paths.RUNS)
    parked_root = os.path.join(paths.ROOT, PARKED)
    count, needs = 0, _Needs()
    for relative in _run_folders(runs) if os.path.isdir(runs) else []:
        folder, final = os.path.join(runs, relative), os.path.join(parked_root, relative)
        if needs.why_not(relative, folder):
            continue
        os.makedirs(paths.ROOT, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=paths.ROOT, prefix=".parking") as tmp:
            staging = os.path.join(tmp, "run")
            os.makedirs(staging)
            finished, epochs = _files_to_carry(folder, staging)
            if not finished and epochs == 0:
                continue
            note = _note(final)
            settings = _settings(staging)
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
                continue
            atomic.write_json(
                os.path.join(staging, NOTE),
                {
                    "epochs": epochs,
                    "finished": finished,
                    "settings": settings,
                    "parked": timestamp(),
                    "machine": workdir.machine()["cpu_model"],
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
    the runner resumes it (a run already recorded in ``results/`` is dropped instead);
    returns the number of runs put there."""
    prune(log)
    parked_root = os.path.join(paths.ROOT, PARKED)
    count = 0
    for relative in _run_folders(parked_root) if os.path.isdir(parked_root) else []:
        source = os.path.join(parked_root, relative)
        note = _note(source)
        if note is None:
            continue
        target = os.path.join(runner, paths.RUNS, relative)
        if _settings(target) == note["settings"] and _progress(target) >= (
            note["finished"],
            note["epochs"],
        ):
            continue  # the runner's own copy is as far (the same machine)
        if os.path.isdir(os.path.join(target, "backup")):
            shutil.rmtree(os.path.join(target, "backup"))
        for name in ("metrics.json", "model.keras"):
            if os.path.exists(os.path.join(target, name)):
                os.remove(os.path.join(target, name))
        os.makedirs(target, exist_ok=True)
        for folder, _, files in os.walk(source):
            into = os.path.join(target, os.path.relpath(folder, source))
            os.makedirs(into, exist_ok=True)
            for name in files:
                if name != NOTE:
                    shutil.copy2(os.path.join(folder, name), into)
        state = "finished" if note["finished"] else f"resumes after epoch {note['epochs']}"
        log(f"unparked {relative}: {state} (parked {note['parked']} on {note['machine']})")
        count += 1
    return count


def prune(log=print, needs=None):
    """Drop the parked runs no longer needed (:class:`_Needs`): recorded since."""
    parked_root = os.path.join(paths.ROOT, PARKED)
    if not os.path.isdir(parked_root):
        return
    needs = needs or _Needs()
    for relative in _run_folders(parked_root):
        why = needs.why_not(relative, os.path.join(parked_root, relative))
        if why and os.path.isdir(os.path.join(parked_root, relative)):
            shutil.rmtree(os.path.join(parked_root, relative))
            log(f"dropped {PARKED}/{relative}: {why}")
    for folder, _, _ in os.walk(parked_root, topdown=False):  # the emptied folders
        if not os.listdir(folder):
            os.rmdir(folder)
