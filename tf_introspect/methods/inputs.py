"""What a method takes (:class:`tf_introspect.methods.base.Method`): a classifier that
outputs logits, and batches of images (or of dicts holding them) with their labels."""

import keras
import tensorflow as tf


def sparse_labels(y: tf.Tensor) -> tf.Tensor:
    """Integer class ids ``[batch]`` from ids ``[batch]`` / ``[batch, 1]`` or one-hot labels."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2:
        y = y[:, 0] if y.shape[-1] == 1 else tf.argmax(y, axis=-1)
    return tf.cast(y, tf.int32)


def images(inputs):
    """The images of a batch's inputs: ``inputs`` itself, or its ``"image"`` entry when it is
    a dict (the inputs of the methods that need more than images: a same-class partner for
    CS-KD, each sample's index for PS-KD; :func:`tf_introspect.data.make_dataset`'s
    ``extras``)."""
    return inputs["image"] if isinstance(inputs, dict) else inputs


def check_logits(model: keras.Model, role: str = "model") -> None:
    """Raise ``ValueError`` if ``model``'s output is a softmax: every method computes its
    losses from logits (``from_logits=True``), and Keras only warns when given probabilities,
    so a softmax output would train as if it were logits (softmaxed twice) without a word.
    Found: an output layer (the last layer, inside a nested last model too) that is a
    ``keras.layers.Softmax`` or has ``activation`` softmax (``Dense(..., activation="softmax")``,
    ``Activation("softmax")``)."""
    layer = model
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    softmax = (
        isinstance(layer, keras.layers.Softmax)
        or getattr(getattr(layer, "activation", None), "__name__", None) == "softmax"
    )
    if softmax and layer is not model:
        raise ValueError(
            f"The {role} {model.name!r} ends in a softmax (layer {layer.name!r}), but every "
            "method here takes logits and applies the softmax in its losses (from_logits=True): "
            "remove the softmax (e.g. activation=None on the last Dense layer) so that the "
            f"{role} outputs logits; its probabilities are then softmax(outputs)."
        )
