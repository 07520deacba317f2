"""One run, from its :class:`~tf_introspect.pipeline.config.RunConfig` to its outputs:
:func:`run` (what ``python -m tf_introspect.main`` calls), and its parts that the benchmark
reuses (:func:`datasets`, :func:`compile_method`, :func:`callbacks`, :func:`seed_everything`).

The run writes into ``--workdir``: TensorBoard logs (``tb/``), a backup to resume an
interrupted run (``backup/``, simply run the same command again: it ends with the weights of an
uninterrupted run), ``history.csv``, the trained classifier ``model.keras`` and
``metrics.json`` (final and best-over-epochs test accuracy, all settings, wall time), the last
two written atomically (:mod:`tf_introspect.atomic`; read back by
:mod:`tf_introspect.pipeline.outputs`). While it runs it holds ``run.lock`` (its PID): a
second run on the folder is refused. A run whose loss becomes NaN stops at once with an error
naming the epoch and step, keeps the backup of the last finished epoch and writes neither
result.
"""

import contextlib
import dataclasses
import os
import shutil
import time

from absl import logging

from tf_introspect.pipeline import hparams, outputs, registry, workdir
from tf_introspect.pipeline.config import ConfigError, RunConfig
from tf_introspect.pipeline.distribute import (
    evaluation_batch_size,
    is_chief,
    make_strategy,
    synchronize_batch_norm,
    whole_replica_batches,
    worker_id,
)


def compile_method(method, cfg: RunConfig, steps_per_epoch: int):
    """SGD with momentum and ``--lr_schedule`` (epochs -> steps; after a first stage of
    :attr:`RunConfig.pretraining_epochs`, counted from its end), accuracy."""
    import keras

    from tf_introspect import schedules

    lr = schedules.learning_rate(
        cfg.lr,
        cfg.lr_schedule,
        steps=cfg.epochs * steps_per_epoch,
        boundaries=[b * steps_per_epoch for b in cfg.lr_boundaries],
        decay=cfg.lr_decay,
        delay=cfg.pretraining_epochs * steps_per_epoch,
    )
    method.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=cfg.momentum),
        metrics=["accuracy"],
        jit_compile=cfg.jit_compile,
        steps_per_execution=cfg.steps_per_execution,
    )


def callbacks(cfg: RunConfig, test) -> list:
    import keras

    from tf_introspect.callbacks import (
        EvaluateEachEpoch,
        ExplanationImages,
        HistoryCSV,
        SimilarityDiagnostics,
        StopOnNaN,
        WarmupSwitch,
    )

    folder = cfg.workdir
    backup = os.path.join(folder, "backup")
    advice = (
        f" (the loss is read every {cfg.steps_per_execution} step(s)); stopped "
        f"at once: no metrics.json or model.keras was written to {folder}, and the "
        f"backup of the last finished epoch (if any) is kept in {backup}. Lower --lr and "
        "train in a new --workdir (resuming this one continues from the backup's "
        "optimizer state)."
    )
    # Order matters at an epoch's end: the test scores (and then LE's diagnostics, which read
    # the last evaluation's confusion matrix) join the logs before CSVLogger and
    # TensorBoard record them, and the history row is written before the backup, so a run
    # killed between the two resumes at that epoch and writes its row again (a re-run
    # epoch's last row counts, outputs.history) instead of losing it. The backup keeps the
    # previous one too (double_checkpoint): a run killed while writing it resumes from the
    # epoch before; it is kept until metrics.json is written (run deletes it then): a kill
    # between the last epoch and the outputs resumes at the end instead of losing the run.
    result = [StopOnNaN(advice)]
    if cfg.validation_split:  # fit evaluates the validation set; the test set too
        result.append(EvaluateEachEpoch(test, prefix="test_"))
    result += [
        SimilarityDiagnostics(),
        HistoryCSV(os.path.join(folder, "history.csv")),
        keras.callbacks.TensorBoard(os.path.join(folder, "tb")),
        keras.callbacks.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False),
    ]
    spec = registry.entry(cfg.method)
    if spec.warmup:  # two-stage method: its own stage-1 length (--warmup/hint/fsp_epochs)
        stage1 = cfg.stage1_epochs
        if stage1 >= cfg.epochs and not spec.pretrains:
            logging.warning(
                "--%s=%d >= --epochs=%d: the whole run is stage 1 (%s).",
                spec.warmup,
                stage1,
                cfg.epochs,
                "CE only" if spec.explains else "no KD stage: the classifier head is never trained",
            )
        result.append(WarmupSwitch(stage1))
    if spec.explains and cfg.explanation_samples:
        images, labels = next(iter(test.unbatch().batch(cfg.explanation_samples)))
        result.append(ExplanationImages(os.path.join(folder, "tb"), images, labels))
    return result


