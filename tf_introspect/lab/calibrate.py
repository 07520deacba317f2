"""Calibration of runs finished before it was recorded (issue 20):
``python -m tf_introspect.experiments calibrate PLAN``.

Runs made since ``metrics.json`` schema 3 record their test NLL, ECE and reliability diagram
themselves (:mod:`tf_introspect.calibration`). For an older finished run whose trained model is
still in its work folder (``runs/<plan>/<cell>/<run>/model.keras``, not committed), this
evaluates that model on the run's own test set and writes ``calibration.json`` beside its
record; the model is first checked to be the recorded one (its test accuracy must equal the
record's). Runs whose model is gone stay without calibration, and the report says how many.
"""

import os

from tf_introspect import atomic
from tf_introspect.lab import paths
from tf_introspect.lab.plans import load_plan, plan_runs
from tf_introspect.lab.records import load_record, timestamp
from tf_introspect.pipeline.workdir import code_version

FILE = "calibration.json"


def evaluate_model(model_path: str, args: list) -> dict:
    """Test accuracy, NLL, ECE and reliability diagram of the classifier in ``model_path`` on
    the test set of the run whose command-line flags are ``args``."""
    import keras

    from tf_introspect import calibration
    from tf_introspect.pipeline import config, training

    cfg = config.from_args(args)
    _, _, test = training.datasets(cfg)
    model = keras.models.load_model(model_path, compile=False)
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    nll, ece = calibration.nll(), calibration.ExpectedCalibrationError()
    for x, y in test:
        logits = model(x, training=False)
        for metric in (accuracy, nll, ece):
            metric.update_state(y, logits)
    return {
        "test_accuracy": float(accuracy.result()),
        "test_nll": float(nll.result()),
        "test_ece": float(ece.result()),
        "test_reliability": training.reliability(ece.reliability()),
    }


def calibrate(path: str, log=print) -> int:
    """Write ``calibration.json`` for each finished run of plan ``path`` that lacks its
    calibration and whose model is in its work folder; returns how many were written."""
    written, missing = 0, []
    for run in plan_runs(load_plan(path)):
        record = load_record(run)
        target = os.path.join(paths.REPO, run.result_dir, FILE)
        if record is None or "test_ece" in record["metrics"] or os.path.exists(target):
            continue
        # the folder it was trained in (another plan's, for a reused run)
        folder = next(
            (a.split("=", 1)[1] for a in record["command"] if a.startswith("--workdir=")),
            run.workdir,
        )
        model_path = os.path.join(paths.REPO, folder, "model.keras")
        if not os.path.exists(model_path):
            missing.append(f"{run.cell}/{run.name}")
            continue
        scores = evaluate_model(model_path, run.args)
        recorded = record["metrics"]["test_accuracy"]
        if abs(scores["test_accuracy"] - recorded) > 1e-9:
            log(
                f"{run.cell}/{run.name}: the model in {folder} scores "
                f"{scores['test_accuracy']:.4f}, the record {recorded:.4f}: not the recorded "
                "model; left without calibration"
            )
            continue
        commit, dirty = code_version()
        atomic.write_json(
            target,
            {
                **scores,
                "source": f"{folder}/model.keras, evaluated after training",
                "git_commit": commit,
                "uncommitted_changes": dirty,
                "computed": timestamp(),
            },
        )
        written += 1
        log(
            f"{run.cell}/{run.name}: NLL {scores['test_nll']:.4f}, ECE "
            f"{100 * scores['test_ece']:.2f} % -> {os.path.relpath(target, paths.REPO)}"
        )
    if missing:
        log(
            f"{len(missing)} finished run(s) without calibration and without their model in "
            f"{paths.RUNS}/ (trained on another machine, or their work folder was cleaned): "
            + ", ".join(missing)
        )
    return written
