"""Models that are not the paper's (issue 21): a Keras Applications architecture by name
(``keras:NAME``, e.g. ``keras:MobileNetV3Small``) or a user's saved classifier (``PATH.keras``).

``keras:NAME`` is built for the data's input shape and classes: the application without its
top (``weights=None`` by default: nothing is downloaded; or a weights file the user has),
global average pooling and a ``Dense`` logits head. Inputs smaller than
:data:`MIN_SIZE` (MNIST's 28 px) are resized up by a ``Resizing`` layer first, with a note;
applications that rescale their inputs themselves (``include_preprocessing``) are built without
it, since the pipeline normalises. Grad-CAM's default layer, the last 4-D one, is then the
application's last feature map, before the pooling (the application is built on the model's
own input tensor, so its layers are the model's: an explainer reaches each of them).

``PATH.keras`` is loaded with Keras' ``safe_mode`` (a file with a serialised ``Lambda`` is
refused rather than its code run), checked to output logits, and trained further from its
weights (``reinitialize=True``: from fresh weights of the same architecture).

Both get the registry's weight decay: an L2 penalty ``weight_decay / 2 * w**2`` on every
trainable variable (PyTorch's coupled decay, as :func:`tf_introspect.models.layers.l2`).
"""

import inspect
import os

import keras
from absl import logging

PREFIX = "keras:"
#: the smallest input side the applications take (most of them: 32 px)
MIN_SIZE = 32


def application_names() -> list[str]:
    """The Keras Applications architectures ``keras:NAME`` takes."""
    return sorted(
        n
        for n in dir(keras.applications)
        if n[:1].isupper() and callable(getattr(keras.applications, n))
    )


def is_application(name: str) -> bool:
    """``keras:NAME``, a Keras Applications architecture."""
    return name.startswith(PREFIX)


def is_saved(name: str) -> bool:
    """``PATH.keras``, a saved classifier."""
    return name.endswith(".keras")


def is_external(name: str) -> bool:
    return is_application(name) or is_saved(name)


def check_name(name: str) -> None:
    """A clear ``ValueError`` for an unknown application or a missing model file."""
    if name.startswith(PREFIX) and name[len(PREFIX) :] not in application_names():
        raise ValueError(
            f"unknown Keras Applications architecture {name[len(PREFIX) :]!r}; valid: "
            + ", ".join(application_names())
        )
    if name.endswith(".keras") and not os.path.isfile(name):
        raise ValueError(f"no model file {name!r} (--model=PATH.keras: a saved Keras classifier).")


def apply_weight_decay(model: keras.Model, weight_decay: float) -> keras.Model:
    """An L2 penalty of ``weight_decay / 2`` on every trainable variable (``model.losses``)."""
    if weight_decay:
        for variable in model.trainable_variables:
            variable.regularizer = keras.regularizers.L2(weight_decay / 2.0)
    return model


def application(
    name: str,
    num_classes: int,
    input_shape,
    weight_decay: float = 0.0,
    weights: str | None = None,
) -> keras.Model:
    """``keras:NAME`` for ``input_shape`` and ``num_classes`` (module docstring)."""
    check_name(name)
    if weights and not os.path.isfile(weights):  # before the model is built
        raise ValueError(f"no weights file {weights!r} (--weights=FILE: the application's).")
    arch = name[len(PREFIX) :]
    builder = getattr(keras.applications, arch)
    height, width, channels = input_shape
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    if min(height, width) < MIN_SIZE:
        size = (max(height, MIN_SIZE), max(width, MIN_SIZE))
        logging.info(
            "%s takes images of %d px or more: the %dx%d inputs are resized to %dx%d.",
            arch,
            MIN_SIZE,
            height,
            width,
            *size,
        )
        x = keras.layers.Resizing(*size, name="resize_up")(x)
    # built on our tensor (input_tensor), so its layers join the model's graph flat: an
    # explainer reaches any of them (a nested model's inner outputs cannot be reached)
    options = {"include_top": False, "weights": None, "input_tensor": x}
    if "include_preprocessing" in inspect.signature(builder).parameters:
        options["include_preprocessing"] = False  # the pipeline normalises
    base = builder(**options)
    if weights:
        try:
            base.load_weights(weights)
        except (OSError, ValueError) as e:  # not an HDF5 / Keras weights file, or not this model's
            raise ValueError(f"--weights={weights} does not load into {name}: {e}") from None
    features = base.output
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    # float32 logits under mixed precision, as our own models' (models.layers.dense)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(pooled)
    model = keras.Model(inputs, logits, name=arch.lower())
    return apply_weight_decay(model, weight_decay)


def saved(
    path: str,
    num_classes: int,
    input_shape,
    weight_decay: float = 0.0,
    reinitialize: bool = False,
) -> keras.Model:
    """The classifier saved at ``path`` (module docstring), checked against the data."""
    from tf_introspect.methods.inputs import check_logits

    check_name(path)
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise ValueError(
                f"{path} holds code (a serialised Lambda layer) that Keras' safe mode does not "
                "run: rebuild the model without Lambda layers, or load it yourself with "
                "safe_mode=False if you trust the file, and save it again."
            ) from None
        raise
    check_logits(model, f"model in {path}")
    shape, classes = tuple(model.input_shape[1:]), model.output_shape[-1]
    if shape != tuple(input_shape) or classes != num_classes:
        raise ValueError(
            f"the model in {path} maps {shape} to {classes} classes; the data has "
            f"{tuple(input_shape)} and {num_classes}."
        )
    if reinitialize:
        model = keras.models.clone_model(model)  # the same architecture, fresh weights
    return apply_weight_decay(model, weight_decay)
