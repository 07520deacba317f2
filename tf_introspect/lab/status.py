"""A plan's status: per cell done / running / left, and the projected time left.

Runs in progress are found by their runner's ``runner.pid`` and timed from their own
``output.log``, and so are runs parked for the next machine (``parked/``); runs left are
priced from finished runs of the closest cost (any plan).
"""

import datetime
import glob
import os
import re

from tf_introspect.lab import paths
from tf_introspect.lab.parking import PARKED, parked_note
from tf_introspect.lab.plans import load_plan, plan_runs
from tf_introspect.lab.records import (
    BEING_WRITTEN,
    equal_record,
    load_record,
    read_record,
    seconds_an_epoch,
    trained_on,
)
from tf_introspect.pipeline import outputs
from tf_introspect.pipeline.workdir import cpu_model


def _runner_alive(run):
    """Whether a live runner process works on ``run`` (its ``runner.pid``; a runner killed
    without cleaning up leaves the file with a dead PID)."""
    try:
        with open(os.path.join(paths.REPO, run.workdir, "runner.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, another user's
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


def _median(values, lower=False):
    """The (upper) median, or the lower (a run slowed by a load that has passed, the MLP at
    nice 19 beside a ResNet, must not price its cell's other runs: :func:`epoch_rate`)."""
    values = sorted(values)
    return values[(len(values) - lower) // 2] if values else None


def _parked(run):
    """The folder of ``run`` parked for the next machine (:mod:`~tf_introspect.lab.parking`)
    with the run's settings and unfinished, or None."""
    from tf_introspect.pipeline.settings import without_data_fingerprint

    folder = os.path.join(paths.ROOT, PARKED, run.plan, run.cell, run.name)
    note = parked_note(folder)
    if note is None or note["finished"] or not note["settings"]:
        return None
    return folder if without_data_fingerprint(note["settings"]) == run.settings else None


def _live_progress(run, workdir=None):
    """``(epochs finished, seconds a warm-up epoch, seconds an epoch after the warm-up)`` of
    a run in progress (in ``workdir``, default its work folder): the epochs in its
    ``history.csv``, and the medians of its epoch times in its ``output.log`` (None before
    the first of each). LE's warm-up epochs train plain CE, several times cheaper than its
    later epochs, so they price only warm-up epochs."""
    workdir = workdir or os.path.join(paths.REPO, run.workdir)
    settings = run.settings or {}
    try:
        with open(os.path.join(workdir, "output.log"), errors="replace") as f:
            seconds = _epoch_seconds(f.read(), settings.get("model"), settings.get("method"))
    except OSError:
        seconds = {}
    history = os.path.join(workdir, "history.csv")
    epochs = len(outputs.history(history)) if os.path.exists(history) else 0
    warmup = _warmup(run)
    return (
        epochs,
        _median(t for e, t in seconds.items() if e <= warmup),
        _median(t for e, t in seconds.items() if e > warmup),
    )


#: the settings that decide what an epoch costs (a grid value or the seed does not), the
#: weightiest first: a run is priced from the timed runs sharing the longest prefix of these
COST_KEYS = (
    "model",
    "dataset",
    "batch_size",
    "method",
    "explainer",
    "train_limit",
    "validation_split",
)
#: the prefix two runs must share to price one from the other's time (an explainer or a
#: subset may differ; another method or model may cost several times more or less)
SAME_COST = 4


def _kind(settings):
    return tuple(settings.get(k) for k in COST_KEYS)


def rates_by_kind(cpu=None, before=None):
    """Seconds an epoch of every committed seeded run of every plan, by :data:`COST_KEYS`;
    with ``cpu`` (a CPU model name), of those whose timed start (the last) ran on it; with
    ``before`` (seconds since the epoch), of those finished before it. A record copied from
    another plan's (``reused_from``) is not timed twice."""
    rates = {}
    for path in glob.glob(os.path.join(paths.ROOT, paths.RESULTS, "*", "*", "seed*", "run.json")):
        if os.path.dirname(path).endswith(BEING_WRITTEN):
            continue
        try:
            record = read_record(os.path.dirname(path))
            rate = seconds_an_epoch(record)
        except (OSError, ValueError, KeyError):
            continue
        if record.get("reused_from") or (before is not None and _finished(record) >= before):
            continue
        if cpu is None or _timed_on(record) == cpu:
            rates.setdefault(_kind(record["settings"]), []).append(rate)
    return rates


def _timed_on(record):
    """The CPU model of a recorded run's timed start (its last; None where not said)."""
    return (trained_on(record)[-1] or {}).get("cpu_model")


def _finished(record):
    """Seconds since the epoch when a recorded run finished (0 where not said)."""
    try:
        return datetime.datetime.fromisoformat(record["finished"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def machine_rates(before=None):
    """``(rates of runs timed on this machine's CPU model, rates of all)``, as
    :func:`rates_by_kind` (finished ``before`` if given): a run is priced from runs of this
    CPU where there are some (an AMD EPYC here trains ResNet-8 about twice as fast as the
    Intel Xeon of other sessions)."""
    here = cpu_model()
    return (rates_by_kind(here, before) if here else {}), rates_by_kind(before=before)


def _closest(kinds, timed):
    """``(n, rates)``: the rates in ``timed`` (``{kind: [seconds an epoch]}``) of the kinds
    sharing the longest prefix, ``n`` long, of :data:`COST_KEYS` with any of ``kinds``."""

    def shared(a, b):
        n = 0
        while n < len(a) and a[n] == b[n]:
            n += 1
        return n

    best = max((shared(a, b) for a in kinds for b in timed), default=0)
    found = [
        t for b, times in timed.items() if any(shared(a, b) == best for a in kinds) for t in times
    ]
    return best, found


def _closest_rates(kinds, timed, least=SAME_COST):
    """The rates of :func:`_closest`, if their prefix is at least ``least`` long."""
    best, found = _closest(kinds, timed)
    return found if best >= least else []


def rate_pool(run, rates=None, least=SAME_COST):
    """``(source, seconds an epoch)`` that price ``run`` (:func:`epoch_rate`): of the finished
    runs of the closest cost (any plan, a prefix of :data:`COST_KEYS` at least ``least``
    long), those timed on this CPU model (source ``cpu``) when there are two or more as close
    as any, else of every machine (``all``) (``rates``: :func:`machine_rates`, read once for
    many runs); ``("all", [])`` where none is close enough."""
    here, every = rates if rates is not None else machine_rates()
    kinds = {_kind(run.settings)}
    (near, found_here), (best, found) = _closest(kinds, here), _closest(kinds, every)
    if near >= max(best, least) and len(found_here) >= 2:
        return "cpu", found_here
    return "all", found if best >= least else []


def epoch_rate(run, rates=None, least=SAME_COST, source=False):
    """Seconds an epoch of ``run`` (with ``source``: ``(seconds, source)``): the lower median
    of its :func:`rate_pool`; None where it is empty. Not the mean nor the upper median: a
    pause (a runner stopped at a session's end) only lengthens a run's wall time, and one
    paused run must not price its cost several times over."""
    where, found = rate_pool(run, rates, least)
    rate = _median(found, lower=True)
    return (rate, where) if source else rate


def total_epochs(settings):
    """The epochs a run of ``settings`` trains (``RunConfig.total_epochs``): Hint's and FSP's
    first stage, which comes before ``--epochs`` (``Entry.pretrains``), then ``--epochs``;
    what its ``history.csv`` counts and its record's seconds an epoch divide by."""
    from tf_introspect.pipeline import registry

    spec = registry.entry(settings["method"])
    first = (settings.get(spec.warmup) or 0) if spec.warmup and spec.pretrains else 0
    return first + settings["epochs"]


def epochs_left(run):
    """The epochs ``run`` still has to train: its :func:`total_epochs` less those its work folder's
    ``history.csv`` holds (one more than its backup at most), all of them where it starts
    over (a stale folder: finished with other settings or older code, or a backup begun
    before its cell's ``since``)."""
    workdir = os.path.join(paths.REPO, run.workdir)
    history = os.path.join(workdir, "history.csv")
    if not os.path.exists(history) or "--overwrite" in run.command():
        return total_epochs(run.settings)
    if outputs.load(workdir) is None and run.made_before_fix():
        return total_epochs(run.settings)
    return max(0, total_epochs(run.settings) - len(outputs.history(history)))


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
    warmup, epochs = _warmup(run), total_epochs(run.settings)
    return (warmup * (after if warm is None else warm) + (epochs - warmup) * after) / epochs


def _live_seconds_left(run, progress, fallback):
    """Seconds left of a run in progress: its warm-up epochs left at its warm-up rate, its
    later epochs at their rate, else at ``fallback`` (seconds an epoch over whole runs of its
    kind; None: not yet timed, and so is the result)."""
    done, warm, after = progress
    warmup, epochs = _warmup(run), total_epochs(run.settings)
    after = after if after is not None else fallback
    warm = warm if warm is not None else after
    left_warm, left_after = max(0, warmup - done), epochs - max(done, warmup)
    if (left_after and after is None) or (left_warm and warm is None):
        return None
    return left_warm * (warm or 0) + left_after * (after or 0)


def _hours(seconds, unknown):
    return (f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min") + (
        f" (+{unknown} runs not yet timed)" if unknown else ""
    )


def status(path):
    """Lines: per cell done / running / left (and reusable: runs another plan already
    trained with the same settings, copied at no cost), and the projected time left.

    Each run left is priced at its cell's seconds an epoch: the lower median
    (:func:`_median`) of the cell's finished runs timed on this machine's CPU model,
    else of its runs in progress, else of the finished (any plan) or running runs of the
    closest cost (:data:`COST_KEYS`: same model, data, batch and method, e.g. another
    explainer) on this CPU model, else the same on any machine (the cell's finished runs,
    then the closest cost), else, roughly, of the plan's runs on the same model and data;
    else it is "not yet timed". A run in progress is priced for its epochs left at its own
    measured rates, LE's warm-up epochs (plain CE) apart from its later ones, which cost
    several times more. Machine time: a run made beside others counts its share
    (:func:`~tf_introspect.lab.records.machine_seconds`)."""
    return _status(path)[0]


def status_all(paths):
    """:func:`status` of each plan under its name, then the time left of all of them."""
    lines, seconds, unknown = [], 0.0, 0
    for path in paths:
        found, left, untimed = _status(path)
        lines += [f"== {path}", *found, ""]
        seconds, unknown = seconds + left, unknown + untimed
    return lines + [
        f"all {len(paths)} plans: {_hours(seconds, unknown)} left (a run two plans share, "
        "unfinished in both, counts in each)"
    ]


def _status(path):
    """``(lines, seconds left, runs not yet timed)`` of :func:`status`."""
    plan = load_plan(path)
    runs = plan_runs(plan)
    per_epoch, per_epoch_here, live, live_rate, parked = {}, {}, {}, {}, set()
    # finished runs of every plan (and this plan's live), those on this CPU model apart
    timed_here, timed = machine_rates()
    here = cpu_model()
    mine_timed = {}  # this plan's, by kind
    records = {(run.cell, run.name): load_record(run) for run in runs}  # read once
    for run in runs:
        record = records[run.cell, run.name]
        if record:
            rate = seconds_an_epoch(record)
            per_epoch.setdefault(run.cell, []).append(rate)
            if here and _timed_on(record) == here:
                per_epoch_here.setdefault(run.cell, []).append(rate)
        elif run.settings and (_runner_alive(run) or _parked(run)):
            workdir = None if _runner_alive(run) else _parked(run)
            live[run.cell, run.name] = _live_progress(run, workdir)
            if workdir:  # as far as its backup (its history may hold one epoch more)
                parked.add((run.cell, run.name))
                epochs = parked_note(workdir)["epochs"]
                live[run.cell, run.name] = (epochs, *live[run.cell, run.name][1:])
            rate = live_rate[run.cell, run.name] = _whole_run_rate(run, live[run.cell, run.name])
            if rate:
                timed.setdefault(_kind(run.settings), []).append(rate)
                if not workdir or parked_note(workdir).get("machine") == here:
                    timed_here.setdefault(_kind(run.settings), []).append(rate)
        else:
            continue
        if rate:
            mine_timed.setdefault(_kind(run.settings), []).append(rate)
    lines, total_left, unknown = [], 0.0, 0
    width = max(len(cell["name"]) for cell in plan["cell"])
    for cell in plan["cell"]:
        mine = [r for r in runs if r.cell == cell["name"]]
        done = [r for r in mine if records[r.cell, r.name]]
        going = [r for r in mine if (r.cell, r.name) in live]  # running or parked
        running = [r for r in going if (r.cell, r.name) not in parked]
        waiting = [r for r in going if (r.cell, r.name) in parked]
        reusable = [
            r
            for r in mine
            if r not in done and r not in going and r.settings is not None and equal_record(r)
        ]  # another plan's: free
        left = len(mine) - len(done) - len(going) - len(reusable)
        kinds = {_kind(r.settings) for r in mine if r.settings}
        rate = _median(
            per_epoch_here.get(cell["name"])
            or [live_rate[r.cell, r.name] for r in going if live_rate[r.cell, r.name]]
            or _closest_rates(kinds, timed_here)
            or per_epoch.get(cell["name"])
            or _closest_rates(kinds, timed)
            or _closest_rates(kinds, mine_timed, least=2),
            lower=True,
        )
        # a seeded run waiting for its grid has no settings yet: its grid points' epochs
        known = [total_epochs(r.settings) for r in mine if r.settings]
        for r in mine:
            if r in done or r in reusable:
                continue
            epochs = total_epochs(r.settings) if r.settings else (known or [None])[0]
            seconds = (
                _live_seconds_left(r, live[r.cell, r.name], rate)
                if r in going
                else None
                if epochs is None or rate is None
                else epochs * rate
            )
            if seconds is None:
                unknown += 1
            else:
                total_left += seconds

        def progress(these):
            return "".join(
                f" ({live[r.cell, r.name][0]}/{total_epochs(r.settings)} epochs)" for r in these
            )

        lines.append(
            f"{cell['name']:{width}s} done {len(done):3d}  running {len(running):2d}"
            f"{progress(running)}  left {left:3d}"
            + (f"  parked {len(waiting)}{progress(waiting)}" if waiting else "")
            + (f"  reusable {len(reusable)}" if reusable else "")
        )
    lines.append(
        f"projected time left on this machine ({here or 'CPU model unknown'}: priced from "
        "runs timed on it where there are some; runs made with --jobs at their share of the "
        f"machine): {_hours(total_left, unknown)}"
    )
    return lines, total_left, unknown
