"""``run --until``: start a run only if it is projected to end by a moment (a session's end).

A run too large to park (the MNIST MLP's 14 MB backup, :mod:`~tf_introspect.lab.parking`)
still training when a session ends starts over on the next machine, and meanwhile took a
core's share from the ResNet beside it. :class:`Deadline` prices each run before it starts:
its epochs left at the seconds an epoch of the finished runs of its cost
(:func:`~tf_introspect.lab.status.epoch_rate`) recorded before the *base* moment times the
machine's slowdown now against that base (a cost first timed since then: at its own time
here), times the runs that will share the machine with it (records hold a run's share), with
:data:`FIT_MARGIN` to spare.

The slowdown is measured, not assumed: records come from other machines and other loads (the
MLP at nice 19 beside a ResNet ran its CE epochs at 47-165 s on 2026-12-07, against the
20-34 s of the CE records). Each run that ends here gives it anew: its recorded time (its
share of the machine) over its price at the base rates, one slowdown for prices from this
CPU model's records and one for those from every machine's. The base is fixed (the moment
the first :class:`Deadline` on this machine was made), so a run made slow by the load now
never enters the rates that the slowdown multiplies, for its own cost or any other. Both are
kept in ``runs/slowdown.json`` (per CPU model; the base for good, a slowdown for
:data:`KEEP_HOURS`) for the runner's later ``run`` calls. A run during which the runner was
paused (``scripts/quiet.sh``, for the tests or a benchmark, writes each pause into
``runs/pauses.log``) does not measure it: its wall time holds the pause (on 2026-12-08 a
``table3_paper`` run with 21 of its 60 minutes paused measured 3.75, and the runner then
refused every run of the plan).
"""

import json
import os
import time

from tf_introspect import atomic
from tf_introspect.lab import paths, status
from tf_introspect.lab.records import equal_record, load_record, machine_seconds, timestamp
from tf_introspect.pipeline import outputs
from tf_introspect.pipeline.workdir import cpu_model

#: a run is started only if this many times its projected time ends by the deadline: the
#: machine's speed comes and goes (epochs of 40 s and 80 s alternate)
FIT_MARGIN = 1.25
#: the slowdown's bounds: one run is one sample (a run's fixed costs, a load that passed)
SLOWDOWN_RANGE = (0.5, 5.0)
#: a run priced at less than this does not measure the slowdown (its start-up and final
#: evaluation weigh too much)
MIN_SAMPLE_S = 300
#: how long a measured slowdown (and its base) is trusted by the runner's later calls
KEEP_HOURS = 12
#: the runs priced from the finished runs of their model, data and batch size alone
ROUGH = 3


def _saved():
    return os.path.join(paths.ROOT, paths.RUNS, "slowdown.json")


def _pauses():
    return os.path.join(paths.ROOT, paths.RUNS, "pauses.log")


def paused_during(start, end):
    """Whether a pause of the runner that ``scripts/quiet.sh`` wrote into ``runs/pauses.log``
    (a line ``PAUSED RESUMED``, seconds since the epoch) overlaps ``start``-``end``."""
    try:
        with open(_pauses()) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            paused, resumed = map(float, line.split())
        except ValueError:  # a line half written
            continue
        if paused < end and resumed > start:
            return True
    return False


def saved_state():
    """``(base, {source: slowdown})`` kept in ``runs/slowdown.json`` for this CPU model: the
    base (seconds since the epoch) for good, each slowdown for :data:`KEEP_HOURS` after it
    was measured; ``(None, {})`` where none is kept."""
    try:
        with open(_saved()) as f:
            saved = json.load(f)
        if saved["cpu_model"] != cpu_model():
            return None, {}
        fresh = {
            source: float(kept["slowdown"])
            for source, kept in saved.get("slowdowns", {}).items()
            if time.time() - kept["measured_s"] < KEEP_HOURS * 3600
        }
        return float(saved["base_s"]), fresh
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, {}


