"""CP: confidence penalty (Pereyra et al. 2017; paper sections 2 and 5.1).

``loss = CE(p, y) - beta * H(p)``, ``H(p) = -sum_k p_k log p_k``: low-entropy (over-confident)
predictions are penalised. The paper's best ``beta`` is 0.5.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.losses import cross_entropy


class ConfidencePenalty(Method):
    """CE(p, y) minus ``beta`` times the mean entropy of the predictions."""

    terms = ("ce_hard", "entropy")

    def __init__(self, model: keras.Model, beta: float = 0.5, **kwargs: Any) -> None:
        if beta < 0:
            raise ValueError(f"cp_beta must be >= 0, got {beta!r}.")
        super().__init__(model, **kwargs)
        self.beta = float(beta)

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits = self.model(x, training=True)
        log_p = tf.nn.log_softmax(logits)
        entropy = tf.reduce_mean(-tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1))
        ce_hard = cross_entropy(y, logits)
        return logits, {
            "loss": ce_hard - self.beta * entropy,
            "ce_hard": ce_hard,
            "entropy": entropy,
        }
