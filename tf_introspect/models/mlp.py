"""The 784-1024-1024-10 ReLU MLP of paper section 5.1 (Table 3, after Pereyra et al. 2017)."""

from collections.abc import Sequence

import keras

from tf_introspect.models.layers import dense, maybe_dropout


def mlp1024(
    num_classes: int = 10,
    input_shape: Sequence[int] | None = None,
    weight_decay: float = 0.0,
    dropout_rate: float = 0.0,
) -> keras.Model:
    """MLP ``784-1024-1024-num_classes`` with ReLU, returning logits.

    Dense layers with PyTorch's default initialisation and decay on weights and biases, as
    for every model of the registry (:mod:`tf_introspect.models.layers`).

    Images are flattened inside the model, so the same ``(28, 28, 1)`` MNIST pipeline feeds
    every model. Parameters for 10 classes: 784*1024+1024 + 1024*1024+1024 + 1024*10+10 =
    1,863,690. ``dropout_rate`` drops units after each hidden layer (paper 5.1).
    """
    input_shape = tuple(input_shape or (28, 28, 1))
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in (1, 2):
        x = dense(x, 1024, weight_decay, f"dense{i}", activation="relu")
        x = maybe_dropout(x, dropout_rate, name=f"dropout{i}")
    logits = dense(x, num_classes, weight_decay, "logits", dtype="float32")
    return keras.Model(inputs, logits, name="mlp1024")
