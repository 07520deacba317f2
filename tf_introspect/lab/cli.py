"""Resumable experiment runner: ``python -m tf_introspect.experiments run|status|report|...``.

The ``experiments`` command line: ``run`` trains what is missing of a plan
(:mod:`~tf_introspect.lab.plans`, :mod:`~tf_introspect.lab.runner`), ``status`` counts what is
done and projects the time left (:mod:`~tf_introspect.lab.status`), ``verify`` trains a
finished run again and records how close it came (:mod:`~tf_introspect.lab.verify`),
``report`` regenerates ``docs/RESULTS.md`` from ``results/``
(:mod:`~tf_introspect.lab.results_doc`), and ``park`` / ``unpark`` carry unfinished runs to
the next machine through the repository (:mod:`~tf_introspect.lab.parking`)::

    nohup python -m tf_introspect.experiments run experiments/table3_short.toml &
    python -m tf_introspect.experiments run experiments/table3_paper.toml --until=18:10
    python -m tf_introspect.experiments status experiments/table3_short.toml
    python -m tf_introspect.experiments status    # every plan, and the time left of all
    python -m tf_introspect.experiments status --runner ../runner   # a runner's worktree
    python -m tf_introspect.experiments report          # regenerates docs/RESULTS.md
    python -m tf_introspect.experiments verify experiments/table3_short.toml ce/seed0
    python -m tf_introspect.experiments park ../runner    # unfinished runs -> parked/
    python -m tf_introspect.experiments unpark ../runner  # parked/ -> ../runner/runs/
"""

import argparse
import datetime
import os
import re
import sys

from tf_introspect.lab import parking, paths, plans, runner, status, verify
from tf_introspect.lab.errors import PlanError


def _moment(text):
    """Seconds since the epoch of ``--until``: "HH:MM" (today, local time) or ISO 8601."""
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", text):
            hour, minute = (int(x) for x in text.split(":"))
            now = datetime.datetime.now()
            moment = now.replace(hour=hour, minute=minute, second=0)
            if moment <= now:
                raise argparse.ArgumentTypeError(
                    f"{text!r} has passed today ({now:%H:%M}): give an ISO 8601 date and time "
                    "for another day, e.g. 2026-12-08T01:30:00+00:00"
                )
        elif "T" in text or " " in text:  # a date alone would mean its midnight
            moment = datetime.datetime.fromisoformat(text)
        else:
            raise ValueError(text)
        return moment.replace(microsecond=0).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give HH:MM (today) or an ISO 8601 date and time, "
            "e.g. 18:10 or 2026-12-07T18:10:00+00:00"
        ) from None


