"""LS: label smoothing (Szegedy et al. 2016; paper section 2 and 5.1).

The paper's factor ``alpha`` is the ground-truth mass; the other ``1 - alpha`` is spread evenly
over the ``K - 1`` other classes: ``t = alpha * y + (1 - alpha) / (K - 1) * (1 - y)``. Keras'
``label_smoothing=eps`` gives ``t = (1 - eps) * y + eps / K``, the same targets for
``eps = K (1 - alpha) / (K - 1)`` (alpha 0.9, K 10: eps = 1/9), which is what we pass to
``keras.losses.categorical_crossentropy``. Loss: ``CE(p, t)`` plus weight decay.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.losses import cross_entropy


def keras_label_smoothing(alpha: float, num_classes: int) -> float:
    """Keras' ``label_smoothing`` for the paper's ground-truth mass ``alpha``."""
    return num_classes * (1.0 - alpha) / (num_classes - 1.0)


class LabelSmoothing(Method):
    """CE with smoothed targets; ``smoothing`` is the paper's ground-truth mass (0.9)."""

    terms = ("ce_smooth", "ce_hard")

    def __init__(self, model: keras.Model, smoothing: float = 0.9, **kwargs: Any) -> None:
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(
                f"smoothing (the ground-truth mass) must be in (0, 1], got {smoothing!r}."
            )
        num_classes = model.output_shape[-1]
        if smoothing < 1.0 / num_classes:
            raise ValueError(
                f"smoothing={smoothing!r} gives the ground truth less than the "
                f"uniform share 1/{num_classes} = {1.0 / num_classes:.3g}: it is the "
                f"ground-truth mass, in [1/{num_classes}, 1] (paper grid 0.6-0.9)."
            )
        super().__init__(model, **kwargs)
        self.smoothing = float(smoothing)

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits = self.model(x, training=True)
        num_classes = logits.shape[-1]
        eps = keras_label_smoothing(self.smoothing, num_classes)
        smooth = tf.reduce_mean(
            keras.losses.categorical_crossentropy(
                tf.one_hot(y, num_classes), logits, from_logits=True, label_smoothing=eps
            )
        )
        return logits, {"loss": smooth, "ce_smooth": smooth, "ce_hard": cross_entropy(y, logits)}
