"""Model registry (timm style): ``get(name, ...)`` builds a model, ``list_models()`` names them.

Every model is a functional ``keras.Model`` that maps images to **logits** (no softmax), with
named layers so that explainers (Grad-CAM) and distillation methods can reach intermediate
activations. The architectures are the ones of the paper's experiments:

* ``mlp1024``: the 784-1024-1024-10 ReLU MLP of paper section 5.1 / Table 3 (MNIST).
* ``cnn6``, ``cnn8``, ``cnn10``: plain CNNs of paper section 3 / Table 1 (CIFAR-10).
* ``resnet8``, ``resnet14``, ``resnet20``, ``resnet26``: CIFAR ResNets (6n+2) of paper section 5.

Beyond the paper (:mod:`tf_introspect.models.external`): ``keras:NAME``, a Keras Applications
architecture with a logits head, and ``PATH.keras``, a saved classifier.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tf_introspect.models import cnn, external, mlp, resnet

if TYPE_CHECKING:
    import keras

_REGISTRY = {
    "mlp1024": mlp.mlp1024,
    "cnn6": cnn.cnn6,
    "cnn8": cnn.cnn8,
    "cnn10": cnn.cnn10,
    "resnet8": resnet.resnet8,
    "resnet14": resnet.resnet14,
    "resnet20": resnet.resnet20,
    "resnet26": resnet.resnet26,
}


def list_models() -> list[str]:
    """Return the registered model names, sorted."""
    return sorted(_REGISTRY)


def single_input(model: "keras.Model") -> "keras.KerasTensor | list[keras.KerasTensor]":
    """A functional model's input tensor, or the list of them if it has several (a one-input
    model is then called with a tensor, as Keras expects)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def get(
    name: str, num_classes: int = 10, input_shape: Sequence[int] | None = None, **kw: Any
) -> "keras.Model":
    """Build the registered model ``name``.

    Args:
      name: one of ``list_models()``, ``keras:NAME`` (``external.application_names()``) or
        ``PATH.keras`` (options: ``weights`` for the first, ``reinitialize`` for the second).
      num_classes: number of output logits.
      input_shape: ``(h, w, c)``; defaults to the paper's data set for that model
        (``(28, 28, 1)`` for the MLP, ``(32, 32, 3)`` for the CNNs and ResNets).
      **kw: model options, e.g. ``weight_decay`` (L2 on every kernel, bias and batch-norm
        scale and offset, PyTorch's coupled convention: the
        gradient gains ``weight_decay * w``) and ``dropout_rate``.
    """
    if external.is_external(name):
        own = {"weight_decay", "weights", "reinitialize"}
        if set(kw) - own:
            raise ValueError(
                f"{sorted(set(kw) - own)} apply to the registry's models only, not {name}."
            )
        shape = tuple(input_shape or (32, 32, 3))
        decay = kw.get("weight_decay", 0.0)
        if name.startswith(external.PREFIX):
            return external.application(name, num_classes, shape, decay, kw.get("weights"))
        return external.saved(name, num_classes, shape, decay, bool(kw.get("reinitialize")))
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}; valid choices: {', '.join(list_models())}, "
            "keras:NAME (python -m tf_introspect.main --list_models) or a saved model PATH.keras"
        )
    return _REGISTRY[name](num_classes=num_classes, input_shape=input_shape, **kw)
