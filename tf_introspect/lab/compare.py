"""Compare finished runs: ``python -m tf_introspect.report WORKDIR [WORKDIR ...]``.

Reads each run's ``metrics.json`` and prints one row per run: method, model, data set, epochs,
test accuracy and error, wall time. A work folder without ``metrics.json`` is listed as
unfinished; a folder that does not exist is an error (exit status 2, naming it).
"""

import argparse
import os

from tf_introspect.pipeline import outputs


def table(workdirs):
    rows = [
        f"{'run':32s} {'method':10s} {'model':9s} {'dataset':13s} {'epochs':>6s} "
        f"{'test acc':>9s} {'error %':>8s} {'time s':>8s}"
    ]
    for workdir in workdirs:
        m = outputs.load(workdir)
        if m is None:
            rows.append(f"{workdir:32s} unfinished (no metrics.json)")
            continue
        rows.append(
            f"{workdir:32s} {m['method']:10s} {m['model']:9s} {m['dataset']:13s} "
            f"{m['epochs']:6d} {m['test_accuracy']:9.4f} {100 * m['test_error']:8.2f} "
            f"{m['wall_time_s']:8.1f}"
        )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tf_introspect.report",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument(
        "workdirs", nargs="+", metavar="WORKDIR", help="a run's work folder (its --workdir)"
    )
    args = parser.parse_args(argv)
    for workdir in args.workdirs:
        if not os.path.isdir(workdir):
            parser.error(
                f"{workdir}: no such folder"
                if not os.path.exists(workdir)
                else f"{workdir} is a file; give a run's work folder (its --workdir)"
            )
    print(table(args.workdirs))
    return 0
