"""A run's output files, read back: ``metrics.json`` (its layout, :data:`METRICS_SCHEMA`),
``history.csv`` (one row per epoch), and whether a work folder holds a finished run of the
same settings. Written by :mod:`tf_introspect.pipeline.training`."""

import json
import os

#: ``metrics.json``'s layout. 2 (issue 16): ``max_test_accuracy`` / ``max_test_epoch``, the
#: maximum over epochs of the test accuracy (test-selected: optimistic), replace version 1's
#: ``best_test_accuracy`` / ``best_test_epoch``; with ``--validation_split`` the test set is
#: evaluated every epoch too and ``test_accuracy_at_best_validation`` is recorded. A file
#: without ``schema_version`` is version 1 (:func:`max_test_accuracy` reads both). 3 (issue
#: 20): the calibration of the final model, ``test_nll`` and ``test_ece``
#: (:mod:`tf_introspect.calibration`), and per epoch ``val_nll``/``val_ece`` (and
#: ``test_nll``/``test_ece`` with a validation split) in ``history.csv``; LE's diagnostics in
#: ``final_train`` (:mod:`tf_introspect.diagnostics`).
METRICS_SCHEMA = 3


def load(workdir):
    """The ``metrics.json`` of the run in ``workdir`` (``None``: not finished)."""
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
    (``settings.result_settings``) must match ``cfg``'s."""
    from tf_introspect.pipeline.config import ConfigError
    from tf_introspect.pipeline.settings import result_settings, settings_differences

    metrics = load(workdir)
    if metrics is None:
        return None
    wrong = settings_differences(result_settings(metrics["flags"]), result_settings(cfg))
    if wrong:
        raise ConfigError(
            f"{workdir} holds a finished run with "
            f"{ {k: old for k, (old, _) in wrong.items()} }, not "
            f"{ {k: new for k, (_, new) in wrong.items()} }; use another "
            "work folder (or --overwrite for the main run)."
        )
    # the run's own files where the folder is now (it may have been moved or copied since)
    return {
        **metrics,
        **{
            key: os.path.join(workdir, os.path.basename(metrics[key]))
            for key in ("model_path", "peer_path")
            if metrics.get(key)
        },
    }
