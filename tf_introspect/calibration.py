"""Calibration of a classifier's probabilities: negative log-likelihood and expected calibration
error (issue 20). Soft-target methods (label smoothing, KD, LE) are judged on calibration as
much as on accuracy; the self-distillation literature (e.g. PS-KD, Kim et al. 2021) reports ECE
beside accuracy.

Both are Keras metrics over logits, so they accumulate over a whole evaluation set (weighted
by samples, not by batches) and work under ``tf.distribute``:

* :func:`nll`: the mean ``-log p_y`` (Keras' ``SparseCategoricalCrossentropy`` from logits).
* :class:`ExpectedCalibrationError`: Guo et al. (ICML 2017, "On calibration of modern neural
  networks", Eq. 3): the samples are put in ``bins`` equal-width bins of their confidence
  ``max_k p_k`` (bin ``b`` is ``((b - 1) / bins, b / bins]``), and
  ``ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|`` (0 is perfectly calibrated).

Every method's ``test_step`` updates them (:class:`tf_introspect.methods.base.Method`), so
``evaluate`` and the per-epoch validation report ``nll`` and ``ece``.
"""

import keras
import tensorflow as tf

#: the number of confidence bins of the expected calibration error (Guo et al. use 15)
ECE_BINS = 15


def nll(name: str = "nll") -> keras.metrics.Metric:
    """The mean negative log-likelihood ``-log softmax(logits)[y]`` over the samples."""
    return keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name=name)


class ExpectedCalibrationError(keras.metrics.Metric):
    """Expected calibration error of ``softmax(logits)`` against integer labels, over all the
    samples seen since the last reset (Guo et al. 2017, Eq. 3; module docstring).

    Args:
      bins: the number of equal-width confidence bins (default :data:`ECE_BINS`).
    """

    def __init__(self, bins: int = ECE_BINS, name: str = "ece", **kwargs) -> None:
        if int(bins) != bins or bins < 1:
            raise ValueError(f"bins must be a whole number >= 1, got {bins!r}.")
        super().__init__(name=name, **kwargs)
        self.bins = int(bins)
        # per bin: samples, summed confidence, correct predictions
        self.tally = self.add_variable(
            shape=(3, self.bins), initializer="zeros", name="tally", aggregation="sum"
        )

    def update_state(self, y_true, logits, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("ExpectedCalibrationError takes no sample weights.")
        probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        confidence = tf.reduce_max(probs, axis=-1)
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        correct = tf.cast(tf.equal(tf.argmax(probs, axis=-1), labels), tf.float32)
        # right-closed bins ((b - 1) / bins, b / bins]: ceil(c * bins) - 1, in [0, bins - 1]
        index = tf.clip_by_value(
            tf.cast(tf.math.ceil(confidence * self.bins), tf.int32) - 1, 0, self.bins - 1
        )
        counts = tf.stack([tf.ones_like(confidence), confidence, correct])
        sums = tf.math.unsorted_segment_sum(tf.transpose(counts), index, self.bins)
        self.tally.assign_add(tf.transpose(sums))

    def result(self):
        count, confidence, correct = tf.unstack(self.tally)
        return tf.math.divide_no_nan(
            tf.reduce_sum(tf.abs(correct - confidence)), tf.reduce_sum(count)
        )

    def reset_state(self):
        self.tally.assign(tf.zeros_like(self.tally))

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}

    def reliability(self) -> dict:
        """The reliability diagram's data: per bin, ``count``, mean ``confidence`` and
        ``accuracy`` (NumPy arrays; NaN for empty bins) and the bins' ``edges``."""
        import numpy as np

        count, confidence, correct = np.asarray(self.tally.numpy(), dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "count": count,
                "confidence": np.where(count > 0, confidence / count, np.nan),
                "accuracy": np.where(count > 0, correct / count, np.nan),
                "edges": np.linspace(0.0, 1.0, self.bins + 1),
            }
