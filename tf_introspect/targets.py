"""Soft targets from explanations: paper Eq. 6, its LE-Permut ablation (section 5.4.1) and the
LE-Uniform control (:func:`uniform_targets`).

For sample ``i`` with ground-truth class ``c`` and explanations ``e_i^1..e_i^C``::

    q_i^c = alpha
    q_i^k = (1 - alpha) * (cos(e_i^k, e_i^c) + 1) / sum_{m != c} (cos(e_i^m, e_i^c) + 1),  k != c

with the cosine similarity taken between flattened explanations. The ``+ 1`` keeps every share
non-negative. Beyond the paper, a similarity temperature ``T`` shares the ``1 - alpha`` mass in
proportion to ``exp(cos(e_i^k, e_i^c) / T)`` instead (a softmax over the other classes), so
that a small ``T`` turns cosines a few hundredths apart into a real ranking (Eq. 6's
``cos + 1`` moves ``q`` very little: issue 20). A zero explanation has cosine 0 with
everything (not NaN); if every share is zero (only possible, with Eq. 6, when all other
explanations point exactly opposite to the ground truth's), the
``1 - alpha`` mass is split uniformly.
"""

import tensorflow as tf


def check_alpha(alpha: float) -> None:
    """Eq. 6's ground-truth mass must lie strictly between 0 and 1."""
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")


def check_temperature(temperature: float | None) -> None:
    """A similarity temperature is ``None`` (Eq. 6) or a positive number."""
    if temperature is not None and not float(temperature) > 0.0:
        raise ValueError(
            f"similarity temperature must be > 0 (or None for Eq. 6), got {temperature!r}."
        )


def cosine_to_ground_truth(explanations: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """``cos(e_i^k, e_i^{y_i})`` for every class ``k``: shape ``[batch, classes]``.

    Args:
      explanations: ``[batch, classes, ...]``.
      labels: integer class ids ``[batch]`` or one-hot ``[batch, classes]``.
    """
    return _cosine_to_ground_truth(*_flatten_and_onehot(explanations, labels))


def _unit(flat):
    """Rows of ``flat [b, c, d]`` scaled to unit norm; all-zero rows stay zero (no NaN)."""
    return tf.math.divide_no_nan(flat, tf.norm(flat, axis=-1, keepdims=True))


def _cosine_to_ground_truth(flat, onehot):
    unit = _unit(flat)
    unit_gt = tf.einsum("bkd,bk->bd", unit, onehot)
    return tf.einsum("bkd,bd->bk", unit, unit_gt)


def class_similarity(explanations: tf.Tensor) -> tf.Tensor:
    """Cosine similarity between every pair of class explanations: ``[batch, classes, classes]``.

    Averaged over a data set this is the class-similarity picture of paper Figure 2.
    """
    unit = _unit(_flatten(explanations))
    return tf.einsum("bkd,bmd->bkm", unit, unit)


def explanation_targets(
    explanations: tf.Tensor,
    labels: tf.Tensor,
    alpha: float = 0.9,
    permute: bool = False,
    seed: int | tf.Tensor | None = None,
    temperature: float | None = None,
) -> tf.Tensor:
    """Soft targets ``q`` of paper Eq. 6, shape ``[batch, classes]``, rows summing to 1.

    Args:
      explanations: ``[batch, classes, ...]`` from :mod:`tf_introspect.explainers`.
      labels: integer class ids ``[batch]`` or one-hot ``[batch, classes]``.
      alpha: mass of the ground-truth class, in (0, 1).
      permute: LE-Permut ablation (paper 5.4.1): the non-ground-truth entries of each ``q_i``
        are shuffled independently per sample; the ground truth keeps ``alpha``.
      seed: for ``permute``: ``None`` (global RNG), an int, or a shape-``[2]`` int tensor for
        stateless sampling (a training step passes a fresh one every step).
      temperature: ``None`` (default): Eq. 6's ``cos + 1`` shares; ``T > 0``: shares
        ``exp(cos / T)`` (not in the paper).
    """
    check_alpha(alpha)
    check_temperature(temperature)
    flat, onehot = _flatten_and_onehot(explanations, labels)
    cos = _cosine_to_ground_truth(flat, onehot)
    if temperature is None:
        share = (cos + 1.0) * (1.0 - onehot)
    else:  # exp((cos - 1) / T): the same proportions as exp(cos / T), never overflowing
        share = tf.exp((cos - 1.0) / temperature) * (1.0 - onehot)
    total = tf.reduce_sum(share, axis=-1, keepdims=True)
    num_classes = tf.cast(tf.shape(onehot)[-1], onehot.dtype)
    uniform = (1.0 - onehot) / (num_classes - 1.0)
    rest = tf.where(total > 0, tf.math.divide_no_nan(share, total), uniform)
    if permute:
        rest = permute_non_target(rest, onehot, seed)
    return alpha * onehot + (1.0 - alpha) * rest


def uniform_targets(
    labels: tf.Tensor,
    num_classes: int | tf.Tensor,
    alpha: float = 0.9,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """``q[gt] = alpha`` and ``(1 - alpha) / (K - 1)`` on each of the other ``K - 1`` classes:
    Eq. 6 with every cosine equal (LE-Uniform's targets; label smoothing at ground-truth mass
    ``alpha``). ``labels``: integer ids ``[batch]``; returns ``[batch, K]``."""
    check_alpha(alpha)
    onehot = tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=dtype)
    rest = (1.0 - onehot) / (tf.cast(num_classes, dtype) - 1.0)
    return alpha * onehot + (1.0 - alpha) * rest


def permute_non_target(
    values: tf.Tensor, onehot: tf.Tensor, seed: int | tf.Tensor | None = None
) -> tf.Tensor:
    """Shuffle, per row, the entries of ``values`` outside the one-hot position.

    The one-hot position keeps its value. Vectorised: the non-target column indices of each row
    are listed (``argsort`` of the one-hot row, stable), reordered by ``argsort`` of random
    keys, and the values scattered back through a one-hot matrix.
    """
    num_classes = tf.shape(onehot)[-1]
    batch = tf.shape(onehot)[0]
    others = tf.argsort(onehot, axis=-1, stable=True)[:, :-1]  # [b, c-1] non-gt ids
    kept = tf.gather(values, others, batch_dims=1)
    keys_shape = tf.stack([batch, num_classes - 1])
    if seed is None:
        keys = tf.random.uniform(keys_shape)
    else:
        if isinstance(seed, int):
            seed = tf.constant([seed, 0], tf.int64)
        keys = tf.random.stateless_uniform(keys_shape, seed=seed)
    shuffled = tf.gather(kept, tf.argsort(keys, axis=-1), batch_dims=1)
    placed = tf.einsum("bj,bjk->bk", shuffled, tf.one_hot(others, num_classes, dtype=values.dtype))
    return placed + values * onehot


def _flatten(explanations):
    explanations = tf.convert_to_tensor(explanations)
    if not explanations.dtype.is_floating:
        explanations = tf.cast(explanations, tf.float32)
    shape = tf.shape(explanations)
    return tf.reshape(explanations, tf.concat([shape[:2], [-1]], axis=0))


def _flatten_and_onehot(explanations, labels):
    flat = _flatten(explanations)
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 2 and labels.shape[-1] == 1:  # Keras-style [batch, 1] ids
        labels = labels[:, 0]
    if labels.shape.rank == 2:
        onehot = tf.cast(labels, flat.dtype)
    else:
        onehot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(flat)[1], dtype=flat.dtype)
    return flat, onehot
