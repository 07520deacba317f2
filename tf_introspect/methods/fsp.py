"""FSP: flow of solution procedure (Yim et al. 2017; paper 5.3), two stages as published.

The FSP matrix of two feature maps ``F1 [h, w, m]`` and ``F2 [h, w, n]`` is Yim et al.'s Eq. 1,
``G[i, j] = sum_{h,w} F1[h, w, i] F2[h, w, j] / (h w)``. The paper transfers the flows between
stages 1-2 and 2-3 (``stage1``/``stage2``, ``stage2``/``stage3``), whose maps differ in size
(32x32 / 16x16 / 8x8 on CIFAR): the earlier, larger map is max-pooled to the later one's size
first, as Yim et al. do where the two sizes differ (max pooling, their section 4; kernel and
stride = the size ratio). (Later re-implementations, e.g. RepDistiller's, average-pool.)

Stage 1 trains the student on the FSP loss alone, Yim et al.'s Eq. 2 with equal weights
``lambda_i``: ``fsp_weight * sum_pairs mean_batch sum_{i,j} (G_s - G_t)^2`` (the squared L2
norm of each matrix difference; ``fsp_weight`` = 1 is the published loss). Yim et al. update
the whole student; the FSP loss does not reach the classifier head (pooling + dense after
``stage3``), so stage 1 trains every layer up to ``stage3`` and leaves the head untouched (no
weight decay on it either). Stage 2 is the main task, which the paper combines with KD:
``KD + lam * CE`` (T = 4, lam = 0.1). Stage 1 is pre-training, as in Yim et al.: the command
line runs ``--fsp_epochs`` of it (default 40: their CIFAR stage 1, 21k iterations, is 1/3 of a
full 64k ResNet training) at the constant rate ``--fsp_lr`` (1e-3) before the ``--epochs`` of
stage 2, whose learning-rate schedule counts from the start of stage 2; ``WarmupSwitch``
switches the stage. Student and teacher need the
same channel counts at these stages.
"""

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.at import STAGES
from tf_introspect.methods.distill import check_feature_shapes
from tf_introspect.methods.kd import TwoStageDistillation


def fsp_matrix(first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
    """``[batch, m, n]`` flow matrix; ``first`` is max-pooled to ``second``'s size."""
    factor = first.shape[1] // second.shape[1]
    if factor > 1:
        first = tf.nn.max_pool2d(first, factor, factor, "VALID")
    area = tf.cast(tf.shape(second)[1] * tf.shape(second)[2], first.dtype)
    return tf.einsum("bhwm,bhwn->bmn", first, second) / area


def fsp_loss(features: Sequence[tf.Tensor], teacher_features: Sequence[tf.Tensor]) -> tf.Tensor:
    """Yim et al.'s Eq. 2 over consecutive pairs, equal weights: the sum over pairs of the batch
    mean of ``||G_s - G_t||^2`` (sum over the matrix entries)."""
    pairs = zip(zip(features, features[1:]), zip(teacher_features, teacher_features[1:]))
    return tf.add_n(
        [
            tf.reduce_mean(
                tf.reduce_sum(tf.square(fsp_matrix(s1, s2) - fsp_matrix(t1, t2)), axis=[1, 2])
            )
            for (s1, s2), (t1, t2) in pairs
        ]
    )


class FlowOfSolution(TwoStageDistillation):
    """Stage 1: FSP loss between consecutive stages; stage 2: KD + lam CE.

    ``stage1_lr`` (default 1e-3, ``--fsp_lr``): stage 1's SGD learning rate, Yim et al.'s
    initial one on CIFAR (they divide it by 10 after 11k and 16k of 21k iterations; we keep
    1e-3). The published loss gives NaN at 0.1 and 1e-2 (measured on CIFAR-10: resnet8 from a
    ResNet-26); other arguments as :class:`~tf_introspect.methods.kd.TwoStageDistillation`.
    """

    terms = ("fsp", "distill", "ce_hard", "stage")
    stage1_term = "fsp"

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        fsp_weight: float = 1.0,
        stage1_lr: float | None = 1e-3,
        **kwargs: Any,
    ) -> None:
        if fsp_weight < 0:
            raise ValueError(f"fsp_weight must be >= 0, got {fsp_weight!r}.")
        super().__init__(
            model,
            teacher,
            stage1_layer=STAGES[-1],
            feature_layers=STAGES,
            stage1_lr=stage1_lr,
            **kwargs,
        )
        check_feature_shapes(model, teacher, STAGES, "fsp", channels=True)
        self.fsp_weight = float(fsp_weight)

    def stage1_loss(
        self, features: list[tf.Tensor], teacher_features: list[tf.Tensor]
    ) -> tf.Tensor:
        return self.fsp_weight * fsp_loss(features, teacher_features)
