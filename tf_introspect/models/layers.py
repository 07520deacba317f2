"""Shared layer builders of the registry's models: the reference code's training details.

The paper's ResNet settings "follow the previous work [35]" (TAKD, Mirzadeh et al. 2020); the
details the paper leaves open are taken from TAKD's public code (``train.py`` and
``resnet_cifar.py`` of imirzadeh/Teacher-Assistant-Knowledge-Distillation), which builds its
networks with PyTorch's conventions:

* weight decay: ``SGD(weight_decay=1e-4)``, PyTorch's *coupled* decay (``grad += wd * w``)
  on **all** parameters, batch-norm scales and offsets and biases included: :func:`l2` on
  every kernel, bias, ``gamma`` and ``beta`` here;
* convolutions without bias, initialised ``N(0, sqrt(2 / n))`` with ``n = k * k * out_channels``
  (He et al.'s fan-out normal): :func:`conv`;
* batch norm with PyTorch's defaults: running-average momentum 0.1 (Keras ``momentum=0.9``),
  ``eps = 1e-5``, ``gamma = 1``, ``beta = 0``: :func:`batch_norm`;
* the final linear layer with PyTorch's default ``nn.Linear`` initialisation,
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and bias: :func:`dense`.

The plain CNNs (Table 1) use the same conventions; the MLP (Table 3) uses :func:`dense` too.
"""

import keras

# Initialisers are made per layer (a shared instance would draw its seed once, at import,
# and give every layer of one shape the same weights).


def l2(weight_decay: float) -> keras.regularizers.L2 | None:
    """Regulariser for a PyTorch-style ``weight_decay`` (gradient ``+= wd * w``).

    Keras' ``L2(l)`` adds ``l * sum(w**2)`` to the loss, whose gradient is ``2 l w``; so
    ``l = wd / 2``. Returns ``None`` for no decay. The penalty appears in ``model.losses`` and
    is added to the training loss by every method.
    """
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None


def conv(
    filters: int,
    kernel: int | tuple[int, int],
    weight_decay: float,
    name: str,
    strides: int | tuple[int, int] = 1,
) -> keras.layers.Conv2D:
    """Bias-free ``same`` convolution with the reference fan-out normal initialisation."""
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
        kernel_regularizer=l2(weight_decay),
        name=name,
    )


def batch_norm(weight_decay: float, name: str) -> keras.layers.BatchNormalization:
    """Batch norm with PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5), decayed.

    Built in the scope of a strategy of several replicas, it is ``synchronized``: the batch's
    moments are those of the whole batch (all replicas), as on one device. Without, Keras 3.15
    keeps the moving statistics as variables every replica updates from its own share of the
    batch (aggregation ``NONE``): measured in the mirrored test, two replicas' moving means
    drift apart (0.0025 after four steps), so the test scores depend on which replica scores
    an image, and the saved model keeps the first replica's. On one device unchanged (the
    synchronized moments are computed otherwise, E(x^2) - E(x)^2)."""
    import tensorflow as tf

    return keras.layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
        gamma_regularizer=l2(weight_decay),
        beta_regularizer=l2(weight_decay),
        name=name,
    )


def dense(
    x: keras.KerasTensor,
    units: int,
    weight_decay: float,
    name: str,
    activation: str | None = None,
    dtype: str | None = None,
) -> keras.KerasTensor:
    """Dense layer on ``x`` with PyTorch's default initialisation (weights and bias
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``); kernel and bias decayed. ``dtype``: the layer's
    dtype policy (default: the global one); the logits layers take ``"float32"``, so that
    under ``mixed_bfloat16`` the logits, and every loss, target and metric computed from
    them, stay float32 (Keras' mixed-precision guide); under float32 it changes nothing."""
    bound = float(x.shape[-1]) ** -0.5
    # PyTorch's nn.Linear default (kaiming_uniform, a = sqrt(5)) is U(-bound, bound) = Keras'
    # VarianceScaling(1/3, fan_in, uniform), whose limit is sqrt(3 * scale / fan_in).
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
        bias_initializer=keras.initializers.RandomUniform(-bound, bound),
        kernel_regularizer=l2(weight_decay),
        bias_regularizer=l2(weight_decay),
        name=name,
        dtype=dtype,
    )(x)


def maybe_dropout(x: keras.KerasTensor, rate: float, name: str) -> keras.KerasTensor:
    """Dropout on the last layer of a block (paper 5.1); identity for ``rate == 0``."""
    if not rate:
        return x
    if not 0.0 < rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {rate!r}.")
    return keras.layers.Dropout(rate, name=name)(x)
