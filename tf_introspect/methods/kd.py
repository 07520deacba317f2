"""KD: knowledge distillation (Hinton et al. 2015; paper Eq. 4 and 5.3), and the two-stage base
of Hint and FSP.

``loss = T^2 KL(softmax(t/T) || softmax(s/T)) + lam * CE(p, y)``, T = 4 and lam = 0.1 as in
the paper's section 5.3. With a teacher of the student's own architecture trained by CE this is
a Born-Again Network (paper 5.2): ``ban`` (lam = 0) and ``ban_l`` (lam = 0.1).

:class:`TwoStageDistillation`: FitNets (Romero et al. 2015) and FSP (Yim et al. 2017) first
train the student on a loss on the teacher's intermediate features alone (stage 1), then on the
main task (stage 2), which the paper (5.3: "all other settings follow the original papers", T =
4, lambda = 0.1 for every distillation method) makes KD + lam CE.
"""

from typing import Any

import keras
import tensorflow as tf
from absl import logging

from tf_introspect.methods.distill import Distillation, kd_loss
from tf_introspect.models import single_input


class KnowledgeDistillation(Distillation):
    """Hinton KD with temperature ``temperature``."""

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        temperature: float = 4.0,
        lam: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        super().__init__(model, teacher, lam=lam, **kwargs)
        self.temperature = float(temperature)

    def distill(
        self,
        logits: tf.Tensor,
        teacher_logits: tf.Tensor,
        features: list[tf.Tensor],
        teacher_features: list[tf.Tensor],
        y: tf.Tensor,
    ) -> tf.Tensor:
        return kd_loss(self.soft_teacher_logits(teacher_logits), logits, self.temperature)

    def soft_teacher_logits(self, teacher_logits: tf.Tensor) -> tf.Tensor:
        """Teacher logits as handed to the soft loss (DKPP changes them)."""
        return teacher_logits


class TwoStageDistillation(KnowledgeDistillation):
    """Stage 1: ``stage1_loss`` on the features; stage 2: KD + lam CE, in one traced step.

    Stage 1 trains only the student's layers up to and including ``stage1_layer`` (the
    sub-model ``stage1_body``) and the parts a subclass adds to :meth:`stage_parts` (Hint's
    regressor); stage 2 trains the whole student. Both losses are computed every step and the
    stage variable ``second_stage`` (0/1) selects one:
    ``loss = (1 - stage) * stage1_loss + stage * (KD + lam * CE)``. The base
    :class:`~tf_introspect.methods.base.Method` masks the gradients, the weight decay and the
    batch-norm statistics of what the stage does not train, and runs stage 1 at its own SGD
    learning rate ``stage1_lr`` (``None``: the optimizer's). Both originals pre-train far below
    the main task's rate (Yim et al. on CIFAR: 1e-3 for FSP, 1e-4 for FitNets, against 0.1):
    the published summed losses are in the thousands at the start and diverge at 0.1.

    ``WarmupSwitch(stage-1 epochs)`` switches the stage at an epoch without retracing; without
    it the method stays in ``second_stage`` (default ``True``: stage 2, plain KD + lam CE, as
    LE's ``introspective=True``), and :meth:`fit` warns. ``stage1_lr`` needs an SGD optimizer
    (refused otherwise, ``Method._staging``).

    Logged: ``loss``, the stage-1 term (``stage1_term``), ``distill`` (the KD term),
    ``ce_hard``, ``regularization`` and ``stage`` (fraction of the epoch's steps in stage 2).
    The stage-1 term, ``distill`` and ``ce_hard`` are logged in both stages (each is computed
    every step); only the current stage's enter ``loss``.
    """

    stage1_term = None  # name of the stage-1 loss term (a subclass sets it)

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        stage1_layer: str,
        second_stage: bool = True,
        stage1_lr: float | None = None,
        **kwargs: Any,
    ) -> None:
        if stage1_lr is not None and stage1_lr <= 0:
            raise ValueError(f"stage1_lr must be > 0 (or None), got {stage1_lr!r}.")
        super().__init__(model, teacher, **kwargs)
        self.stage1_lr = None if stage1_lr is None else float(stage1_lr)
        self.second_stage = keras.Variable(
            float(second_stage), trainable=False, dtype="float32", name="second_stage"
        )
        self.stage1_layer = stage1_layer
        self.stage1_body = keras.Model(
            single_input(model),
            model.get_layer(stage1_layer).output,
            name=f"{model.name}_to_{stage1_layer}",
        )

    def stage_parts(self) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]]:
        return [self.stage1_body], [self.model]

    def fit(self, *args: Any, **kwargs: Any) -> keras.callbacks.History:
        """Keras' ``fit``, warning when it would silently not be the two-stage method: no
        :class:`~tf_introspect.callbacks.WarmupSwitch` among the callbacks (the stage stays
        where it is for the whole fit: plain KD + lam CE in stage 2, only the stage-1 loss and
        an untrained head in stage 1), or a learning rate of 0 now with ``stage1_lr`` (stage
        1 makes no step while the optimizer's rate is 0: ``Method._staging``)."""
        from tf_introspect.callbacks import WarmupSwitch, fit_callbacks

        _, callbacks = fit_callbacks(args, kwargs)
        name = type(self).__name__
        if not any(isinstance(c, WarmupSwitch) for c in callbacks):
            second = float(self.second_stage.numpy()) > 0.5
            logging.warning(
                "%s.fit without a WarmupSwitch callback: the stage is not switched and the "
                "whole fit runs in stage %d (%s). Pass callbacks=[tf_introspect.WarmupSwitch("
                "<stage-1 epochs>)], or set second_stage yourself between fits.",
                name,
                1 + second,
                "plain KD + lam CE, no stage-1 training"
                if second
                else f"the {self.stage1_term} loss only; the classifier head is never trained",
            )
        if self.stage1_lr is not None and getattr(self, "optimizer", None) is not None:
            if float(self.optimizer.learning_rate) == 0.0:
                logging.warning(
                    "%s: the optimizer's learning rate is 0 at step %d; stage 1 makes no step "
                    "while it is (stage1_lr=%g scales the gradients by stage1_lr / "
                    "learning_rate). Start the schedule above 0.",
                    name,
                    int(self.optimizer.iterations.numpy()),
                    self.stage1_lr,
                )
        return super().fit(*args, **kwargs)

    def stage1_loss(
        self, features: list[tf.Tensor], teacher_features: list[tf.Tensor]
    ) -> tf.Tensor:
        """The stage-1 loss (a scalar) from the ``feature_layers`` outputs."""
        raise NotImplementedError

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits, t_logits, s_feats, t_feats = self.forward(x, tape)
        terms = self.distill_terms(logits, t_logits, s_feats, t_feats, y)
        first = self.stage1_loss(s_feats, t_feats)
        stage = tf.cast(self.second_stage > 0.5, logits.dtype)
        return logits, {
            **terms,
            "loss": (1.0 - stage) * first + stage * terms["loss"],
            self.stage1_term: first,
            "stage": stage,
        }
