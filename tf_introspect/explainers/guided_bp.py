"""Guided Backpropagation (Springenberg et al. 2014; paper section 2).

The gradient of ``logit_k`` w.r.t. the input, except that at every ReLU only positive
gradients pass, and only where the ReLU's input was positive:
``dL/dz = dL/dy * [dL/dy > 0] * [z > 0]`` for ``y = relu(z)``.

The user's model is not changed: while the explanation pass is traced, the model's ReLUs --
``activation="relu"`` inside ``Dense``/``Conv`` layers, ``layers.Activation("relu")`` and
plain ``layers.ReLU()`` -- are swapped for :func:`guided_relu` and put back right after, so the
training forward pass keeps the true ReLU gradient. Guided Backprop therefore runs its own pass,
in the same mode as the other explainers (in training: batch-norm moments of the batch held
constant, moving statistics untouched; ``explainers.base``). A ReLU in any other form (inside a
``Lambda``, a custom layer's ``call`` or a custom activation function) stays plain: the
explainer warns, naming the layer (:func:`unguided_relus`).
"""

import contextlib
import inspect

import keras
import tensorflow as tf
from absl import logging

from tf_introspect.explainers.base import Explainer, model_layers
from tf_introspect.explainers.patching import patched_per_thread


@tf.custom_gradient
def guided_relu(z: tf.Tensor):
    """ReLU whose backward pass is the Guided Backprop rule."""

    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(z > 0, dy.dtype)

    return tf.nn.relu(z), grad


def _is_relu_fn(fn):
    return getattr(fn, "__name__", None) == "relu"


def _is_plain_relu_layer(layer):
    return (
        isinstance(layer, keras.layers.ReLU)
        and not layer.negative_slope
        and layer.max_value is None
        and not layer.threshold
    )


def guided_relus(model: keras.Model) -> contextlib.AbstractContextManager[int]:
    """Context in which every plain ReLU of ``model`` back-propagates the Guided BP rule
    (yields the number of ReLUs swapped)."""
    changes = []
    for layer in model_layers(model):
        if _is_plain_relu_layer(layer):
            changes.append((layer, "call", lambda _: guided_relu))
        elif _is_relu_fn(getattr(layer, "activation", None)):
            changes.append((layer, "activation", lambda _: guided_relu))
    return patched_per_thread(changes)  # the replicas' threads (explainers.patching)


#: Names by which code calls a ReLU: ``tf.nn.relu``, ``keras.ops.relu``,
#: ``keras.activations.relu``, ``keras.layers.ReLU``, ``torch``-style ``F.relu``.
_RELU_NAMES = {"relu", "ReLU"}


def _referenced_names(code):
    """Global and attribute names used by ``code`` and the functions defined in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _referenced_names(const)
    return names


def _user_code(fn):
    """The code object of ``fn`` if it is a Python function defined outside Keras (a user's
    Lambda, activation or ``call``), else ``None``."""
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    module = getattr(fn, "__module__", None) or ""
    if module.split(".")[0] == "keras":
        return None
    return getattr(fn, "__code__", None)


def unguided_relus(model: keras.Model) -> list[tuple[keras.layers.Layer, str]]:
    """``[(layer, reason)]``: layers of ``model`` (and the model itself) that may apply a ReLU
    :func:`guided_relus` cannot swap, which then back-propagates the plain gradient.

    A heuristic on the code, chosen to give few false alarms: a ``Lambda`` whose function is
    ``relu`` or whose code refers to a name ``relu`` / ``ReLU`` (``tf.nn.relu``,
    ``keras.ops.relu``, ...); a layer whose ``activation`` is a user function doing so; a
    layer class defined outside Keras (a custom layer or subclassed model) whose ``call``
    refers to such a name that is not one of its tracked sub-layers (those are swapped), or
    that keeps a ReLU function in an attribute other than ``activation``. Not found: a ReLU
    written another way (``tf.maximum(x, 0)``) or reached through another name.
    """
    found = []
    for layer in [model, *model_layers(model)]:
        if isinstance(layer, keras.layers.Lambda):
            code = _user_code(layer.function)
            if _is_relu_fn(layer.function) or (code and _referenced_names(code) & _RELU_NAMES):
                found.append((layer, "a Lambda calling a ReLU"))
            continue
        activation = getattr(layer, "activation", None)
        code = None if _is_relu_fn(activation) else _user_code(activation)
        if code and _referenced_names(code) & _RELU_NAMES:
            found.append((layer, "its activation function calls a ReLU"))
            continue
        code = _user_code(type(layer).call)
        if code is None:
            continue
        names = [
            name
            for name in sorted(_referenced_names(code) & _RELU_NAMES)
            if not isinstance(getattr(layer, name, None), keras.layers.Layer)
        ]
        held = [
            key for key, value in vars(layer).items() if key != "activation" and _is_relu_fn(value)
        ]
        if names or held:
            found.append((layer, f"its call refers to {', '.join(names + held)}"))
    return found


class GuidedBackprop(Explainer):
    """Guided Backprop explanations ``[b, c, *input_shape]`` (own forward pass)."""

    name = "guided_bp"
    shares_forward = False

    def __init__(self, model: keras.Model, layer: str | None = None) -> None:
        super().__init__(model, layer)
        for unguided, reason in unguided_relus(model):
            logging.warning(
                "Guided Backprop: layer %r (%s) of model %r may apply a ReLU it cannot modify "
                "(%s); there the explanation back-propagates the plain ReLU gradient. It "
                "modifies Dense/Conv activation='relu', layers.Activation('relu') and "
                "layers.ReLU(): build the ReLU as one of those.",
                unguided.name,
                type(unguided).__name__,
                model.name,
                reason,
            )

    def forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        with guided_relus(self.model) as n_relus:
            if not n_relus:
                raise ValueError(
                    f"Model {self.model.name!r} has no ReLU for Guided Backprop to modify; "
                    "use explainer 'grad' or 'grad_input' instead."
                )
            logits = self.model(x, training=training)
        return logits, x

    def from_jacobian(self, jacobian: tf.Tensor, x: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
        return jacobian
