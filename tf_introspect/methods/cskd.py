"""CS-KD: class-wise self-knowledge distillation (Yun, Park, Lee and Shin, "Regularizing
Class-wise Predictions via Self-knowledge Distillation", CVPR 2020; authors' code
``alinlab/cs-kd``).

Every training sample ``x`` comes with a partner ``x'``, another training sample of the same
class (drawn uniformly, with replacement, by the data pipeline:
:func:`tf_introspect.data.make_dataset` with ``extras="partner"``). The model's tempered
prediction on the partner, held constant, is the target of its prediction on ``x`` (the
paper's Eq. 1-2)::

    L = CE(p(x), y) + lambda_cls * T^2 * KL(softmax(z(x') / T) || softmax(z(x) / T))

with the batch-mean KL, T = 4 and lambda_cls = 1, the paper's CIFAR setting (the authors'
``train.py`` defaults and README command). As in that code, the partners go through a second
forward pass in training mode, outside the gradient (their batch-norm batch statistics are
their own, and the moving averages are updated by both passes), and they get no loss of their
own: the loss is one-way, from partner to sample.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.distill import kd_loss
from tf_introspect.methods.losses import cross_entropy


class ClassWiseSelfDistillation(Method):
    """CS-KD: CE plus the tempered KL to a same-class partner's prediction.

    Trains on batches ``({"image": x, "partner": x'}, y)``; ``T`` is ``temperature`` and
    ``lambda_cls`` is ``weight``. Logged: ``ce_hard``, ``distill`` (the KL term before its
    weight, i.e. ``T^2 KL``) and ``regularization``.
    """

    terms = ("ce_hard", "distill")
    extras = "partner"

    def __init__(
        self, model: keras.Model, temperature: float = 4.0, weight: float = 1.0, **kwargs: Any
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        if weight < 0:
            raise ValueError(f"weight (lambda_cls) must be >= 0, got {weight!r}.")
        super().__init__(model, **kwargs)
        self.temperature, self.weight = float(temperature), float(weight)

    def compute_terms(
        self, x: dict, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        inputs = self.require_extras(x)
        logits = self.model(inputs["image"], training=True)
        with tape.stop_recording():
            partner = tf.stop_gradient(self.model(inputs["partner"], training=True))
        distill = kd_loss(partner, logits, self.temperature)
        ce_hard = cross_entropy(y, logits)
        return logits, {
            "loss": ce_hard + self.weight * distill,
            "ce_hard": ce_hard,
            "distill": distill,
        }
