"""Train one model with one method: ``python -m tf_introspect.main --method=le --model=resnet8``.

Flags are defined in :mod:`tf_introspect.flags` (paper defaults per model); flag files for the
paper's table cells are in ``flags/`` (``--flagfile=flags/table3/mlp1024_le.flags``). The run
writes into ``--workdir``: TensorBoard logs (``tb/``), a backup to resume an interrupted run
(``backup/``, simply run the same command again), ``history.csv``, the trained classifier
``model.keras`` and ``metrics.json`` (final and best-over-epochs test accuracy, all settings,
wall time), the last two written atomically. A run whose loss becomes NaN stops with an error
and writes neither.
"""

import json
import os
import shutil
import time

from absl import app, logging
from absl import flags as absl_flags

from tf_introspect import flags as ti_flags
from tf_introspect.flags import ConfigError

ti_flags.define_flags()
absl_flags.adopt_module_key_flags(ti_flags)   # --helpshort lists them
FLAGS = ti_flags.FLAGS


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
    import tensorflow as tf
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def make_model(cfg, name, **options):
    """Model ``name`` for ``cfg``'s data set (classes, input shape) and weight decay."""
    from tf_introspect import data, models
    info = data.info(cfg["dataset"])
    return models.get(name, num_classes=info.num_classes, input_shape=info.input_shape,
                      weight_decay=cfg["weight_decay"], **options)


def build(cfg, teacher=None):
    """Model and method for ``cfg`` (not compiled). Fails fast on bad combinations."""
    from tf_introspect import methods
    try:
        spec = methods.entry(cfg["method"])
        model = make_model(cfg, cfg["model"], **spec.model_options(cfg))
        return methods.build(cfg["method"], model, cfg, teacher)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def compile_method(method, cfg, steps_per_epoch):
    """SGD with momentum and the piecewise-constant schedule (epochs -> steps), accuracy."""
    import keras
    boundaries = [b * steps_per_epoch for b in cfg["lr_boundaries"]]
    lr = cfg["lr"]
    if boundaries:
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, [cfg["lr"] * cfg["lr_decay"] ** i for i in range(len(boundaries) + 1)])
    method.compile(optimizer=keras.optimizers.SGD(lr, momentum=cfg["momentum"]),
                   metrics=["accuracy"], jit_compile=ti_flags.use_jit(cfg),
                   steps_per_execution=ti_flags.steps_per_execution(cfg))


def callbacks(cfg, test):
    import keras

    from tf_introspect import methods
    from tf_introspect.callbacks import ExplanationImages, WarmupSwitch
    workdir = cfg["workdir"]
    result = [keras.callbacks.TerminateOnNaN(),
              keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup")),
              keras.callbacks.TensorBoard(os.path.join(workdir, "tb")),
              keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True)]
    spec = methods.entry(cfg["method"])
    if spec.warmup:   # two-stage method: its own stage-1 length (--warmup/hint/fsp_epochs)
        stage1 = cfg[spec.warmup]
        if stage1 >= cfg["epochs"]:
            logging.warning("--%s=%d >= --epochs=%d: the whole run is stage 1 (%s).",
                            spec.warmup, stage1, cfg["epochs"],
                            "CE only" if spec.explains else
                            "no KD stage: the classifier head is never trained")
        result.append(WarmupSwitch(stage1))
    if spec.explains and cfg["explanation_samples"]:
        images, labels = next(iter(test.unbatch().batch(cfg["explanation_samples"])))
        result.append(ExplanationImages(os.path.join(workdir, "tb"), images, labels))
    return result


def save_atomic(model, path):
    """``model.save(path)`` through a temporary file, so ``path`` is never half written."""
    tmp = path[:-len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)
    return path


