"""tf.distribute for a run (``--strategy``): the strategy, and which process of a
multi-worker cluster writes the outputs (BUILD.md, "Distribution")."""

import os

from tf_introspect.pipeline.config import ConfigError


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
    return task_type == "chief" or (
        task_type == "worker" and not has_chief and worker_id(strategy) == 0
    )


def make_strategy(name):
    """The ``--strategy``: ``mirrored`` (all local GPUs, else the CPU), ``multi_worker``
    (every process of the ``TF_CONFIG`` cluster runs this same command; BUILD.md,
    "Distribution") or the default (one device)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable "
                "(the cluster's workers and this process's task); see BUILD.md, "
                "section Distribution."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def whole_replica_batches(train, examples, batch_size, replicas):
    """``train`` (batches of ``batch_size`` over ``examples`` examples) without its last
    batch where that batch has fewer examples than there are ``replicas``. tf.distribute
    splits a batch over the replicas as evenly as it can (measured: 2 examples for 2 replicas
    are 1 and 1, a single one is 1 and 0), so only such a batch leaves a replica no example,
    whose mean loss is NaN. Dropped with a warning (the epoch misses those few examples; the
    next epoch's shuffle draws others); otherwise, and always on one device, ``train`` as it
    is."""
    from absl import logging

    short = examples % batch_size
    if replicas <= 1 or not 0 < short < replicas:
        return train
    logging.warning(
        "The last training batch has %d example(s) for %d replicas (%d examples, batch %d): "
        "dropped each epoch, since a replica without examples has no mean loss.",
        short,
        replicas,
        examples,
        batch_size,
    )
    return train.take(examples // batch_size)


def evaluation_batch_size(examples, batch_size, replicas, split="test"):
    """The batch size to evaluate ``split``'s ``examples`` with: ``batch_size``, unless its
    last batch has fewer examples than there are ``replicas`` (a replica without examples
    stops a ResNet's batch normalization with "Incompatible shapes", and its mean loss is
    NaN; see :func:`whole_replica_batches`), then the smallest larger one whose last batch
    is whole or fills every replica. Evaluation runs in inference mode: accuracy, NLL and
    ECE are sums over examples, unchanged but for the order of the sums; ``loss`` and
    ``ce_hard`` are means of the replicas' batch means, which the last batch's size
    reweights slightly."""
    from absl import logging

    if replicas <= 1 or not 0 < examples % batch_size < replicas:
        return batch_size
    if examples < replicas:
        raise ConfigError(
            f"the {split} set has {examples} example(s), fewer than the {replicas} replicas: "
            "every replica needs one (a larger --test_limit or --validation_split)"
        )
    size = batch_size
    while 0 < examples % size < replicas:
        size += 1
    logging.warning(
        "The %s set's last batch would have %d example(s) for %d replicas (%d examples, "
        "batch %d): evaluating it in batches of %d.",
        split,
        examples % batch_size,
        replicas,
        examples,
        batch_size,
        size,
    )
    return size


def synchronize_batch_norm(model, replicas):
    """Every ``BatchNormalization`` of ``model`` ``synchronized`` with more than one replica,
    not with one (read when the step is traced): a model built elsewhere (``keras:NAME``, a
    ``PATH.keras`` file, saved by a run of either kind) trains as the registry's models do
    (:func:`tf_introspect.models.layers.batch_norm`)."""
    import keras

    from tf_introspect.explainers.base import model_layers

    for layer in model_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = replicas > 1
