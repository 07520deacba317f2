"""Grad-CAM (Selvaraju et al. 2017; paper sections 2 and 5).

At a convolutional layer with activation ``A`` of shape ``[h, w, channels]``:
``w_k = mean_{h,w} d logit_k / d A`` and ``e_k = ReLU(sum_channels w_k * A)``, a map of shape
``[h, w]`` at the layer's own resolution (not resized, not normalised).

The default layer is the last one with a 4-D output (dropout layers skipped), i.e. the last
convolutional feature map, as in the paper. The Jacobian only travels through the layers after
``A`` (pooling and the dense head), so explaining every class costs little next to the
forward pass. A model nested as a layer (a backbone ``Model`` inside a ``Sequential`` or
functional model) cannot be the Grad-CAM layer: a clear error says what to name instead
(:func:`_nested_model_error`).

Closed form: when ``A`` feeds straight into global average pooling and a linear dense output
layer (our ResNets), ``d logit_k / d A[h, w, n] = W[n, k] / (h w)`` for every position, so the
weights are ``W[:, k] / (h w)`` and no Jacobian is needed at all. This is detected from the
model graph and is exact (tested against the per-class loop); it saves the ``[b, c, h, w, n]``
Jacobian (the benchmark's LE / CE step time on resnet8 went from 1.087 to 1.042, BUILD.md).
"""

import keras
import tensorflow as tf

from tf_introspect.explainers.base import Explainer
from tf_introspect.models import single_input


def _four_d_layers(model):
    out = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(
            layer, (keras.layers.Dropout, keras.layers.InputLayer)
        ):
            out.append(layer.name)
    return out


def _pooled_linear_head(model, layer):
    """The Dense layer if ``layer -> GlobalAveragePooling2D -> Dense(linear)`` ends the model."""
    try:
        pool, dense = model.layers[-2], model.layers[-1]
        linear = getattr(dense.activation, "__name__", None) == "linear"
        if (
            isinstance(pool, keras.layers.GlobalAveragePooling2D)
            and not pool.keepdims
            and pool.data_format == "channels_last"
            and isinstance(dense, keras.layers.Dense)
            and linear
            and pool.input is model.get_layer(layer).output
            and dense.input is pool.output
            and model.outputs[0] is dense.output
        ):
            return dense
    except (AttributeError, ValueError, IndexError):
        pass
    return None


def _nested_model_error(model, nested, candidates):
    """Raise a clear ``ValueError`` for a Grad-CAM layer that is a model nested in ``model``
    (a ``Sequential`` or functional model holding a backbone ``Model``). Keras 3.15's
    ``nested.output`` is the nested model's own output, on its own ``Input``, so the view
    ``keras.Model(model.inputs, [nested.output, ...])`` fails with "Output with path 0 is not
    connected to inputs"; and the layers inside it are not ``model``'s to name."""
    inner = _four_d_layers(nested)
    others = [name for name in candidates if not isinstance(model.get_layer(name), keras.Model)]
    raise ValueError(
        f"Grad-CAM layer {nested.name!r} of model {model.name!r} is a nested model: its output "
        f"cannot be reached from the input of {model.name!r} (Keras: 'Output with path 0 is "
        f"not connected to inputs'), nor can the layers inside it"
        + (f" (4-D: {', '.join(inner)})" if inner else "")
        + ". "
        + (
            f"Name a 4-D layer of {model.name!r} itself with --layer / layer= "
            f"({', '.join(others)}), or build"
            if others
            else "Build"
        )
        + f" the model flat, with the layers of {nested.name!r} as its own, e.g. "
        f"keras.Model({nested.name}.input, head({nested.name}.output)); then --layer / layer= "
        f"can name any of them."
    )


class GradCam(Explainer):
    """Grad-CAM maps ``[b, c, h, w]`` at ``layer`` (a layer name; default the last 4-D one)."""

    name = "grad_cam"

    def __init__(self, model: keras.Model, layer: str | None = None) -> None:
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):
            inputs = None
        if not inputs:
            raise ValueError(
                f"grad_cam needs a functional or Sequential model with known inputs to reach "
                f"an intermediate layer; {type(model).__name__} {model.name!r} has none. Build it "
                "with keras.Input, or use explainer 'grad', 'grad_input' or 'guided_bp'."
            )
        candidates = _four_d_layers(model)
        if not candidates:
            raise ValueError(
                f"grad_cam needs a layer with a 4-D output [batch, h, w, channels], and model "
                f"{model.name!r} has none (e.g. an MLP). Use explainer 'grad', 'grad_input' or "
                "'guided_bp' instead."
            )
        if layer is None:
            layer = candidates[-1]
        elif layer not in candidates:
            raise ValueError(
                f"Unknown or non-4-D Grad-CAM layer {layer!r}; layers of model "
                f"{model.name!r} with a 4-D output: {', '.join(candidates)}."
            )
        if isinstance(model.get_layer(layer), keras.Model):
            _nested_model_error(model, model.get_layer(layer), candidates)
        super().__init__(model, layer)
        self.view = keras.Model(
            single_input(model),
            [model.get_layer(layer).output, model.outputs[0]],
            name=f"{model.name}_gradcam_view",
        )
        self.head = _pooled_linear_head(model, layer)

    @property
    def shares_forward(self) -> bool:
        """LE's step explains from its own pass only in closed form (no Jacobian in its cond;
        ``Explainer.online``): the generic Jacobian through the head runs its own pass."""
        return self.head is not None

    def explanations(
        self, tape: tf.GradientTape, logits: tf.Tensor, x: tf.Tensor, source: tf.Tensor
    ) -> tf.Tensor:
        if self.head is None:
            return super().explanations(tape, logits, x, source)
        source = tf.cast(source, tf.float32)  # a bfloat16 activation under mixed precision
        area = tf.cast(tf.shape(source)[1] * tf.shape(source)[2], source.dtype)
        weights = tf.cast(self.head.kernel, tf.float32) / area  # [channels, c]
        return tf.nn.relu(tf.einsum("nk,bhwn->bkhw", weights, source))

    def forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        activation, logits = self.view(x, training=training)
        return logits, activation

    def from_jacobian(self, jacobian: tf.Tensor, x: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
        # float32 maps under mixed precision too (a bfloat16 layer's Jacobian is bfloat16)
        jacobian, source = tf.cast(jacobian, tf.float32), tf.cast(source, tf.float32)
        weights = tf.reduce_mean(jacobian, axis=(2, 3))  # [b, c, channels]
        return tf.nn.relu(tf.einsum("bkn,bhwn->bkhw", weights, source))