def best_over_epochs(history_csv, key):
    """``(best value, its epoch)`` of column ``key`` of the CSVLogger file
    (:func:`tf_introspect.pipeline.outputs.history`: a re-run epoch counts once)."""
    rows = {e: float(r[key]) for e, r in outputs.history(history_csv).items() if r.get(key)}
    if not rows:
        return None, None
    epoch = max(rows, key=lambda e: (rows[e], -e))
    return rows[epoch], epoch


def run(cfg: RunConfig, shared: bool = False) -> dict:
    """Train and evaluate as ``cfg`` says; returns the metrics dict also written to disk.

    The work folder is locked (:func:`tf_introspect.pipeline.workdir.claim`) from the check of the
    settings to the last output. ``shared``: a folder several runs may need at once (a
    teacher's), whose lock is waited for, then the finished run in it reused; otherwise a
    busy folder is an error."""
    with contextlib.ExitStack() as cleanup:
        return _run(cfg, cleanup, shared)


def _run(cfg, cleanup, shared=False):
    import numpy as np

    from tf_introspect import atomic, methods
    from tf_introspect.callbacks import SimilarityDiagnostics, TrainingDiverged
    from tf_introspect.pipeline import teachers
    from tf_introspect.pipeline.build import make_method
    from tf_introspect.pipeline.data_settings import (
        check_sizes,
        check_table_rows,
        with_data_fingerprint,
    )

    start, code = time.time(), workdir.code_version()
    cfg = with_data_fingerprint(cfg)
    done = None if cfg.overwrite else outputs.finished(cfg.workdir, cfg)
    if done is not None:
        print(
            f"{cfg.workdir} already holds this finished run (same settings); reusing it "
            "(--overwrite trains again)."
        )
        return done
    kind = registry.entry(cfg.method).teacher
    if cfg.strategy == "multi_worker" and (
        kind == "assistant" or (kind != "none" and not cfg.teacher)
    ):
        raise ConfigError(
            f"--method={cfg.method} would train its teacher (or assistant) "
            "inside the multi-worker run, which one cluster cannot do as a "
            "second job; train it first (e.g. --method=ce --model=NAME, one "
            "process or its own cluster run) and pass --teacher=PATH.keras."
        )
    check_sizes(cfg)  # before --overwrite clears anything, and before a teacher trains
    seed_everything(cfg, cleanup)
    use_precision(cfg, cleanup)
    strategy = make_strategy(cfg.strategy)
    if not is_chief(strategy):  # multi-worker: only the chief writes the real outputs
        cfg = dataclasses.replace(
            cfg, workdir=os.path.join(cfg.workdir, f"worker{worker_id(strategy)}")
        )
    with strategy.scope():
        teacher = teachers.architecture(cfg, kind)
        method = make_method(cfg, teacher)
    for part in method.trained_parts:
        synchronize_batch_norm(part, strategy.num_replicas_in_sync)
    cleanup.enter_context(workdir.claim(cfg.workdir, wait=shared))
    done = None if cfg.overwrite else outputs.finished(cfg.workdir, cfg)
    if done is not None:  # finished by the run that held the folder while this one waited
        print(f"{cfg.workdir} was finished by another run (same settings); reusing it.")
        return done
    workdir.check_settings(cfg)
    used = teachers.prepare(cfg, kind, teacher, run)
    seed_everything(cfg, cleanup)  # the same training randomness with or without a teacher
    replicas = strategy.num_replicas_in_sync
    train, validation, test = datasets(cfg, extras=method.extras, replicas=replicas)
    train = whole_replica_batches(train, cfg.train_examples(), cfg.batch_size, replicas)
    if method.extras == "index":  # a table per training sample (PS-KD), sized before reading
        check_table_rows(method, cfg)
    if cfg.strategy == "multi_worker":
        workdir.agree_on_backup(strategy, os.path.join(cfg.workdir, "backup"))
    resumed = workdir.skip_finished_epochs(train, cfg.workdir)
    starts = workdir.record_start(cfg.workdir, resumed, code)
    if resumed:
        logging.info("Resuming from the backup in %s.", os.path.join(cfg.workdir, "backup"))
    steps_per_epoch = int(train.cardinality())
    with strategy.scope():
        compile_method(method, cfg, steps_per_epoch)
    logging.info(
        "Training %s with %s on %s (%d steps/epoch of %d) for %d epochs%s.",
        cfg.model,
        cfg.method,
        cfg.dataset,
        steps_per_epoch,
        cfg.batch_size,
        cfg.epochs,
        f" after {cfg.pretraining_epochs} of stage 1" if cfg.pretraining_epochs else "",
    )
    history = method.fit(
        train,
        epochs=cfg.total_epochs,
        validation_data=validation,
        shuffle=False,
        callbacks=callbacks(cfg, test),  # data shuffles
        verbose=cfg.verbose,
    )
    final_train = {k: float(v[-1]) for k, v in history.history.items()}
    if not final_train:  # resumed after the last epoch: its logs are in history.csv
        final_train = last_logged_epoch(os.path.join(cfg.workdir, "history.csv"))
    # (the rank correlation of LE's diagnostics is NaN where undefined, e.g. no errors)
    bad = sorted(
        k for k, v in final_train.items() if not np.isfinite(v) and k != SimilarityDiagnostics.KEY
    )
    if bad:  # a train loss is caught by StopOnNaN at once; this is e.g. the validation's
        raise TrainingDiverged(
            f"training diverged: {', '.join(bad)} not finite after epoch "
            f"{cfg.epochs}/{cfg.epochs} ({final_train}); nothing was "
            f"saved to {cfg.workdir}. Lower --lr?"
        )
    # strict JSON: an undefined diagnostic is null, not NaN
    final_train = {k: float(v) if np.isfinite(v) else None for k, v in final_train.items()}
    scores = method.evaluate(test, verbose=0, return_dict=True)
    model_path = atomic.save_model(method.model, os.path.join(cfg.workdir, "model.keras"))
    extra = {f"{k}_path": v for k, v in used.items()}
    if isinstance(method, methods.MutualLearning):
        extra["peer_path"] = atomic.save_model(method.peer, os.path.join(cfg.workdir, "peer.keras"))
        extra["peer_test_accuracy"] = float(scores["peer_accuracy"])
    history_csv = os.path.join(cfg.workdir, "history.csv")
    if cfg.validation_split:  # model selection on the validation set
        best, best_epoch = best_over_epochs(history_csv, "val_accuracy")
        at_best = outputs.history(history_csv).get(best_epoch, {}).get("test_accuracy")
        extra.update(
            best_validation_accuracy=best,
            best_validation_epoch=best_epoch,
            validation_accuracy=final_train.get("val_accuracy"),
            test_accuracy_at_best_validation=None if at_best is None else float(at_best),
        )
    top, top_epoch = best_over_epochs(
        history_csv, "test_accuracy" if cfg.validation_split else "val_accuracy"
    )
    extra.update(max_test_accuracy=top, max_test_epoch=top_epoch)
    metrics = {
        "schema_version": outputs.METRICS_SCHEMA,
        "method": cfg.method,
        "model": cfg.model,
        "dataset": cfg.dataset,
        **({"data": folder_facts(cfg)} if cfg.data_fingerprint else {}),
        "epochs": cfg.epochs,
        **({"pretraining_epochs": cfg.pretraining_epochs} if cfg.pretraining_epochs else {}),
        "test_accuracy": float(scores["accuracy"]),
        "test_error": 1.0 - float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "test_nll": float(scores["nll"]),
        "test_ece": float(scores["ece"]),
        "test_reliability": reliability(method.calibration["ece"].reliability()),
        "final_train": final_train,
        "wall_time_s": round(time.time() - start, 1),
        "resumed_after_epoch": resumed,  # > 0: wall_time_s is this last start's only
        "code_version": code,  # [git commit, uncommitted changes] of this start
        "starts": starts,  # every start: after which epoch, which code, which machine
        "flags": cfg.as_dict(),
        "model_path": model_path,
        **extra,
    }
    hparams.log_run(cfg, metrics)  # TensorBoard's HParams dashboard
    atomic.write_json(os.path.join(cfg.workdir, "metrics.json"), metrics)
    shutil.rmtree(os.path.join(cfg.workdir, "backup"), ignore_errors=True)
    return metrics


