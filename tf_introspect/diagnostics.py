"""Is LE's target more than label smoothing? The diagnostics of issue 20, for the targets ``q``
of paper Eq. 6 (:func:`tf_introspect.targets.explanation_targets`).

Per batch (logged per epoch by :class:`tf_introspect.methods.le.Introspective`):

* :func:`label_smoothing_kl`: ``KL(q || u)``, where ``u`` is label smoothing at the same
  ground-truth mass (``u[gt] = alpha``, ``u[k] = (1 - alpha) / (K - 1)``); 0 means q *is* label
  smoothing. Divided by ``1 - alpha`` it is the KL of q's non-ground-truth part, renormalised,
  from uniform (at most ``log(K - 1)``, 2.2 nats for 10 classes).
* :func:`top_other_agreement`: whether q's largest non-ground-truth class is the class of the
  model's own largest non-ground-truth logit: does q rank the other classes as the model does?

Per epoch (:class:`tf_introspect.callbacks.SimilarityDiagnostics`):

* :class:`ClassMeanTargets`: the class-by-class mean of q (row: ground truth) over the epoch's
  training batches, and :class:`ConfusionMatrix` of the model on the evaluation set;
  :func:`rank_correlation` of their off-diagonal entries: does q point where the model errs?
"""

import keras
import numpy as np
import tensorflow as tf


def _uniform_rest(labels, num_classes, alpha, dtype):
    onehot = tf.one_hot(labels, num_classes, dtype=dtype)
    rest = (1.0 - alpha) / tf.cast(num_classes - 1, dtype)
    return onehot * alpha + (1.0 - onehot) * rest


def label_smoothing_kl(q: tf.Tensor, labels: tf.Tensor, alpha: float) -> tf.Tensor:
    """Per sample ``KL(q || u) = sum_k q_k log(q_k / u_k)`` (nats), ``u`` label smoothing with
    ``u[gt] = alpha`` and ``(1 - alpha) / (K - 1)`` elsewhere; ``q``: ``[batch, K]`` targets
    with ``q[gt] = alpha`` (Eq. 6). ``[batch]``."""
    q = tf.cast(q, tf.float32)
    u = _uniform_rest(labels, tf.shape(q)[-1], alpha, q.dtype)
    return tf.reduce_sum(tf.math.xlogy(q, q) - tf.math.xlogy(q, u), axis=-1)


def top_other_agreement(q: tf.Tensor, logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Per sample, 1.0 where ``argmax_{k != gt} q_k == argmax_{k != gt} logits_k``, else 0.0
    (ties: the lowest class index, as ``tf.argmax``; with uniform rest targets, such as
    LE-Uniform's, the measure is then meaningless). ``[batch]``."""
    onehot = tf.one_hot(labels, tf.shape(q)[-1], on_value=True, off_value=False)
    lowest = tf.constant(-np.inf, tf.float32)
    top_q = tf.argmax(tf.where(onehot, lowest, tf.cast(q, tf.float32)), axis=-1)
    top_logit = tf.argmax(tf.where(onehot, lowest, tf.cast(logits, tf.float32)), axis=-1)
    return tf.cast(tf.equal(top_q, top_logit), tf.float32)


class _ClassMatrix(keras.metrics.Metric):
    """A ``K x K`` sum and a per-row count, accumulated until reset; ``result()`` is the total
    count (a scalar, so it could be logged); :meth:`matrix` gives the matrix.

    The sums are float64: an epoch adds thousands of float32 rows per class, and float32 sums
    of LE-Uniform's identical targets drift apart by about 1e-5 relative, enough to rank noise
    (:func:`rank_correlation`); in float64 they stay equal (exact for up to 2^29 rows)."""

    def __init__(self, num_classes: int, name: str, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.total = self.add_variable(
            shape=(self.num_classes, self.num_classes + 1),
            initializer="zeros",
            dtype="float64",
            name="total",
            aggregation="sum",
        )

    def _add(self, labels, rows, weights):
        """Add ``rows`` ``[batch, K]`` (each times its weight) to the rows of their labels."""
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        weights = tf.cast(weights, tf.float64)[:, None]
        rows = tf.concat([tf.cast(rows, tf.float64), tf.ones_like(weights)], axis=-1) * weights
        self.total.assign_add(tf.math.unsorted_segment_sum(rows, labels, self.num_classes))

    def result(self):
        return tf.cast(tf.reduce_sum(self.total[:, -1]), tf.float32)

    def reset_state(self):
        self.total.assign(tf.zeros_like(self.total))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    def counts(self) -> np.ndarray:
        """Per row (ground-truth class), the weight of the samples added."""
        return np.asarray(self.total.numpy()[:, -1], np.float64)


class ClassMeanTargets(_ClassMatrix):
    """The mean target ``q`` of the samples of each ground-truth class: row ``i`` of
    :meth:`matrix` is the mean of q over the samples labelled ``i`` (NaN for a class not seen)."""

    def __init__(self, num_classes: int, name: str = "class_mean_targets", **kwargs) -> None:
        super().__init__(num_classes, name, **kwargs)

    def update_state(self, labels, q, sample_weight=None):
        weight = 1.0 if sample_weight is None else tf.cast(sample_weight, tf.float32)
        self._add(labels, q, tf.broadcast_to(weight, tf.shape(q)[:1]))

    def matrix(self) -> np.ndarray:
        total = np.asarray(self.total.numpy()[:, :-1], np.float64)
        counts = self.counts()[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, total / counts, np.nan)


class ConfusionMatrix(_ClassMatrix):
    """Counts of (ground truth ``i``, prediction ``argmax logits = j``): :meth:`matrix`."""

    def __init__(self, num_classes: int, name: str = "confusion", **kwargs) -> None:
        super().__init__(num_classes, name, **kwargs)

    def update_state(self, labels, logits, sample_weight=None):
        predicted = tf.one_hot(tf.argmax(logits, axis=-1), self.num_classes)
        self._add(labels, predicted, tf.ones(tf.shape(predicted)[:1]))

    def matrix(self) -> np.ndarray:
        return np.asarray(self.total.numpy()[:, :-1], np.float64)


def rank_correlation(targets: np.ndarray, confusion: np.ndarray) -> float:
    """Spearman's rank correlation of the off-diagonal entries of two ``K x K`` matrices (the
    class-by-class mean of q, the confusion matrix; ties get their mean rank); NaN where it is
    undefined (either is constant off the diagonal, up to float32 rounding: uniform rest
    targets, or no errors)."""
    targets, confusion = np.asarray(targets, np.float64), np.asarray(confusion, np.float64)
    off = ~np.eye(len(targets), dtype=bool)
    a, b = targets[off], confusion[off]
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or _constant(a) or _constant(b):
        return float("nan")
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _constant(values: np.ndarray) -> bool:
    """Equal up to rounding (LE-Uniform's class means: the same share, summed in float64 by
    :class:`ClassMeanTargets`; a float32 sum would differ by about 1e-5), so their ranks would
    be noise."""
    return bool(np.ptp(values) <= 1e-5 * np.max(np.abs(values), initial=0.0))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, tied values given the mean of their ranks (as Spearman's
    correlation with ties takes them; NumPy only, so training needs no SciPy)."""
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])  # 0-based rank of each value's first
    return (first + (counts + 1) / 2.0)[inverse]
