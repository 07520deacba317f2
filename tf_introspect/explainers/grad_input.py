"""Gradient * Input (Shrikumar et al. 2017; paper section 2): ``e_k = x * d logit_k / d x``."""

from typing import TYPE_CHECKING

from tf_introspect.explainers.grad import Grad

if TYPE_CHECKING:
    import tensorflow as tf


class GradInput(Grad):
    """``E[b, k] = x_b * d logit_k / d x_b`` (element-wise)."""

    name = "grad_input"

    def from_jacobian(
        self, jacobian: "tf.Tensor", x: "tf.Tensor", source: "tf.Tensor"
    ) -> "tf.Tensor":
        return jacobian * x[:, None]
