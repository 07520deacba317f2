"""Teacher-based distillation: the shared base of KD, CWTM, DKPP, Hint, AT and FSP (paper 3, 5.3).

A :class:`Distillation` method trains ``model`` (the student) with a frozen ``teacher`` (never
updated: ``trainable = False``, run in inference mode and outside the parameters' tape).
Intermediate features of both are read from named layers through functional views built once
(our models name their stage outputs ``stage1``..``stage3``). A subclass implements
:meth:`distill` and says which layers it needs.

Total loss = ``distill(...)`` + ``lam * CE(p, y)`` + weight decay, each part logged. Hint and
FSP add a first stage on the teacher's features before it (``kd.TwoStageDistillation``).
"""

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.inputs import check_logits
from tf_introspect.methods.losses import cross_entropy
from tf_introspect.models import single_input


def feature_view(model: keras.Model, layers: Sequence[str]) -> keras.Model:
    """``model`` itself when ``layers`` is empty, else a view ``x -> [*features, logits]``."""
    if not layers:
        return model
    missing = [name for name in layers if name not in {layer.name for layer in model.layers}]
    if missing:
        raise ValueError(
            f"Model {model.name!r} has no layer(s) {missing}; this method needs "
            f"{list(layers)} (our ResNets and CNNs name their stage outputs "
            "stage1..stage3)."
        )
    outputs = [model.get_layer(name).output for name in layers] + [model.outputs[0]]
    return keras.Model(single_input(model), outputs, name=f"{model.name}_features")


def check_feature_shapes(
    model: keras.Model,
    teacher: keras.Model,
    layers: Sequence[str],
    method: str,
    channels: bool = False,
) -> None:
    """Student and teacher feature maps at ``layers`` must be 4-D with the same spatial size
    (and, with ``channels``, the same channel count); a clear error names the mismatch."""
    for name in layers:
        s, t = model.get_layer(name).output.shape, teacher.get_layer(name).output.shape
        same = len(s) == 4 and len(t) == 4 and s[1:3] == t[1:3] and (not channels or s[-1] == t[-1])
        if not same:
            need = "spatial size and channel count" if channels else "spatial size"
            raise ValueError(
                f"{method}: layer {name!r} has student output {tuple(s[1:])} and "
                f"teacher output {tuple(t[1:])}; they need 4-D maps of the same "
                f"{need}."
            )


def kd_loss(teacher_logits: tf.Tensor, student_logits: tf.Tensor, temperature: float) -> tf.Tensor:
    """Hinton et al.'s soft loss: ``T^2 KL(softmax(t/T) || softmax(s/T))``, batch mean.

    Computed by ``keras.distillation.LogitsDistillation`` with an explicit
    ``keras.losses.KLDivergence()``: with its default ``loss="kl_divergence"`` (a string,
    turned into the plain function) Keras 3.15 skips the softmax and the ``T^2`` and applies the
    KL formula to the raw tempered logits (caught by ``tests/test_baselines.py``). The KL is
    taken per sample (``reduction="none"``) and averaged here: Keras' default reduction would
    also divide by the replica count under ``tf.distribute``, which ``Method.train_step``
    already does for every loss (``tests/test_distribute.py``).
    """
    teacher_logits, student_logits = (
        tf.cast(z, tf.float32) for z in (teacher_logits, student_logits)
    )  # float32 softmax, also for a model whose logits are not (a no-op for ours)
    per_sample = keras.distillation.LogitsDistillation(
        temperature=temperature, loss=keras.losses.KLDivergence(reduction="none")
    ).compute_loss(teacher_logits, student_logits)
    return keras.ops.mean(per_sample)


class Distillation(Method):
    """Base of the teacher-based methods.

    Args:
      model: the student (inputs -> logits), trained.
      teacher: a trained classifier with the same inputs; frozen here.
      lam: weight of ``CE(p, y)``.
      feature_layers: names of the feature layers read from student and teacher (the same
        names in both).
    """

    terms = ("distill", "ce_hard")

    def __init__(
        self,
        model: keras.Model,
        teacher: keras.Model,
        lam: float = 0.1,
        feature_layers: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}.")
        if teacher is None:
            raise ValueError(f"method {type(self).__name__} needs a teacher model.")
        super().__init__(model, **kwargs)
        check_logits(teacher, "teacher")
        teacher.trainable = False
        self.teacher, self.lam = teacher, float(lam)
        self.feature_layers = tuple(feature_layers)
        self.student_view = feature_view(model, self.feature_layers)
        self.teacher_view = feature_view(teacher, self.feature_layers)

    def forward(
        self, x: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor], list[tf.Tensor]]:
        """``(logits, teacher_logits, features, teacher_features)`` of one batch: the student
        in training mode, the teacher in inference mode outside ``tape`` (constants)."""
        student = self.student_view(x, training=True)
        with tape.stop_recording():
            teacher = tf.nest.map_structure(tf.stop_gradient, self.teacher_view(x, training=False))
        if self.feature_layers:  # features in float32 (bfloat16 maps under mixed precision)
            features = [
                [tf.cast(f, tf.float32) for f in outputs[:-1]] for outputs in (student, teacher)
            ]
            return student[-1], teacher[-1], *features
        return student, teacher, [], []

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits, t_logits, s_feats, t_feats = self.forward(x, tape)
        return logits, self.distill_terms(logits, t_logits, s_feats, t_feats, y)

    def distill_terms(
        self,
        logits: tf.Tensor,
        teacher_logits: tf.Tensor,
        features: list[tf.Tensor],
        teacher_features: list[tf.Tensor],
        y: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        """``{"loss": distill + lam * ce_hard, "distill": ..., "ce_hard": ...}``."""
        distill = self.distill(logits, teacher_logits, features, teacher_features, y)
        ce_hard = cross_entropy(y, logits)
        return {"loss": distill + self.lam * ce_hard, "distill": distill, "ce_hard": ce_hard}

    def distill(
        self,
        logits: tf.Tensor,
        teacher_logits: tf.Tensor,
        features: list[tf.Tensor],
        teacher_features: list[tf.Tensor],
        y: tf.Tensor,
    ) -> tf.Tensor:
        """The method's distillation term (a scalar)."""
        raise NotImplementedError
