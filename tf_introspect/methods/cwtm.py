"""CWTM and its ablations (Furlanello et al. 2018; paper Eq. 5, section 3).

Confidence Weighted by Teacher Max: each sample's CE(p, y) is weighted by the teacher's maximum
probability, normalised over the batch: ``loss = sum_i w_i CE(p_i, y_i)`` with
``w_i = q_i^max / sum_j q_j^max`` (its gradient w.r.t. the logits is Eq. 5).

* ``cwtm_permut``: the weights are shuffled inside the batch (each sample gets another's).
* ``cwtm_random``: ``q_i^max`` is replaced by a draw from U[beta, 1), beta = 0.5.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.distill import Distillation

WEIGHTINGS = ("teacher", "permut", "random")


class ConfidenceWeighted(Distillation):
    """CE weighted per sample by (permuted / random) teacher confidence, Eq. 5."""

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        weighting: str = "teacher",
        beta: float = 0.5,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(
                f"Unknown CWTM weighting {weighting!r}; valid choices: {', '.join(WEIGHTINGS)}."
            )
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"cwtm_beta must be in [0, 1), got {beta!r}.")
        kwargs.setdefault("lam", 0.0)
        super().__init__(model, teacher, **kwargs)
        self.weighting, self.beta, self.seed = weighting, float(beta), seed

    def confidences(self, teacher_logits: tf.Tensor) -> tf.Tensor:
        """``q_i^max`` of each sample (or its permuted / random replacement)."""
        q_max = tf.reduce_max(tf.nn.softmax(teacher_logits), axis=-1)
        seed = self.step_seed(self.seed)
        if self.weighting == "permut":
            order = tf.argsort(tf.random.stateless_uniform(tf.shape(q_max), seed=seed))
            return tf.gather(q_max, order)
        if self.weighting == "random":
            return tf.random.stateless_uniform(
                tf.shape(q_max), seed=seed, minval=self.beta, maxval=1.0
            )
        return q_max

    def distill(
        self,
        logits: tf.Tensor,
        teacher_logits: tf.Tensor,
        features: list[tf.Tensor],
        teacher_features: list[tf.Tensor],
        y: tf.Tensor,
    ) -> tf.Tensor:
        confidence = self.confidences(teacher_logits)
        # Eq. 5 normalises over the whole (global) batch: sum the confidences of all replicas.
        # The base divides each replica's loss by the replica count (per-replica means), so
        # this replica's share of the global sum is multiplied back by it.
        context = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        total = (
            context.all_reduce("sum", tf.reduce_sum(confidence))
            if context
            else tf.reduce_sum(confidence)
        )
        per_sample = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return replicas * tf.reduce_sum(confidence / total * per_sample)
