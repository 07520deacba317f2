"""Train one model with one method: ``python -m tf_introspect.main --method=le --model=resnet8``.

Flags are defined in :mod:`tf_introspect.flags` (paper defaults per model); flag files for the
paper's table cells are in ``flags/`` (``--flagfile=flags/table3/mlp1024_le.flags``). The run
writes into ``--workdir``: TensorBoard logs (``tb/``), a backup to resume an interrupted run
(``backup/``, simply run the same command again: it ends with the weights of an uninterrupted
run), ``history.csv``, the trained classifier ``model.keras`` and ``metrics.json`` (final and
best-over-epochs test accuracy, all settings, wall time), the last two written atomically
(:mod:`tf_introspect.atomic`). While it runs it holds ``run.lock`` (its PID): a second run on
the folder is refused. A run whose loss becomes NaN stops at once with an error naming the
epoch and step, keeps the backup of the last finished epoch and writes neither result.
"""

import contextlib
import os
import shutil
import time

from absl import app, logging
from absl import flags as absl_flags

from tf_introspect import flags as ti_flags
from tf_introspect import workdir
from tf_introspect.flags import ConfigError

ti_flags.define_flags()
absl_flags.adopt_module_key_flags(ti_flags)   # --helpshort lists them
FLAGS = ti_flags.FLAGS


#: ``metrics.json``'s layout. 2 (issue 16): ``max_test_accuracy`` / ``max_test_epoch``, the
#: maximum over epochs of the test accuracy (test-selected: optimistic), replace version 1's
#: ``best_test_accuracy`` / ``best_test_epoch``; with ``--validation_split`` the test set is
#: evaluated every epoch too and ``test_accuracy_at_best_validation`` is recorded. A file
#: without ``schema_version`` is version 1 (``report.max_test_accuracy`` reads both).
METRICS_SCHEMA = 2


def worker_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return getattr(resolver, "task_id", 0) or 0