def folder_facts(cfg: RunConfig) -> dict:
    """What the user's own data set (a folder or a tfds set) was for this run: fingerprint,
    class names, the per-channel mean and std its images were normalised with, input shape
    (``explain`` and the figures normalise with the same)."""
    info = cfg.dataset_info()
    return {
        "fingerprint": cfg.data_fingerprint,
        "class_names": list(info.class_names),
        "mean": list(info.mean),
        "std": list(info.std),
        "input_shape": list(info.input_shape),
    }


def reliability(diagram: dict) -> dict:
    """A reliability diagram's arrays as JSON lists (``None`` for the empty bins' NaN)."""
    import math

    return {k: [float(v) if math.isfinite(v) else None for v in vs] for k, vs in diagram.items()}


def last_logged_epoch(history_csv):
    """The logs of the last epoch in the CSVLogger file (``{}`` if there is none)."""
    rows = outputs.history(history_csv)
    return {k: float(v) for k, v in rows[max(rows)].items() if k != "epoch" and v} if rows else {}


def datasets(cfg: RunConfig, extras: str | None = None, replicas: int = 1):
    """``(train, validation, test)`` pipelines; validation is the test set unless
    ``--validation_split`` holds training images out. ``extras``: what the training inputs
    carry besides the images (the method's :attr:`~tf_introspect.methods.Method.extras`);
    ``replicas``: evaluation batches leave none without examples
    (:func:`~tf_introspect.pipeline.distribute.evaluation_batch_size`). Bad limits are
    configuration errors."""
    from tf_introspect import data
    from tf_introspect.data import pipeline

    sizes = dict(data_dir=cfg.data_dir, **cfg.data_options())
    common = dict(seed=cfg.seed, batch_size=cfg.batch_size, **sizes)

    def evaluated(split, **limits):  # an evaluation split's keywords
        n = pipeline.split_size(cfg.dataset, split, **limits, **sizes) if replicas > 1 else 0
        size = evaluation_batch_size(n, cfg.batch_size, replicas, split)
        return {**common, **limits, "batch_size": size}

    augment = {"auto": None, "none": False, "crop_flip": True}[cfg.augment]
    held_out = cfg.validation_split or 0
    try:
        train = data.make_dataset(
            cfg.dataset,
            "train",
            limit=cfg.train_limit,
            validation_split=held_out,
            augment=augment,
            extras=extras,
            **common,
        )
        test = data.make_dataset(cfg.dataset, "test", **evaluated("test", limit=cfg.test_limit))
        validation = (
            test
            if not held_out
            else data.make_dataset(
                cfg.dataset,
                "validation",
                **evaluated("validation", limit=cfg.train_limit, validation_split=held_out),
            )
        )
    except (data.DataNotFoundError, data.DataFormatError):
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return train, validation, test


