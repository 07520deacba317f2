"""A finished run in TensorBoard's HParams dashboard (issue 21): its result-deciding settings
(:func:`tf_introspect.pipeline.settings.result_settings`) as hyper-parameters and its final
test accuracy, NLL and ECE as metrics, in ``<workdir>/tb/hparams``; so ``tensorboard
--logdir runs/`` compares runs, and a plan's cells, by their settings."""

import os

#: the final metrics shown beside the settings (``metrics.json`` keys)
METRICS = ("test_accuracy", "test_nll", "test_ece", "max_test_accuracy")


def _value(value):
    """A setting as HParams takes it: bool, int, float or str (lists and None as text)."""
    if isinstance(value, bool | int | float | str):
        return value
    return "none" if value is None else str(value)


def log_run(cfg, metrics: dict) -> str:
    """Write the run's HParams summary and final metrics; returns the folder."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    from tf_introspect.pipeline.settings import result_settings

    folder = os.path.join(cfg.workdir, "tb", "hparams")
    settings = {k: _value(v) for k, v in result_settings(cfg).items()}
    writer = tf.summary.create_file_writer(folder)
    with writer.as_default():
        hp.hparams(settings, trial_id=os.path.normpath(cfg.workdir))
        for key in METRICS:
            if metrics.get(key) is not None:
                tf.summary.scalar(key, float(metrics[key]), step=cfg.total_epochs)
    writer.close()
    return folder
