"""Dropout (Srivastava et al. 2014; paper 5.1): CE on a model with dropout on the last layer of
each block (each ResNet / CNN stage, each MLP hidden layer), rate ``--dropout_rate``.

The dropout layers belong to the model (``models.get(name, dropout_rate=r)``); the method is
plain CE and only checks that the model has them.
"""

from typing import Any

import keras

from tf_introspect.methods.ce import CrossEntropy


class Dropout(CrossEntropy):
    """Plain CE; the model must contain ``keras.layers.Dropout`` layers."""

    def __init__(self, model: keras.Model, **kwargs: Any) -> None:
        if not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers):
            raise ValueError(
                f"method 'dropout' needs a model with dropout layers; build it "
                f"with models.get({model.name!r}, dropout_rate=0.1) "
                "(command line: --dropout_rate)."
            )
        super().__init__(model, **kwargs)
