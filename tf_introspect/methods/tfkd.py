"""Tf-KD: teacher-free knowledge distillation (Yuan, Tay, Li, Wang and Feng, "Revisiting
Knowledge Distillation via Label Smoothing Regularization", CVPR 2020; authors' code
``yuanli2333/Teacher-free-Knowledge-Distillation``, ``my_loss_function.py``), both forms:

* ``tfkd_self`` (:class:`TeacherFreeSelf`): the model's own CE-trained copy is the teacher
  (the command line trains it first, as for BAN)::

      L = (1 - alpha) CE(p, y) + alpha * w * T^2 * KL(softmax(t / T) || softmax(z / T))

* ``tfkd_reg`` (:class:`TeacherFreeRegularization`): a manually designed teacher, ``a`` on the
  true class and ``(1 - a) / (K - 1)`` on every other (the paper's p^d), softened as the
  authors' code does, ``softmax(p^d / T)``, with the student at temperature 1 and no T^2::

      L = (1 - alpha) CE(p, y) + alpha * w * KL(softmax(p^d / T) || softmax(z))

KL is the batch mean. The authors' code multiplies PyTorch's ``KLDivLoss()`` by a
``multiplier`` M; that loss's default reduction averages over all N x K elements, i.e. it is
the batch-mean KL divided by the class count K. Our weight ``w`` is that factor on the
batch-mean KL, ``w = M / K``: their ResNet18 settings on CIFAR-100 (K = 100), M = 50 for
Tf-KD_self and M = 100 for Tf-KD_reg, are w = 0.5 and w = 1. Keeping ``w`` rather than ``M``
keeps the strength of the KL term against the CE term for 10 classes.

Defaults (:data:`DEFAULTS`): the paper tunes alpha, T and M per architecture and publishes
them only for CIFAR-100 models (the ``experiments/**/params.json`` of the authors' code). For
each of our model families the values of the nearest one are used: ResNet18's (the paper's
headline model, the only residual network of the small ones with both forms) for the CIFAR
ResNets, and, with no MLP or plain CNN among theirs that has Tf-KD settings, also for the MLP
and the plain CNNs. The designed teacher's ``a`` is 0.99, fixed in their code.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.distill import Distillation, kd_loss
from tf_introspect.methods.losses import cross_entropy

#: form -> our model family -> the authors' settings used by default (see the module doc):
#: ResNet18 on CIFAR-100, ``base_experiments/base_resnet18/params.json`` (reg) and
#: ``kd_experiments/resnet18_distill/resnet18_self_teacher/params.json`` (self).
DEFAULTS = {
    "self": {
        family: dict(alpha=0.95, temperature=6.0, weight=0.5) for family in ("resnet", "cnn", "mlp")
    },
    "reg": {
        family: dict(alpha=0.1, temperature=20.0, weight=1.0, correct_prob=0.99)
        for family in ("resnet", "cnn", "mlp")
    },
}


def _check(alpha: float, temperature: float, weight: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}.")
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight!r}.")


class TeacherFreeSelf(Distillation):
    """Tf-KD_self: KD from a pretrained copy of the model, ``(1 - alpha) CE`` plus
    ``alpha * weight * T^2 KL``. Logged: ``distill`` (the weighted KL term), ``ce_hard``."""

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        alpha: float = 0.95,
        temperature: float = 6.0,
        weight: float = 0.5,
        **kwargs: Any,
    ) -> None:
        _check(alpha, temperature, weight)
        super().__init__(model, teacher, lam=1.0 - alpha, **kwargs)
        self.alpha, self.temperature, self.weight = float(alpha), float(temperature), float(weight)

    def distill(self, logits, teacher_logits, features, teacher_features, y) -> tf.Tensor:
        return self.alpha * self.weight * kd_loss(teacher_logits, logits, self.temperature)


def designed_teacher(y: tf.Tensor, num_classes: int, correct_prob: float, temperature: float):
    """Tf-KD_reg's target: ``softmax(p^d / T)`` of the designed distribution p^d (``a`` on
    class ``y``, ``(1 - a) / (K - 1)`` elsewhere), as the authors' code softens it."""
    one_hot = tf.one_hot(y, num_classes)
    designed = correct_prob * one_hot + (1.0 - correct_prob) / (num_classes - 1) * (1.0 - one_hot)
    return tf.nn.softmax(designed / temperature, axis=-1)


class TeacherFreeRegularization(Method):
    """Tf-KD_reg: ``(1 - alpha) CE`` plus ``alpha * weight`` times the KL from the designed
    teacher (:func:`designed_teacher`). Logged: ``distill`` (the weighted KL term),
    ``ce_hard``."""

    terms = ("distill", "ce_hard")

    def __init__(
        self,
        model: keras.Model,
        alpha: float = 0.1,
        temperature: float = 20.0,
        weight: float = 1.0,
        correct_prob: float = 0.99,
        **kwargs: Any,
    ) -> None:
        _check(alpha, temperature, weight)
        num_classes = model.output_shape[-1]
        if not 1.0 / num_classes <= correct_prob <= 1.0:
            raise ValueError(
                f"correct_prob must be in [1/{num_classes}, 1] (the designed teacher's mass "
                f"on the true class; the paper's is 0.99), got {correct_prob!r}."
            )
        super().__init__(model, **kwargs)
        self.alpha, self.temperature, self.weight = float(alpha), float(temperature), float(weight)
        self.correct_prob = float(correct_prob)

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits = self.model(x, training=True)
        target = designed_teacher(y, logits.shape[-1], self.correct_prob, self.temperature)
        log_p = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        kl = tf.reduce_mean(tf.reduce_sum(target * (tf.math.log(target) - log_p), axis=-1))
        distill = self.alpha * self.weight * kl
        ce_hard = cross_entropy(y, logits)
        return logits, {
            "loss": (1.0 - self.alpha) * ce_hard + distill,
            "distill": distill,
            "ce_hard": ce_hard,
        }