def is_chief(strategy):
    """True unless this is a non-chief worker of a multi-worker cluster (Keras' convention:
    the task of type ``chief``, or worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and not has_chief and
                                    worker_id(strategy) == 0)


def make_strategy(name):
    """The ``--strategy``: ``mirrored`` (all local GPUs, else the CPU), ``multi_worker``
    (every process of the ``TF_CONFIG`` cluster runs this same command; BUILD.md,
    "Distribution") or the default (one device)."""
    import tensorflow as tf
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                              "(the cluster's workers and this process's task); see BUILD.md, "
                              "section Distribution.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def pretraining_epochs(cfg):
    """Epochs of a first stage that comes before ``--epochs`` and the learning-rate schedule
    (Hint's ``--hint_epochs``, FSP's ``--fsp_epochs``; 0 for every other method, LE's warm-up
    included: it is part of the paper's 50 or 160 epochs)."""
    from tf_introspect import methods
    spec = methods.entry(cfg["method"])
    return cfg[spec.warmup] if spec.pretrains else 0


def total_epochs(cfg):
    """Epochs the run trains: a first stage before the schedule, then ``--epochs``."""
    return pretraining_epochs(cfg) + cfg["epochs"]


def compile_method(method, cfg, steps_per_epoch):
    """SGD with momentum and ``--lr_schedule`` (epochs -> steps; after a first stage of
    :func:`pretraining_epochs`, counted from its end), accuracy."""
    import keras

    from tf_introspect import schedules
    lr = schedules.learning_rate(
        cfg["lr"], cfg.get("lr_schedule", "step"), steps=cfg["epochs"] * steps_per_epoch,
        boundaries=[b * steps_per_epoch for b in cfg["lr_boundaries"]], decay=cfg["lr_decay"],
        delay=pretraining_epochs(cfg) * steps_per_epoch)
    method.compile(optimizer=keras.optimizers.SGD(lr, momentum=cfg["momentum"]),
                   metrics=["accuracy"], jit_compile=ti_flags.use_jit(cfg),
                   steps_per_execution=ti_flags.steps_per_execution(cfg))


def callbacks(cfg, test):
    import keras

    from tf_introspect import methods
    from tf_introspect.callbacks import (EvaluateEachEpoch, ExplanationImages, StopOnNaN,
                                         WarmupSwitch)
    folder = cfg["workdir"]
    backup = os.path.join(folder, "backup")
    advice = (f" (the loss is read every {ti_flags.steps_per_execution(cfg)} step(s)); stopped "
              f"at once: no metrics.json or model.keras was written to {folder}, and the "
              f"backup of the last finished epoch (if any) is kept in {backup}. Lower --lr and "
              "train in a new --workdir (resuming this one continues from the backup's "
              "optimizer state).")
    # Order matters at an epoch's end: the test scores join the logs before CSVLogger and
    # TensorBoard record them, and the history row is written before the backup, so a run
    # killed between the two resumes at that epoch and writes its row again (a re-run
    # epoch's last row counts, report.history) instead of losing it. The backup keeps the
    # previous one too (double_checkpoint): a run killed while writing it resumes from the
    # epoch before; it is kept until metrics.json is written (run deletes it then): a kill
    # between the last epoch and the outputs resumes at the end instead of losing the run.
    result = [StopOnNaN(advice)]
    if cfg.get("validation_split"):   # fit evaluates the validation set; the test set too
        result.append(EvaluateEachEpoch(test, prefix="test_"))
    result += [keras.callbacks.CSVLogger(os.path.join(folder, "history.csv"), append=True),
               keras.callbacks.TensorBoard(os.path.join(folder, "tb")),
               keras.callbacks.BackupAndRestore(backup, double_checkpoint=True,
                                                delete_checkpoint=False)]
    spec = methods.entry(cfg["method"])
    if spec.warmup:   # two-stage method: its own stage-1 length (--warmup/hint/fsp_epochs)
        stage1 = cfg[spec.warmup]
        if stage1 >= cfg["epochs"] and not spec.pretrains:
            logging.warning("--%s=%d >= --epochs=%d: the whole run is stage 1 (%s).",
                            spec.warmup, stage1, cfg["epochs"],
                            "CE only" if spec.explains else
                            "no KD stage: the classifier head is never trained")
        result.append(WarmupSwitch(stage1))
    if spec.explains and cfg["explanation_samples"]:
        images, labels = next(iter(test.unbatch().batch(cfg["explanation_samples"])))
        result.append(ExplanationImages(os.path.join(folder, "tb"), images, labels))
    return result


def best_over_epochs(history_csv, key):
    """``(best value, its epoch)`` of column ``key`` of the CSVLogger file
    (:func:`tf_introspect.report.history`: a re-run epoch counts once)."""
    from tf_introspect import report
    rows = {e: float(r[key]) for e, r in report.history(history_csv).items() if r.get(key)}
    if not rows:
        return None, None
    epoch = max(rows, key=lambda e: (rows[e], -e))
    return rows[epoch], epoch


def run(cfg, shared=False):
    """Train and evaluate as ``cfg`` says; returns the metrics dict also written to disk.

    The work folder is locked (:func:`tf_introspect.workdir.claim`) from the check of the
    settings to the last output. ``shared``: a folder several runs may need at once (a
    teacher's), whose lock is waited for, then the finished run in it reused; otherwise a
    busy folder is an error."""
    with contextlib.ExitStack() as cleanup:
        return _run(cfg, cleanup, shared)


def _run(cfg, cleanup, shared=False):
    import numpy as np

    from tf_introspect import atomic, methods, report, teachers
    from tf_introspect.build import make_method
    from tf_introspect.callbacks import TrainingDiverged
    start, code = time.time(), workdir.code_version()
    done = None if cfg.get("overwrite") else report.finished(cfg["workdir"], cfg)
    if done is not None:
        print(f"{cfg['workdir']} already holds this finished run (same settings); reusing it "
              "(--overwrite trains again).")
        return done
    kind = methods.entry(cfg["method"]).teacher
    if cfg["strategy"] == "multi_worker" and (
            kind == "assistant" or (kind != "none" and not cfg.get("teacher"))):
        raise ConfigError(f"--method={cfg['method']} would train its teacher (or assistant) "
                          "inside the multi-worker run, which one cluster cannot do as a "
                          "second job; train it first (e.g. --method=ce --model=NAME, one "
                          "process or its own cluster run) and pass --teacher=PATH.keras.")
    seed_everything(cfg)
    use_precision(cfg, cleanup)
    strategy = make_strategy(cfg["strategy"])
    if not is_chief(strategy):   # multi-worker: only the chief writes the real outputs
        cfg = {**cfg, "workdir": os.path.join(cfg["workdir"], f"worker{worker_id(strategy)}")}
    with strategy.scope():
        teacher = teachers.architecture(cfg, kind)
        method = make_method(cfg, teacher)
    cleanup.enter_context(workdir.claim(cfg["workdir"], wait=shared))
    done = None if cfg.get("overwrite") else report.finished(cfg["workdir"], cfg)
    if done is not None:   # finished by the run that held the folder while this one waited
        print(f"{cfg['workdir']} was finished by another run (same settings); reusing it.")
        return done
    workdir.check_settings(cfg)
    used = teachers.prepare(cfg, kind, teacher, run)
    seed_everything(cfg)  # the same training randomness with or without a teacher
    train, validation, test = datasets(cfg)
    if cfg["strategy"] == "multi_worker":
        workdir.agree_on_backup(strategy, os.path.join(cfg["workdir"], "backup"))
    resumed = workdir.skip_finished_epochs(train, cfg["workdir"])
    if resumed:
        logging.info("Resuming from the backup in %s.", os.path.join(cfg["workdir"], "backup"))
    steps_per_epoch = int(train.cardinality())
    with strategy.scope():
        compile_method(method, cfg, steps_per_epoch)
    logging.info("Training %s with %s on %s (%d steps/epoch of %d) for %d epochs%s.",
                 cfg["model"], cfg["method"], cfg["dataset"], steps_per_epoch,
                 cfg["batch_size"], cfg["epochs"],
                 f" after {pretraining_epochs(cfg)} of stage 1" if pretraining_epochs(cfg)
                 else "")
    history = method.fit(train, epochs=total_epochs(cfg), validation_data=validation,
                         shuffle=False, callbacks=callbacks(cfg, test),  # data shuffles
                         verbose=cfg["verbose"])
    final_train = {k: float(v[-1]) for k, v in history.history.items()}
    if not final_train:   # resumed after the last epoch: its logs are in history.csv
        final_train = last_logged_epoch(os.path.join(cfg["workdir"], "history.csv"))
    bad = sorted(k for k, v in final_train.items() if not np.isfinite(v))
    if bad:   # a train loss is caught by StopOnNaN at once; this is e.g. the validation's
        raise TrainingDiverged(f"training diverged: {', '.join(bad)} not finite after epoch "
                               f"{cfg['epochs']}/{cfg['epochs']} ({final_train}); nothing was "
                               f"saved to {cfg['workdir']}. Lower --lr?")
    scores = method.evaluate(test, verbose=0, return_dict=True)
    model_path = atomic.save_model(method.model, os.path.join(cfg["workdir"], "model.keras"))
    extra = {f"{k}_path": v for k, v in used.items()}
    if isinstance(method, methods.MutualLearning):
        extra["peer_path"] = atomic.save_model(method.peer,
                                               os.path.join(cfg["workdir"], "peer.keras"))
        extra["peer_test_accuracy"] = float(scores["peer_accuracy"])
    history_csv = os.path.join(cfg["workdir"], "history.csv")
    if cfg.get("validation_split"):   # model selection on the validation set
        best, best_epoch = best_over_epochs(history_csv, "val_accuracy")
        at_best = report.history(history_csv).get(best_epoch, {}).get("test_accuracy")
        extra.update(best_validation_accuracy=best, best_validation_epoch=best_epoch,
                     validation_accuracy=final_train.get("val_accuracy"),
                     test_accuracy_at_best_validation=None if at_best is None
                     else float(at_best))
    top, top_epoch = best_over_epochs(
        history_csv, "test_accuracy" if cfg.get("validation_split") else "val_accuracy")
    extra.update(max_test_accuracy=top, max_test_epoch=top_epoch)
    metrics = {
        "schema_version": METRICS_SCHEMA, "method": cfg["method"], "model": cfg["model"], "dataset": cfg["dataset"],
        "epochs": cfg["epochs"], **({"pretraining_epochs": pretraining_epochs(cfg)}
                                    if pretraining_epochs(cfg) else {}),
        "test_accuracy": float(scores["accuracy"]),
        "test_error": 1.0 - float(scores["accuracy"]), "test_loss": float(scores["loss"]),
        "final_train": final_train, "wall_time_s": round(time.time() - start, 1),
        "resumed_after_epoch": resumed,   # > 0: wall_time_s is this last start's only
        "code_version": code,             # [git commit, uncommitted changes] of this start
        "flags": cfg, "model_path": model_path, **extra,
    }
    atomic.write_json(os.path.join(cfg["workdir"], "metrics.json"), metrics)
    shutil.rmtree(os.path.join(cfg["workdir"], "backup"), ignore_errors=True)
    return metrics


def last_logged_epoch(history_csv):
    """The logs of the last epoch in the CSVLogger file (``{}`` if there is none)."""
    from tf_introspect import report
    rows = report.history(history_csv)
    return {k: float(v) for k, v in rows[max(rows)].items() if k != "epoch" and v} if rows else {}


def datasets(cfg):
    """``(train, validation, test)`` pipelines; validation is the test set unless
    ``--validation_split`` holds training images out. Bad limits are configuration errors."""
    from tf_introspect import data
    common = dict(data_dir=cfg["data_dir"], seed=cfg["seed"], batch_size=cfg["batch_size"])
    held_out = cfg.get("validation_split") or 0
    try:
        train = data.make_dataset(cfg["dataset"], "train", limit=cfg["train_limit"],
                                  validation_split=held_out, **common)
        test = data.make_dataset(cfg["dataset"], "test", limit=cfg["test_limit"], **common)
        validation = test if not held_out else data.make_dataset(
            cfg["dataset"], "validation", limit=cfg["train_limit"], validation_split=held_out,
            **common)
    except (data.DataNotFoundError, data.DataFormatError):
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return train, validation, test


def use_precision(cfg, cleanup):
    """Keras' global dtype policy ``--precision`` for the models built by this run (its
    teacher's too), put back as it was when ``cleanup`` (an ``ExitStack``) closes."""
    import keras
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(cfg.get("precision", "float32"))
    cleanup.callback(keras.mixed_precision.set_global_policy, previous)


def seed_everything(cfg):
    """Python, NumPy and TensorFlow seeds; with ``--deterministic`` also TensorFlow's op
    determinism, except for an XLA-compiled step: Keras turns XLA off under op determinism,
    and XLA's CPU code is deterministic for a fixed program and machine (two identical XLA
    runs giving bit-identical weights is tested)."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(cfg["seed"])
    if cfg.get("deterministic") and not ti_flags.use_jit(cfg):
        tf.config.experimental.enable_op_determinism()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from tf_introspect import data
    from tf_introspect.callbacks import TrainingDiverged
    try:
        cfg = ti_flags.resolve({name: FLAGS[name].value for name in ti_flags.flag_names()})
        unused = ti_flags.unused_method_flags(
            cfg["method"], [name for name in ti_flags.flag_names() if FLAGS[name].present])
        if unused:
            own = ti_flags.METHOD_FLAGS.get(cfg["method"], ())
            logging.warning("%s: no effect with --method=%s (its own flags: %s).",
                            ", ".join(f"--{name}" for name in unused), cfg["method"],
                            ", ".join(f"--{name}" for name in own) or "none")
        metrics = run(cfg)
    except (ConfigError, data.DataNotFoundError, data.DataFormatError, TrainingDiverged) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{cfg['method']} {cfg['model']} {cfg['dataset']}: test accuracy "
          f"{metrics['test_accuracy']:.4f} (error {metrics['test_error']:.4f}) after "
          f"{cfg['epochs']} epochs, {metrics['wall_time_s']} s; wrote "
          f"{os.path.join(os.path.dirname(metrics['model_path']), 'metrics.json')}")


def parse_flags(argv):
    """absl's flag parsing with a one-line error: the bad flag or value, where it came from
    (the command line or a --flagfile) and where to look; exit status 1, no traceback."""
    try:
        return FLAGS(argv)
    except absl_flags.Error as e:
        files = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--flagfile=")]
        source = f" (command line or --flagfile={', '.join(files)})" if files else ""
        message = " ".join(str(e).split())
        raise SystemExit(f"error: {message}{source}; python -m tf_introspect.main --helpshort "
                         "lists the flags.") from None


def run_cli():
    """Console-script entry point (``tf-introspect``)."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run_cli()
