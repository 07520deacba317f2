"""What a method's step needs under ``tf.distribute``: whether Keras takes its multi-worker
path, and logs it can reduce there (:class:`tf_introspect.methods.base.Method`)."""

import tensorflow as tf


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    """True for a ``MultiWorkerMirroredStrategy`` of more than one worker: the condition under
    which Keras' ``reduce_per_replica`` takes its multi-worker path (the same test)."""
    extended = getattr(strategy, "extended", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(extended, "_in_multi_worker_mode", lambda: False)()
    )


def replica_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """``logs`` of one replica's ``train_step``/``test_step`` as Keras' ``fit`` can reduce them.

    In multi-worker mode Keras 3.15 reduces every returned value with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on a scalar ("Invalid reduction
    dimension 0 for input with 0 dimensions"); so there each value gets a leading axis of
    length 1, which that reduction removes again: the per-step logs are then the mean over
    the replicas of their metric results, as Keras makes them on one worker (the epoch's logs
    are read from the synchronised metrics). Elsewhere ``logs`` is returned unchanged.
    """
    if not in_multi_worker_mode(tf.distribute.get_strategy()):
        return logs
    return tf.nest.map_structure(lambda value: tf.expand_dims(value, 0), logs)


def synchronized_logs(model, logs):
    """The logs Keras' ``fit`` (each epoch's) and ``evaluate`` return under a strategy of
    several replicas: each key of ``logs`` read from ``model``'s metrics across the replicas
    (their summed state), not the last step's mean over the replicas of each replica's own
    results. Keras 3.15 reads them across replicas only where a step's logs name every
    metric, which ours do not (training leaves out calibration, evaluation the training
    terms); the mean over replicas is another number where the replicas saw different
    numbers of examples (an odd last batch), and always for the expected calibration error,
    whose per-replica values do not average to the whole's (measured in the mirrored test:
    0.11 apart on 9 images). On one device, or for logs of another form, ``logs``."""
    if model.distribute_strategy.num_replicas_in_sync <= 1 or not isinstance(logs, dict):
        return logs
    synchronized = model.get_metrics_result()
    return {k: synchronized.get(k, v) for k, v in logs.items()}
