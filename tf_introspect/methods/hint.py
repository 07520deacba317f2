"""Hint: FitNets (Romero et al. 2015; paper 5.3), two stages as published.

Stage 1 (hint-based training) trains the student's layers up to and including the guided
layer (``layer``; the teacher's hint layer has the same name: the 2nd stage, ``stage2``, as in
the paper) together with a regressor ``r`` on the hint loss alone, FitNets' Eq. 3:
``L_HT = 1/2 ||u_h(x) - r(v_g(x))||^2``, the sum of squares over the map's (h, w, c) per
sample, averaged over the batch, times ``hint_weight`` (default 1: the published loss). The
regressor is FitNets' convolutional one: a kernel of ``n_g - n_h + 1`` = 1x1 (the maps have the
same spatial size here) with the hint layer's non-linearity, a ReLU (FitNets: "u_h and r must
be the same non-linearity"; our stage outputs are post-ReLU).

Stage 2 trains the whole student with KD (FitNets' stage 2 is Hinton KD; the paper sets
``KD + lam * CE`` with T = 4, lam = 0.1 for every distillation method); the regressor is no
longer used or trained. Stage 1 is pre-training, as in FitNets: the command line runs
``--hint_epochs`` of it (default 40: FitNets stops stage 1 on a validation set; Yim et al.'s
FSP stage 1 is 1/3 of a full training) at the constant rate ``--hint_lr`` (1e-4) before the
``--epochs`` of stage 2, whose learning-rate schedule counts from the start of stage 2 (so KD's
whole schedule); ``WarmupSwitch`` switches the stage.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.distill import check_feature_shapes
from tf_introspect.methods.kd import TwoStageDistillation


def hint_loss(regressed: tf.Tensor, hint: tf.Tensor) -> tf.Tensor:
    """FitNets' ``1/2 ||hint - regressed||^2``: sum over (h, w, c), mean over the batch."""
    return 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(hint - regressed), axis=[1, 2, 3]))


class Hint(TwoStageDistillation):
    """Stage 1: hint loss through a 1x1 conv + ReLU regressor; stage 2: KD + lam CE.

    ``stage1_lr`` (default 1e-4, ``--hint_lr``): stage 1's SGD learning rate, Yim et al.'s for
    FitNets' stage 1 on CIFAR ResNets (1e-4, then 1e-5 for the last 2/7; we keep 1e-4). The
    published loss diverges at the main rate 0.1, and at 1e-2 (measured on CIFAR-10: resnet8
    from a ResNet-26); other arguments as :class:`~tf_introspect.methods.kd.TwoStageDistillation`.
    """

    terms = ("hint", "distill", "ce_hard", "stage")
    stage1_term = "hint"

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        layer: str = "stage2",
        hint_weight: float = 1.0,
        stage1_lr: float | None = 1e-4,
        **kwargs: Any,
    ) -> None:
        if hint_weight < 0:
            raise ValueError(f"hint_weight must be >= 0, got {hint_weight!r}.")
        super().__init__(
            model,
            teacher,
            stage1_layer=layer,
            feature_layers=(layer,),
            stage1_lr=stage1_lr,
            **kwargs,
        )
        check_feature_shapes(model, teacher, [layer], "hint (choose another --hint_layer)")
        s_shape = model.get_layer(layer).output.shape
        t_shape = teacher.get_layer(layer).output.shape
        self.hint_weight = float(hint_weight)
        self.adapter = keras.layers.Conv2D(t_shape[-1], 1, activation="relu", name="hint_adapter")
        self.adapter.build(s_shape)

    @property
    def trained_parts(self) -> list[keras.layers.Layer]:
        return [self.model, self.adapter]

    def stage_parts(self) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]]:
        return [self.stage1_body, self.adapter], [self.model]

    def stage1_loss(
        self, features: list[tf.Tensor], teacher_features: list[tf.Tensor]
    ) -> tf.Tensor:
        regressed = tf.cast(self.adapter(features[0]), tf.float32)  # bfloat16 if mixed
        return self.hint_weight * hint_loss(regressed, teacher_features[0])
