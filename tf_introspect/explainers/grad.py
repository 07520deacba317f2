"""Vanilla gradient (Grad, Simonyan et al. 2013; paper section 2): ``e_k = d logit_k / d x``."""

from tf_introspect.explainers.base import Explainer


class Grad(Explainer):
    """``E[b, k] = d logit_k / d x_b``, the same shape as one input."""

    name = "grad"

    def from_jacobian(self, jacobian, x, source):
        return jacobian
