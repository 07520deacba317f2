"""Guided Backpropagation (Springenberg et al. 2014; paper section 2).

The gradient of ``logit_k`` w.r.t. the input, except that at every ReLU only positive
gradients pass, and only where the ReLU's input was positive:
``dL/dz = dL/dy * [dL/dy > 0] * [z > 0]`` for ``y = relu(z)``.

The user's model is not changed: while the explanation pass is traced, the model's ReLUs --
``activation="relu"`` inside ``Dense``/``Conv`` layers, ``layers.Activation("relu")`` and
plain ``layers.ReLU()`` -- are swapped for :func:`guided_relu` and put back right after, so the
training forward pass keeps the true ReLU gradient. Guided Backprop therefore runs its own pass,
in the same mode as the other explainers (in training: batch-norm moments of the batch held
constant, moving statistics untouched; ``explainers.base``).
"""

import keras
import tensorflow as tf

from tf_introspect.explainers.base import Explainer, model_layers, patched


@tf.custom_gradient
def guided_relu(z):
    """ReLU whose backward pass is the Guided Backprop rule."""
    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(z > 0, dy.dtype)
    return tf.nn.relu(z), grad


def _is_relu_fn(fn):
    return getattr(fn, "__name__", None) == "relu"


def _is_plain_relu_layer(layer):
    return (isinstance(layer, keras.layers.ReLU) and not layer.negative_slope
            and layer.max_value is None and not layer.threshold)


def guided_relus(model):
    """Context in which every plain ReLU of ``model`` back-propagates the Guided BP rule
    (yields the number of ReLUs swapped)."""
    changes = []
    for layer in model_layers(model):
        if _is_plain_relu_layer(layer):
            changes.append((layer, "call", guided_relu))
        elif _is_relu_fn(getattr(layer, "activation", None)):
            changes.append((layer, "activation", guided_relu))
    return patched(changes)


class GuidedBackprop(Explainer):
    """Guided Backprop explanations ``[b, c, *input_shape]`` (own forward pass)."""

    name = "guided_bp"
    shares_forward = False

    def forward(self, x, training):
        with guided_relus(self.model) as n_relus:
            if not n_relus:
                raise ValueError(
                    f"Model {self.model.name!r} has no ReLU for Guided Backprop to modify; "
                    "use explainer 'grad' or 'grad_input' instead.")
            logits = self.model(x, training=training)
        return logits, x

    def from_jacobian(self, jacobian, x, source):
        return jacobian
