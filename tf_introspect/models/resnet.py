"""CIFAR ResNets with 6n+2 layers (He et al. 2016, section 4.2), used in paper section 5.

A 3x3 stem convolution with 16 filters, then three stages of n basic blocks with 16, 32 and 64
filters (stride 2 at the start of stages 2 and 3), global average pooling and a dense layer
to the logits. A basic block is conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU; where
the shape changes the shortcut is a 1x1 convolution with BN (projection, "option B").

============  ===  =======================
model         n    parameters, 10 classes
============  ===  =======================
``resnet8``   1    78,714
``resnet14``  2    176,378
``resnet20``  3    274,042  (about 0.27 M)
``resnet26``  4    371,706
============  ===  =======================

(all weights incl. batch-norm statistics, ``model.count_params()``; checked by
``tests/test_models.py``). Initialisation, batch norm and weight decay follow the reference code
(TAKD's ``resnet_cifar.py``), see :mod:`tf_introspect.models.layers`. The output of each
stage is the layer named
``stage1``, ``stage2``, ``stage3`` (used by Hint, AT and FSP); ``stage3`` is the last
convolutional feature map, the default Grad-CAM layer (8x8x64 for 32x32 inputs).
"""

from typing import Any

import keras

from tf_introspect.models.layers import batch_norm, conv, dense, maybe_dropout


def _conv_bn(x, filters, stride, weight_decay, name, kernel=3):
    x = conv(filters, kernel, weight_decay, f"{name}_conv", strides=stride)(x)
    return batch_norm(weight_decay, f"{name}_bn")(x)


def _block(x, filters, stride, weight_decay, name, out_name):
    shortcut = x
    y = _conv_bn(x, filters, stride, weight_decay, f"{name}_a")
    y = keras.layers.ReLU(name=f"{name}_a_relu")(y)
    y = _conv_bn(y, filters, 1, weight_decay, f"{name}_b")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, stride, weight_decay, f"{name}_proj", kernel=1)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=out_name)(y)


def _resnet(depth, num_classes=10, input_shape=None, weight_decay=0.0, dropout_rate=0.0):
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}.")
    n = (depth - 2) // 6
    input_shape = tuple(input_shape or (32, 32, 3))
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn(inputs, 16, 1, weight_decay, "stem")
    x = keras.layers.ReLU(name="stem_relu")(x)
    for s, filters in enumerate((16, 32, 64), start=1):
        for b in range(1, n + 1):
            stride = 2 if (s > 1 and b == 1) else 1
            out_name = f"stage{s}" if b == n else f"stage{s}_block{b}"
            x = _block(x, filters, stride, weight_decay, f"stage{s}_block{b}", out_name)
        x = maybe_dropout(x, dropout_rate, name=f"stage{s}_dropout")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = dense(x, num_classes, weight_decay, "logits", dtype="float32")
    return keras.Model(inputs, logits, name=f"resnet{depth}")


def resnet8(**kw: Any) -> keras.Model:
    """ResNet-8 (n=1)."""
    return _resnet(8, **kw)


def resnet14(**kw: Any) -> keras.Model:
    """ResNet-14 (n=2)."""
    return _resnet(14, **kw)


def resnet20(**kw: Any) -> keras.Model:
    """ResNet-20 (n=3), about 0.27 M parameters."""
    return _resnet(20, **kw)


def resnet26(**kw: Any) -> keras.Model:
    """ResNet-26 (n=4), the teacher of Table 5."""
    return _resnet(26, **kw)
