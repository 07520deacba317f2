"""The 784-1024-1024-10 ReLU MLP of paper section 5.1 (Table 3, after Pereyra et al. 2017)."""

import keras

from tf_introspect.models.layers import l2, maybe_dropout


def mlp1024(num_classes=10, input_shape=None, weight_decay=0.0, dropout_rate=0.0):
    """MLP ``784-1024-1024-num_classes`` with ReLU, returning logits.

    Images are flattened inside the model, so the same ``(28, 28, 1)`` MNIST pipeline feeds
    every model. Parameters for 10 classes: 784*1024+1024 + 1024*1024+1024 + 1024*10+10 =
    1,863,690. ``dropout_rate`` drops units after each hidden layer (paper 5.1).
    """
    input_shape = tuple(input_shape or (28, 28, 1))
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in (1, 2):
        x = keras.layers.Dense(1024, activation="relu", kernel_regularizer=l2(weight_decay),
                               name=f"dense{i}")(x)
        x = maybe_dropout(x, dropout_rate, name=f"dropout{i}")
    logits = keras.layers.Dense(num_classes, kernel_regularizer=l2(weight_decay),
                                name="logits")(x)
    return keras.Model(inputs, logits, name="mlp1024")
