"""Small shared pieces of the model definitions."""

import keras


def l2(weight_decay):
    """Kernel regulariser for a PyTorch-style ``weight_decay`` (gradient ``+= wd * w``).

    Keras' ``L2(l)`` adds ``l * sum(w**2)`` to the loss, whose gradient is ``2 l w``; so
    ``l = wd / 2``. Returns ``None`` for no decay. The penalty appears in ``model.losses`` and
    is added to the training loss by every method.
    """
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None


def maybe_dropout(x, rate, name):
    """Dropout on the last layer of a block (paper 5.1); identity for ``rate == 0``."""
    if not rate:
        return x
    if not 0.0 < rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {rate!r}.")
    return keras.layers.Dropout(rate, name=name)(x)
