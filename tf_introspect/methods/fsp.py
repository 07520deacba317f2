"""FSP: flow of solution procedure (Yim et al. 2017; paper 5.3), with KD.

The FSP matrix of two feature maps ``F1 [h, w, m]`` and ``F2 [h, w, n]`` is
``G[i, j] = sum_{h,w} F1[h, w, i] F2[h, w, j] / (h w)``. The flows between stages 1-2 and 2-3
(``stage1``/``stage2``, ``stage2``/``stage3``) are transferred: ``FSP = fsp_weight *
sum_pairs mean((G_s - G_t)^2)``. Where the earlier map is larger it is average-pooled to the
later one's size first. As in the paper, combined with KD: ``loss = KD + FSP + lam * CE``.
Student and teacher need the same channel counts at these stages.
"""

import tensorflow as tf

from tf_introspect.methods.at import STAGES
from tf_introspect.methods.distill import check_feature_shapes
from tf_introspect.methods.kd import KnowledgeDistillation


def fsp_matrix(first, second):
    """``[batch, m, n]`` flow matrix; ``first`` is average-pooled to ``second``'s size."""
    factor = first.shape[1] // second.shape[1]
    if factor > 1:
        first = tf.nn.avg_pool2d(first, factor, factor, "VALID")
    area = tf.cast(tf.shape(second)[1] * tf.shape(second)[2], first.dtype)
    return tf.einsum("bhwm,bhwn->bmn", first, second) / area


class FlowOfSolution(KnowledgeDistillation):
    """KD plus the FSP loss between consecutive stages."""

    def __init__(self, model, teacher, fsp_weight=1.0, **kwargs):
        super().__init__(model, teacher, feature_layers=STAGES, **kwargs)
        check_feature_shapes(model, teacher, STAGES, "fsp", channels=True)
        self.fsp_weight = float(fsp_weight)

    def distill(self, logits, teacher_logits, features, teacher_features, y):
        kd = super().distill(logits, teacher_logits, features, teacher_features, y)
        fsp = tf.add_n([
            tf.reduce_mean(tf.square(fsp_matrix(s1, s2) - fsp_matrix(t1, t2)))
            for (s1, s2), (t1, t2) in zip(zip(features, features[1:]),
                                          zip(teacher_features, teacher_features[1:]))])
        return kd + self.fsp_weight * fsp