def use_precision(cfg: RunConfig, cleanup):
    """Keras' global dtype policy ``--precision`` for the models built by this run (its
    teacher's too), put back as it was when ``cleanup`` (an ``ExitStack``) closes."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(cfg.precision)
    cleanup.callback(keras.mixed_precision.set_global_policy, previous)


def seed_everything(cfg: RunConfig, cleanup):
    """Python, NumPy and TensorFlow seeds; with ``--deterministic`` also TensorFlow's op
    determinism, except for an XLA-compiled step: Keras turns XLA off under op determinism,
    and XLA's CPU code is deterministic for a fixed program and machine (two identical XLA
    runs giving bit-identical weights is tested). Op determinism is process-wide: it is set
    as this run needs it, on or off (so an earlier run in the same process, or a teacher's
    run inside this one, does not decide this run's compilation), and put back as it was
    when ``cleanup`` (an ``ExitStack``) closes."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # no public "off" switch

    keras.utils.set_random_seed(cfg.seed)
    wanted = bool(cfg.deterministic and not cfg.jit_compile)
    was = tf_config.is_op_determinism_enabled()
    if wanted != was:
        if wanted:
            tf.config.experimental.enable_op_determinism()
            cleanup.callback(tf_config.disable_op_determinism)
        else:
            tf_config.disable_op_determinism()
            cleanup.callback(tf.config.experimental.enable_op_determinism)