def _seeds(text):
    """``--seeds=0,1,2``: seeds as the command line takes them, in [0, 2^32 - 1]."""
    try:
        seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of whole numbers, e.g. 0,1,2"
        ) from None
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise argparse.ArgumentTypeError(f"seeds must be in [0, 4294967295], got {bad}")
    return seeds


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tf_introspect.experiments", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run what is missing of a plan")
    run_p.add_argument("plan")
    run_p.add_argument(
        "--seeds",
        type=_seeds,
        help="only these seeds, e.g. 0,1,2",
    )
    run_p.add_argument("--cells", type=lambda s: s.split(","), help="only these cells")
    run_p.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    run_p.add_argument(
        "--until",
        type=_moment,
        help="start only the runs projected to end by then (HH:MM today, or an ISO 8601 date "
        "and time such as 2026-12-07T18:10:00+00:00): a session's end, for runs too large to "
        "park (the MNIST MLP); a run never timed is started",
    )
    run_p.add_argument(
        "--data_dir",
        help="read the data from here instead of the plan's "
        "data_dir (and skip its [prepare] step); it is not a setting, so "
        "runs recorded with another data folder still count as finished: to "
        "keep runs on other data apart, move results/<plan>/ away first",
    )
    status_p = sub.add_parser("status", help="done / running / left, projected time")
    status_p.add_argument("plans", nargs="*", help="plans (default: every plan, and a total)")
    status_p.add_argument(
        "--runner",
        help="the runner's checkout (e.g. ../runner, made by scripts/restart_runner.sh): its "
        "records and runs in progress (default: this checkout's)",
    )
    verify_p = sub.add_parser(
        "verify",
        help="train a finished run again and record how close it came (determinism evidence)",
    )
    verify_p.add_argument("plan")
    verify_p.add_argument("run", help="CELL/RUN, e.g. ce/seed0")
    verify_p.add_argument(
        "--once_per_machine",
        action="store_true",
        help="skip if this run was already verified on this machine kind",
    )
    calibrate_p = sub.add_parser(
        "calibrate",
        help="test NLL and ECE of finished runs recorded without them, from their work "
        "folders' models (calibration.json beside the record)",
    )
    calibrate_p.add_argument("plan")
    park_p = sub.add_parser(
        "park",
        help=f"carry the unfinished runs of a runner's runs/ into {parking.PARKED}/ (to "
        "commit), so that they resume on the next machine",
    )
    park_p.add_argument("runner", help="the runner's checkout (e.g. ../runner)")
    park_p.add_argument(
        "--max_mb",
        type=float,
        default=parking.DEFAULT_MAX_MB,
        help="carry no run larger than this (default %(default)s MB)",
    )
    unpark_p = sub.add_parser(
        "unpark", help=f"put the runs parked in {parking.PARKED}/ into a runner's runs/"
    )
    unpark_p.add_argument("runner", help="the runner's checkout (e.g. ../runner)")
    report_p = sub.add_parser("report", help=f"regenerate {paths.RESULTS_DOC} from results/")
    report_p.add_argument(
        "plans",
        nargs="*",
        help="plans (default: every experiments/*.toml; some only: the document says so)",
    )
    args = parser.parse_args(argv)
    caller = os.getcwd()

    def from_caller(path):  # a plan named from the caller's folder, else from the repository
        here = os.path.join(caller, path)
        return os.path.relpath(here, paths.REPO) if os.path.exists(here) else path

    if getattr(args, "runner", None):
        args.runner = os.path.abspath(os.path.join(caller, args.runner))
        if not os.path.isdir(args.runner):
            parser.error(f"no runner folder {args.runner}")
    if getattr(args, "plan", None):
        args.plan = from_caller(args.plan)
    if getattr(args, "plans", None):
        args.plans = [from_caller(p) for p in args.plans]
    os.chdir(paths.REPO)
    try:
        if args.command == "run":
            if args.jobs < 1:
                parser.error(f"--jobs must be >= 1, got {args.jobs}")
            # as given from the caller's folder, recorded relative to the repository
            data_dir = args.data_dir and os.path.relpath(
                os.path.join(caller, args.data_dir), paths.REPO
            )
            if data_dir and not os.path.isdir(data_dir):
                parser.error(f"--data_dir={args.data_dir}: no such folder")
            failed = runner.run_plan(
                args.plan, args.cells, args.seeds, args.jobs, data_dir=data_dir, until=args.until
            )
            return 1 if failed else 0
        if args.command == "verify":
            cell, _, name = args.run.partition("/")
            if args.once_per_machine and verify.verified_here(args.plan, cell, name):
                print(f"{args.run} of {args.plan} was already verified on this machine kind.")
                return 0
            result = verify.verify(args.plan, cell, name)
            # a difference on the machine kind that made the run breaks determinism
            return 1 if result["same_machine_kind"] and not result["identical"] else 0
        if args.command == "calibrate":
            from tf_introspect.lab import calibrate

            print(f"{calibrate.calibrate(args.plan)} run(s) calibrated.")
            return 0
        if args.command == "park":
            if args.max_mb <= 0:
                parser.error(f"--max_mb must be > 0, got {args.max_mb:g}")
            print(f"{parking.park(args.runner, args.max_mb)} run(s) parked in {parking.PARKED}/.")
            return 0
        if args.command == "unpark":
            print(f"{parking.unpark(args.runner)} parked run(s) put into {args.runner}.")
            return 0
        if args.command == "status":
            if args.runner:  # its results/, runs/ and parked/; this checkout's plans
                paths.ROOT = args.runner
            if len(args.plans) == 1:
                print("\n".join(status.status(args.plans[0])))
            else:
                print("\n".join(status.status_all(args.plans or plans.list_plans())))
            return 0
        from tf_introspect.lab import results_doc  # scipy: only for the report

        every = plans.list_plans()
        chosen = args.plans or every
        results_doc.write(chosen, partial=set(chosen) != set(every))
        print(f"wrote {paths.RESULTS_DOC}")
        return 0
    except PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
