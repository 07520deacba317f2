"""DKPP: dark knowledge with permuted predictions (Furlanello et al. 2018; paper section 3).

KD, except that the teacher's tempered non-argmax probabilities are shuffled per sample, which
removes the class-similarity information but keeps the responses of non-ground-truth classes
and the teacher's confidence (its argmax keeps its probability). The permuted distribution
``q'`` is handed to the KD loss as logits ``T log q'``, whose tempered softmax is exactly ``q'``.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect import targets
from tf_introspect.methods.kd import KnowledgeDistillation


class DarkKnowledgePermuted(KnowledgeDistillation):
    """KD on per-sample permuted non-argmax teacher probabilities."""

    def __init__(
        self, model: keras.Model, teacher: keras.Model, seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(model, teacher, **kwargs)
        self.seed = seed

    def soft_teacher_logits(self, teacher_logits: tf.Tensor) -> tf.Tensor:
        probs = tf.nn.softmax(teacher_logits / self.temperature)
        top = tf.one_hot(tf.argmax(probs, axis=-1), tf.shape(probs)[-1], dtype=probs.dtype)
        permuted = targets.permute_non_target(probs, top, self.step_seed(self.seed))
        return self.temperature * tf.math.log(tf.maximum(permuted, 1e-30))
