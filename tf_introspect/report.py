"""Compare finished runs: ``python -m tf_introspect.report WORKDIR [WORKDIR ...]``.

Reads each run's ``metrics.json`` and prints one row per run: method, model, data set, epochs,
test accuracy and error, wall time. A work folder without ``metrics.json`` is listed as
unfinished; a folder that does not exist is an error (exit status 2, naming it).
"""

import argparse
import json
import os
import sys


def load(workdir):
    path = os.path.join(workdir, "metrics.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def max_test_accuracy(metrics):
    """The maximum over epochs of the test accuracy (test-selected, optimistic) from a
    ``metrics.json`` of either schema (version 1 named it ``best_test_accuracy``); ``None``
    where the test set was not evaluated every epoch (version 1 with a validation split)."""
    if metrics.get("schema_version", 1) >= 2:
        return metrics.get("max_test_accuracy")
    return metrics.get("best_test_accuracy")


def history(history_csv):
    """``{epoch: row}`` of a run's CSVLogger file (``history.csv``): every epoch, also those
    of an interrupted and resumed run; a re-run epoch counts once, its last row."""
    import csv
    with open(history_csv) as f:
        return {int(row["epoch"]): row for row in csv.DictReader(f)}


def finished(workdir, cfg):
    """The metrics of a finished run in ``workdir`` (None if unfinished). Raises
    ``ConfigError`` when it was a different run: every setting that decides the result
    (``flags.result_settings``) must match ``cfg``'s."""
    from tf_introspect.flags import ConfigError, result_settings, settings_differences
    metrics = load(workdir)
    if metrics is None:
        return None
    wrong = settings_differences(result_settings(metrics["flags"]), result_settings(cfg))
    if wrong:
        raise ConfigError(f"{workdir} holds a finished run with "
                          f"{ {k: old for k, (old, _) in wrong.items()} }, not "
                          f"{ {k: new for k, (_, new) in wrong.items()} }; use another "
                          "work folder (or --overwrite for the main run).")
    # the run's own files where the folder is now (it may have been moved or copied since)
    return {**metrics, **{key: os.path.join(workdir, os.path.basename(metrics[key]))
                          for key in ("model_path", "peer_path") if metrics.get(key)}}


def table(workdirs):
    rows = [f"{'run':32s} {'method':10s} {'model':9s} {'dataset':13s} {'epochs':>6s} "
            f"{'test acc':>9s} {'error %':>8s} {'time s':>8s}"]
    for workdir in workdirs:
        m = load(workdir)
        if m is None:
            rows.append(f"{workdir:32s} unfinished (no metrics.json)")
            continue
        rows.append(f"{workdir:32s} {m['method']:10s} {m['model']:9s} {m['dataset']:13s} "
                    f"{m['epochs']:6d} {m['test_accuracy']:9.4f} {100 * m['test_error']:8.2f} "
                    f"{m['wall_time_s']:8.1f}")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf_introspect.report",
                                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("workdirs", nargs="+", metavar="WORKDIR",
                        help="a run's work folder (its --workdir)")
    args = parser.parse_args(argv)
    for workdir in args.workdirs:
        if not os.path.isdir(workdir):
            parser.error(f"{workdir}: no such folder" if not os.path.exists(workdir) else
                         f"{workdir} is a file; give a run's work folder (its --workdir)")
    print(table(args.workdirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
