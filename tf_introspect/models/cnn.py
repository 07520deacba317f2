"""Plain CNNs of paper section 3 (Table 1): convolutions, max-pooling, one final dense layer.

The paper only says "convolutional layers followed by max-pooling and ends with a fully
connected layer", with CNN-N having N convolutional layers. Our exact plan: three stages of
3x3 convolutions (``same`` padding, each followed by batch norm and ReLU) with 32, 64 and 128
filters, a 2x2 max-pool closing every stage (32 -> 16 -> 8 -> 4), then flatten and one dense
layer to the logits. The N convolutions are split over the stages as

=========  ============  ===========================
model      convs/stage   parameters, 10 classes
=========  ============  ===========================
``cnn6``   2, 2, 2       308,842
``cnn8``   2, 3, 3       493,930
``cnn10``  3, 3, 4       651,242
=========  ============  ===========================

(all weights incl. batch-norm statistics, ``model.count_params()``; checked by
``tests/test_models.py``). Initialisation, batch norm and weight decay: the ResNets' reference
conventions (:mod:`tf_introspect.models.layers`). Layer names: ``stage{s}_conv{i}``,
``stage{s}_bn{i}``, ``stage{s}_relu{i}``, and ``stage{s}`` for the pooled stage output.
"""

from typing import Any

import keras

from tf_introspect.models.layers import batch_norm, conv, dense, maybe_dropout

_PLANS = {6: (2, 2, 2), 8: (2, 3, 3), 10: (3, 3, 4)}
_WIDTHS = (32, 64, 128)


def _cnn(depth, num_classes=10, input_shape=None, weight_decay=0.0, dropout_rate=0.0):
    input_shape = tuple(input_shape or (32, 32, 3))
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for s, (n_conv, width) in enumerate(zip(_PLANS[depth], _WIDTHS), start=1):
        for i in range(1, n_conv + 1):
            x = conv(width, 3, weight_decay, f"stage{s}_conv{i}")(x)
            x = batch_norm(weight_decay, f"stage{s}_bn{i}")(x)
            x = keras.layers.ReLU(name=f"stage{s}_relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"stage{s}")(x)
        x = maybe_dropout(x, dropout_rate, name=f"stage{s}_dropout")
    x = keras.layers.Flatten(name="flatten")(x)
    logits = dense(x, num_classes, weight_decay, "logits", dtype="float32")
    return keras.Model(inputs, logits, name=f"cnn{depth}")


def cnn6(**kw: Any) -> keras.Model:
    """CNN-6 (student 2 of Table 1)."""
    return _cnn(6, **kw)


def cnn8(**kw: Any) -> keras.Model:
    """CNN-8 (student 1 of Table 1)."""
    return _cnn(8, **kw)


def cnn10(**kw: Any) -> keras.Model:
    """CNN-10 (the teacher of Table 1)."""
    return _cnn(10, **kw)
