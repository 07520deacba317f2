"""Vanilla gradient (Grad, Simonyan et al. 2013; paper section 2): ``e_k = d logit_k / d x``."""

from typing import TYPE_CHECKING

from tf_introspect.explainers.base import Explainer

if TYPE_CHECKING:
    import tensorflow as tf


class Grad(Explainer):
    """``E[b, k] = d logit_k / d x_b``, the same shape as one input."""

    name = "grad"

    def from_jacobian(
        self, jacobian: "tf.Tensor", x: "tf.Tensor", source: "tf.Tensor"
    ) -> "tf.Tensor":
        return jacobian
