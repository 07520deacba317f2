"""LE: introspective learning with online self-explanations (paper section 4, Algorithm 1).

Stage 1 (warm-up) trains with CE(p, y). Stage 2, every batch: one forward pass gives the logits
and, through an inner tape, the explanation of every sample for every class (``explainers``);
Eq. 6 turns them into soft targets ``q`` (``targets.explanation_targets``, a constant:
``stop_gradient``); the loss is ``CE(p, q) + lam * CE(p, y)`` plus weight decay.

The stage is a non-trainable variable read inside the traced ``train_step``: a ``tf.cond``
chooses the targets (Eq. 6 in stage 2, one-hot ``y`` in stage 1), so switching
(:class:`tf_introspect.callbacks.WarmupSwitch`) does not retrace and no explanation is computed
during warm-up.
"""

import keras
import tensorflow as tf

from tf_introspect import explainers, targets
from tf_introspect.methods.base import (Method, cross_entropy, entropy, soft_cross_entropy)


class Introspective(Method):
    """Wraps ``model`` (inputs -> logits) for introspective learning.

    Args:
      model: the classifier to train; ``wrapper.model`` is the plain trained model.
      explainer: ``grad``, ``grad_input``, ``guided_bp`` or ``grad_cam`` (paper 5.4.2).
      alpha: ground-truth mass of the targets (Eq. 6), in (0, 1); paper 0.9.
      lam: weight of the one-hot term ``lam * CE(p, y)``, >= 0; paper 0.1.
      layer: Grad-CAM layer name (default: the last 4-D layer).
      permute: LE-Permut ablation (paper 5.4.1): non-ground-truth targets shuffled per sample.
      seed: seed of the LE-Permut shuffles (stateless, combined with the step counter).
      introspective: initial stage; ``True`` (default) means the introspective loss is on from
        the first step. ``WarmupSwitch`` sets it per epoch.

    Logged per epoch: ``loss`` (total), ``ce_soft`` = CE(p, q), ``ce_hard`` = CE(p, y),
    ``regularization``, ``q_entropy`` (mean entropy of q, nats) and ``introspective`` (fraction
    of steps in stage 2). ``loss = ce_soft + lam * ce_hard + regularization`` in stage 2 and
    ``ce_hard + regularization`` in stage 1.
    """

    terms = ("ce_soft", "ce_hard", "q_entropy", "introspective")

    def __init__(self, model, explainer="grad_cam", alpha=0.9, lam=0.1, layer=None,
                 permute=False, seed=0, introspective=True, **kwargs):
        targets.check_alpha(alpha)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}.")
        super().__init__(model, **kwargs)
        self.explainer = explainers.get(explainer, model, layer)
        self.alpha, self.lam, self.permute, self.seed = float(alpha), float(lam), permute, seed
        self.introspective = keras.Variable(float(introspective), trainable=False,
                                            dtype="float32", name="introspective")

    @property
    def second_stage(self):
        """The generic stage variable of two-stage methods (``WarmupSwitch``): ``introspective``."""
        return self.introspective

    def compute_terms(self, x, y, tape):
        logits, explain = self.explainer.online(x, training=True)
        num_classes = tf.shape(logits)[-1]
        active = self.introspective > 0.5

        def introspective_targets():
            return targets.explanation_targets(explain(), y, alpha=self.alpha,
                                               permute=self.permute,
                                               seed=self.step_seed(self.seed))

        # Only the targets sit in the tf.cond, outside the parameters' tape: the forward
        # pass and the gradient path are the same in both stages (no retracing, no cond in
        # the backward pass), and the Jacobian is only computed in stage 2.
        with tape.stop_recording():
            q = tf.stop_gradient(tf.cond(
                active, introspective_targets,
                lambda: tf.one_hot(y, num_classes, dtype=logits.dtype)))
        stage = tf.cast(active, logits.dtype)
        ce_soft, ce_hard = soft_cross_entropy(q, logits), cross_entropy(y, logits)
        # stage 1: q = y, so the loss is CE(p, y); stage 2: CE(p, q) + lam * CE(p, y)
        return logits, {"loss": ce_soft + stage * self.lam * ce_hard,
                        "ce_soft": stage * ce_soft, "ce_hard": ce_hard,
                        "q_entropy": stage * entropy(q), "introspective": stage}
