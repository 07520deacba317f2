"""All-class saliency explainers (paper section 2):
``explain(model, x, method, layer=None, training=False)``.

=============  =========================================  ===========================
name           explanation of class k                      shape per sample
=============  =========================================  ===========================
``grad``       d logit_k / d x                             ``[c, *x.shape]``
``grad_input`` x * d logit_k / d x                         ``[c, *x.shape]``
``guided_bp``  Guided Backprop gradient                    ``[c, *x.shape]``
``grad_cam``   ReLU(sum_ch mean_hw(d logit_k / d A) * A)   ``[c, h, w]`` of the layer
=============  =========================================  ===========================
"""

import weakref
from typing import TYPE_CHECKING

from tf_introspect.explainers.base import Explainer
from tf_introspect.explainers.grad import Grad
from tf_introspect.explainers.grad_cam import GradCam, _four_d_layers
from tf_introspect.explainers.grad_input import GradInput
from tf_introspect.explainers.guided_bp import GuidedBackprop, guided_relu, guided_relus

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

EXPLAINERS = {cls.name: cls for cls in (Grad, GradInput, GuidedBackprop, GradCam)}


def list_explainers() -> list[str]:
    """Return the registered explainer names, sorted."""
    return sorted(EXPLAINERS)


def default_for(model: "keras.Model") -> str:
    """The explainer the paper uses for ``model``'s kind: ``grad_cam`` where the model has a
    layer with a 4-D output to explain (the CNNs and ResNets, paper 5.2), ``grad`` where it
    has none (the MLP, paper 5.1) or its layers cannot be reached (a subclassed model)."""
    return "grad_cam" if _four_d_layers(model) else "grad"


def get(method: str, model: "keras.Model", layer: str | None = None) -> Explainer:
    """Build the explainer ``method`` for ``model`` (``layer`` is used by ``grad_cam`` only)."""
    if method not in EXPLAINERS:
        raise ValueError(
            f"Unknown explainer {method!r}; valid choices: {', '.join(list_explainers())}."
        )
    if layer is not None and method != "grad_cam":
        raise ValueError(
            f"Explainer {method!r} explains the input; 'layer' ({layer!r}) only "
            "applies to 'grad_cam'."
        )
    return EXPLAINERS[method](model, layer=layer)


def explain(
    model: "keras.Model",
    x: "tf.Tensor",
    method: str,
    layer: str | None = None,
    training: bool = False,
) -> "tf.Tensor":
    """Explanations of every sample for **every** class, ``[batch, classes, ...]``.

    ``model`` maps inputs to logits; all classes come from one vectorised backward pass
    (``GradientTape.batch_jacobian``). ``training=False``: inference mode (moving batch-norm
    statistics). ``training=True``: exactly the explanations ``E_i`` that the LE training step
    turns into its Eq. 6 targets (paper section 4, Algorithm 1): training-mode forward pass,
    every batch-norm layer normalising with the batch's moments held constant, so that sample
    ``i``'s explanation follows only its own gradient path (``explainers.base``); the model's
    moving statistics are not updated.
    """
    per_model = _CACHE.setdefault(model, {})
    if (method, layer) not in per_model:
        per_model[(method, layer)] = get(method, model, layer)
    return per_model[(method, layer)].explain(x, training=training)


# Explainers built by ``explain``, per model, so repeated eager calls reuse one traced graph.
_CACHE = weakref.WeakKeyDictionary()


__all__ = [
    "EXPLAINERS",
    "Explainer",
    "Grad",
    "GradCam",
    "GradInput",
    "GuidedBackprop",
    "explain",
    "get",
    "guided_relu",
    "guided_relus",
    "list_explainers",
]