class Deadline:
    """Whether each run :meth:`fits` before ``until`` (seconds since the epoch)."""

    def __init__(self, until, log=print):
        self.until, self.log = until, log
        self.base, self.slowdowns = saved_state()
        if self.base is None:  # the first on this machine: its base from now on
            self.base = time.time()
            self._save()
        self.rates = self.recent = None
        self._started, self._said = {}, set()

    def _save(self, **measured):
        """Keep the base and the slowdowns (``measured``: about the run that measured)."""
        try:
            with open(_saved()) as f:
                kept = json.load(f).get("slowdowns", {})
        except (OSError, ValueError, AttributeError):
            kept = {}
        if measured:
            kept[measured["source"]] = measured
        os.makedirs(os.path.dirname(_saved()), exist_ok=True)
        atomic.write_json(
            _saved(),
            {
                "base_s": self.base,
                "base": timestamp(self.base),
                "cpu_model": cpu_model(),
                "slowdowns": kept,
            },
        )

    def refresh(self):
        """Read the finished runs' times again (after a run has ended)."""
        self.rates = status.machine_rates(before=self.base)
        here = cpu_model()
        mine = status.rates_by_kind(here) if here else {}
        self.recent = mine, mine  # this CPU model's alone, one record enough

    def _price(self, run):
        """``(seconds an epoch now, how, source)``: of its cost at the base rates times the
        slowdown measured against the same pool (this CPU model's records or every
        machine's: ``source``) (``how`` ``base``); else of its cost timed on this CPU model
        since the base, which holds the slowdown already (``here``: a new method's first
        runs); else roughly, of its model, data and batch size (:data:`ROUGH`) at the base
        rates times the slowdown (``rough``); else ``(None, None, None)``."""
        if self.rates is None:
            self.refresh()
        rate, source = status.epoch_rate(run, self.rates, source=True)
        if rate is not None:
            return rate * self.slowdowns.get(source, 1.0), "base", source
        rate = status.epoch_rate(run, self.recent)
        if rate is not None:
            return rate, "here", "cpu"
        rate, source = status.epoch_rate(run, self.rates, least=ROUGH, source=True)
        if rate is None:
            return None, None, None
        return rate * self.slowdowns.get(source, 1.0), "rough", source

    def _say(self, run, message):
        """``message`` about ``run``, once a call (a refused run is priced again often)."""
        if (run.cell, run.name) not in self._said:
            self._said.add((run.cell, run.name))
            self.log(message)

    def fits(self, run, beside=0):
        """Whether ``run``, sharing the machine with ``beside`` other runs of this call, is
        projected to end by the deadline (said when not). A run that only needs recording
        (finished in its folder, or copied from another plan's record) always fits; a run
        never timed, of no model, data and batch size timed either, is started while there
        is time."""
        epochs = status.epochs_left(run)
        done = outputs.load(os.path.join(paths.REPO, run.workdir)) is not None
        if (done and epochs == 0) or equal_record(run) is not None:
            return True
        epochs = max(1, epochs)  # the history can hold an epoch the backup does not
        left = self.until - time.time()
        name = f"{run.cell}/{run.name}"
        if left <= 0:
            self._say(run, f"not started: {name}, --until has passed")
            return False
        rate, how, source = self._price(run)
        if rate is None:
            self.log(f"{name} is not yet timed: started, may end after --until")
            return True
        seconds = epochs * rate * (beside + 1)
        slowdown = self.slowdowns.get(source, 1.0)
        if seconds * FIT_MARGIN <= left:
            if how == "base":  # its price at the base rates: measures the slowdown
                self._started[run.cell, run.name] = (
                    epochs * rate / slowdown,
                    source,
                    time.time(),
                )
            return True
        how = {
            "base": f"{slowdown:.2f} x its records' time",
            "rough": f"{slowdown:.2f} x roughly its records' time",
            "here": "its own cost's time here",
        }[how]
        self._say(
            run,
            f"not started: {name}, projected to take {seconds / 60:.0f} min ({how}"
            f"{f', {beside + 1} at a time' if beside else ''}), "
            f"{left / 60:.0f} min left before --until",
        )
        return False

    def ended(self, run):
        """``run``, started after :meth:`fits`, ended well: the slowdown of its pool is now
        its recorded machine time (its share, beside other runs) over its price at the base
        rates (kept for the next call). Measured only by a run priced at its own cost's base
        rate, not by a short one, nor by one during which the runner was paused."""
        price, source, start = self._started.pop((run.cell, run.name), (0, None, 0))
        record = load_record(run)
        if price < MIN_SAMPLE_S or record is None or record.get("reused_from"):
            return
        if paused_during(start, time.time()):
            self.log(
                f"{run.cell}/{run.name} does not measure the slowdown: the runner was paused "
                "during it (runs/pauses.log, scripts/quiet.sh)"
            )
            return
        low, high = SLOWDOWN_RANGE
        slowdown = min(high, max(low, machine_seconds(record) / price))
        self.slowdowns[source] = slowdown
        self._save(
            source=source,
            slowdown=slowdown,
            measured_s=time.time(),
            measured=timestamp(),
            run=f"{run.plan}/{run.cell}/{run.name}",
        )
