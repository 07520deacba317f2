"""Gradient * Input (Shrikumar et al. 2017; paper section 2): ``e_k = x * d logit_k / d x``."""

from tf_introspect.explainers.grad import Grad


class GradInput(Grad):
    """``E[b, k] = x_b * d logit_k / d x_b`` (element-wise)."""

    name = "grad_input"

    def from_jacobian(self, jacobian, x, source):
        return jacobian * x[:, None]
