"""AT: activation-based attention transfer (Zagoruyko and Komodakis 2017; paper 5.3), with KD.

The attention map of a feature map ``F [h, w, c]`` is ``Q = mean_c F^2`` flattened and
L2-normalised. At each stage output (``stage1``..``stage3``, all three as in the paper) the
student's map is pulled towards the teacher's:
``AT = beta / 2 * sum_stages mean((Q_s - Q_t)^2)`` (the authors' code; beta = 1000), and, as in
the paper, combined with Hinton's KD: ``loss = KD + AT + lam * CE(p, y)``.
Student and teacher stages need the same spatial size (channels may differ).
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.distill import check_feature_shapes
from tf_introspect.methods.kd import KnowledgeDistillation

STAGES = ("stage1", "stage2", "stage3")


def attention_map(features: tf.Tensor) -> tf.Tensor:
    """``normalize(mean_c F^2)`` flattened: ``[batch, h * w]``."""
    q = tf.reduce_mean(tf.square(features), axis=-1)
    return tf.math.l2_normalize(tf.reshape(q, [tf.shape(q)[0], -1]), axis=-1)


class AttentionTransfer(KnowledgeDistillation):
    """KD plus attention transfer on the three stage outputs."""

    def __init__(
        self, model: keras.Model, teacher: keras.Model, at_beta: float = 1000.0, **kwargs: Any
    ) -> None:
        super().__init__(model, teacher, feature_layers=STAGES, **kwargs)
        check_feature_shapes(model, teacher, STAGES, "at")
        self.at_beta = float(at_beta)

    def distill(
        self,
        logits: tf.Tensor,
        teacher_logits: tf.Tensor,
        features: list[tf.Tensor],
        teacher_features: list[tf.Tensor],
        y: tf.Tensor,
    ) -> tf.Tensor:
        kd = super().distill(logits, teacher_logits, features, teacher_features, y)
        at = tf.add_n(
            [
                tf.reduce_mean(tf.square(attention_map(s) - attention_map(t)))
                for s, t in zip(features, teacher_features)
            ]
        )
        return kd + self.at_beta / 2.0 * at
