"""Compare finished runs: ``python -m tf_introspect.report WORKDIR [WORKDIR ...]``.

Reads each run's ``metrics.json`` and prints one row per run: method, model, data set, epochs,
test accuracy and error, wall time. Runs without ``metrics.json`` (unfinished) are listed as
such.
"""

import json
import os
import sys


def load(workdir):
    path = os.path.join(workdir, "metrics.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def finished(workdir, cfg):
    """The metrics of a finished run in ``workdir`` (None if unfinished). Raises
    ``ConfigError`` when it was a different run: every setting that decides the result
    (``flags.result_settings``) must match ``cfg``'s."""
    from tf_introspect.flags import ConfigError, result_settings
    metrics = load(workdir)
    if metrics is None:
        return None
    expected = result_settings(cfg)
    wrong = {k: metrics["flags"].get(k) for k, v in expected.items()
             if metrics["flags"].get(k) != v}
    if wrong:
        raise ConfigError(f"{workdir} holds a finished run with {wrong}, not "
                          f"{ {k: expected[k] for k in wrong} }; use another work folder (or "
                          "--overwrite for the main run).")
    return metrics


def table(workdirs):
    rows = [f"{'run':32s} {'method':10s} {'model':9s} {'dataset':13s} {'epochs':>6s} "
            f"{'test acc':>9s} {'error %':>8s} {'time s':>8s}"]
    for workdir in workdirs:
        m = load(workdir)
        if m is None:
            rows.append(f"{workdir:32s} (no metrics.json: unfinished or not started)")
            continue
        rows.append(f"{workdir:32s} {m['method']:10s} {m['model']:9s} {m['dataset']:13s} "
                    f"{m['epochs']:6d} {m['test_accuracy']:9.4f} {100 * m['test_error']:8.2f} "
                    f"{m['wall_time_s']:8.1f}")
    return "\n".join(rows)


def main(argv=None):
    workdirs = (argv if argv is not None else sys.argv[1:])
    if not workdirs:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    print(table(workdirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
