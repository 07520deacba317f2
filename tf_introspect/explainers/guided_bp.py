"""Guided Backpropagation (Springenberg et al. 2014; paper section 2).

The gradient of ``logit_k`` w.r.t. the input, except that at every ReLU only positive
gradients pass, and only where the ReLU's input was positive:
``dL/dz = dL/dy * [dL/dy > 0] * [z > 0]`` for ``y = relu(z)``.

The user's model is not changed: while the explanation pass is traced, the model's ReLUs --
``activation="relu"`` inside ``Dense``/``Conv`` layers, ``layers.Activation("relu")`` and
plain ``layers.ReLU()`` -- are swapped for :func:`guided_relu` and put back right after, so the
training forward pass keeps the true ReLU gradient.
"""

import contextlib

import keras
import tensorflow as tf

from tf_introspect.explainers.base import Explainer


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


def _layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    return list(flatten(include_self=False, recursive=True)) if flatten else list(model.layers)


@contextlib.contextmanager
def guided_relus(model):
    """Context in which every plain ReLU of ``model`` back-propagates the Guided BP rule."""
    restore = []
    try:
        for layer in _layers(model):
            if _is_plain_relu_layer(layer):
                restore.append((layer, "call", layer.__dict__.get("call")))
                object.__setattr__(layer, "call", guided_relu)
            elif _is_relu_fn(getattr(layer, "activation", None)):
                restore.append((layer, "activation", layer.activation))
                object.__setattr__(layer, "activation", guided_relu)
        yield len(restore)
    finally:
        for layer, attr, old in reversed(restore):
            if attr == "call" and old is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, attr, old)


class GuidedBackprop(Explainer):
    """Guided Backprop explanations ``[b, c, *input_shape]`` (own inference-mode pass)."""

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