def write_json_atomic(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def best_over_epochs(history_csv, key):
    """``(best value, its epoch)`` of column ``key`` of the CSVLogger file (all epochs, also
    those of an interrupted and resumed run; a re-run epoch counts once, its last row)."""
    import csv
    with open(history_csv) as f:
        rows = {int(r["epoch"]): float(r[key]) for r in csv.DictReader(f) if r.get(key)}
    if not rows:
        return None, None
    epoch = max(rows, key=lambda e: (rows[e], -e))
    return rows[epoch], epoch


def run(cfg):
    """Train and evaluate as ``cfg`` says; returns the metrics dict also written to disk."""
    import keras
    import numpy as np

    from tf_introspect import data, methods, report, teachers
    start = time.time()
    done = None if cfg.get("overwrite") else report.finished(cfg["workdir"], cfg)
    if done is not None:
        print(f"{cfg['workdir']} already holds this finished run (same settings); reusing it "
              "(--overwrite trains again).")
        return done
    if cfg.get("overwrite") and report.load(cfg["workdir"]) is not None:
        # a finished run is trained again from scratch: its history and backup must not mix in
        shutil.rmtree(os.path.join(cfg["workdir"], "backup"), ignore_errors=True)
        for name in ("history.csv", "metrics.json"):
            if os.path.exists(os.path.join(cfg["workdir"], name)):
                os.remove(os.path.join(cfg["workdir"], name))
    kind = methods.entry(cfg["method"]).teacher
    seed_everything(cfg)
    strategy = make_strategy(cfg["strategy"])
    if not is_chief(strategy):   # multi-worker: only the chief writes the real outputs
        cfg = {**cfg, "workdir": os.path.join(cfg["workdir"], f"worker{worker_id(strategy)}")}
    with strategy.scope():
        teacher = teachers.architecture(cfg, kind)
        method = build(cfg, teacher)
    if os.path.exists(cfg["workdir"]) and not os.path.isdir(cfg["workdir"]):
        raise ConfigError(f"--workdir={cfg['workdir']} is a file, not a folder; name a folder "
                          "(it is created if missing).")
    os.makedirs(cfg["workdir"], exist_ok=True)
    used = teachers.prepare(cfg, kind, teacher, run)
    seed_everything(cfg)  # the same training randomness with or without a teacher
    train, validation, test = datasets(cfg)
    steps_per_epoch = int(train.cardinality())
    with strategy.scope():
        compile_method(method, cfg, steps_per_epoch)
    logging.info("Training %s with %s on %s (%d steps/epoch of %d) for %d epochs.",
                 cfg["model"], cfg["method"], cfg["dataset"], steps_per_epoch,
                 cfg["batch_size"], cfg["epochs"])
    history = method.fit(train, epochs=cfg["epochs"], validation_data=validation,
                         shuffle=False, callbacks=callbacks(cfg, test),  # data shuffles
                         verbose=cfg["verbose"])
    final_train = {k: float(v[-1]) for k, v in history.history.items()}
    if not all(np.isfinite(v) for v in final_train.values()):
        raise TrainingDiverged(f"training diverged (non-finite loss or metric: {final_train}); "
                               f"nothing was saved to {cfg['workdir']}. Lower --lr?")
    scores = method.evaluate(test, verbose=0, return_dict=True)
    model_path = save_atomic(method.model, os.path.join(cfg["workdir"], "model.keras"))
    extra = {f"{k}_path": v for k, v in used.items()}
    if isinstance(method, methods.MutualLearning):
        extra["peer_path"] = save_atomic(method.peer, os.path.join(cfg["workdir"], "peer.keras"))
        extra["peer_test_accuracy"] = float(scores["peer_accuracy"])
    best, best_epoch = best_over_epochs(os.path.join(cfg["workdir"], "history.csv"),
                                        "val_accuracy")
    held_out = bool(cfg.get("validation_split"))
    name = "validation" if held_out else "test"
    extra.update({f"best_{name}_accuracy": best, f"best_{name}_epoch": best_epoch})
    if held_out:
        extra["validation_accuracy"] = final_train.get("val_accuracy")
    metrics = {
        "method": cfg["method"], "model": cfg["model"], "dataset": cfg["dataset"],
        "epochs": cfg["epochs"], "test_accuracy": float(scores["accuracy"]),
        "test_error": 1.0 - float(scores["accuracy"]), "test_loss": float(scores["loss"]),
        "final_train": final_train, "wall_time_s": round(time.time() - start, 1),
        "flags": cfg, "model_path": model_path, **extra,
    }
    write_json_atomic(os.path.join(cfg["workdir"], "metrics.json"), metrics)
    return metrics


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


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the run is not recorded as finished."""


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from tf_introspect import data
    try:
        cfg = ti_flags.resolve({name: FLAGS[name].value for name in ti_flags.flag_names()})
        metrics = run(cfg)
    except (ConfigError, data.DataNotFoundError, data.DataFormatError, TrainingDiverged) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{cfg['method']} {cfg['model']} {cfg['dataset']}: test accuracy "
          f"{metrics['test_accuracy']:.4f} (error {metrics['test_error']:.4f}) after "
          f"{cfg['epochs']} epochs, {metrics['wall_time_s']} s; wrote "
          f"{os.path.join(cfg['workdir'], 'metrics.json')}")


def run_cli():
    """Console-script entry point (``tf-introspect``)."""
    app.run(main)


if __name__ == "__main__":
    run_cli()
