"""The losses the methods share, each a batch mean over float32 logits (a no-op cast for our
models, whose logits layers are float32 under mixed precision too): CE(p, y) with integer
labels, CE(p, q) with target distributions (LE's Eq. 7, label smoothing, PS-KD) and the
entropy of target rows."""

import keras
import tensorflow as tf


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean CE(p, y) with integer ``labels`` and ``p = softmax(logits)`` (in float32, also for
    a model whose logits are not: a no-op for ours)."""
    return tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(
            labels, tf.cast(logits, tf.float32), from_logits=True
        )
    )


def soft_cross_entropy(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean CE(p, q) = -sum_k q_k log p_k for target distributions ``q`` (in float32: Keras
    would round float32 targets to the logits' dtype)."""
    return tf.reduce_mean(
        keras.losses.categorical_crossentropy(
            targets, tf.cast(logits, tf.float32), from_logits=True
        )
    )


def entropy(probs: tf.Tensor) -> tf.Tensor:
    """Mean entropy ``-sum_k q_k log q_k`` of rows of ``probs`` (nats)."""
    return tf.reduce_mean(-tf.reduce_sum(tf.math.xlogy(probs, probs), axis=-1))
