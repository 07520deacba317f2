"""DML: deep mutual learning (Zhang et al. 2018; paper 5.2).

Two networks of the same architecture learn together; each minimises
``CE(p_i, y) + lam * KL(p_j || p_i)`` with the other's prediction ``p_j`` as a constant target
(lam = 0.1 as in the paper). Both are updated every step from one tape (the original alternates
the two updates within a step; with constant targets the gradients are the same). ``model`` is
the first network; ``peer`` the second, saved next to it by the command line. Logged:
``ce_hard``, ``kl`` (first network), ``peer_ce``, ``peer_kl``; evaluation also reports
``peer_accuracy``.
"""

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method, cross_entropy


def kl_to(target_logits, logits):
    """Batch mean of ``KL(softmax(target) || softmax(logits))``, the target held constant."""
    target = tf.nn.softmax(tf.stop_gradient(target_logits))
    return tf.reduce_mean(keras.losses.kl_divergence(target, tf.nn.softmax(logits)))


class MutualLearning(Method):
    """Two peers trained with CE plus ``lam`` times the KL to each other."""

    terms = ("ce_hard", "kl", "peer_ce", "peer_kl", "peer_accuracy")
    eval_terms = ("peer_accuracy",)

    def __init__(self, model, peer=None, lam=0.1, **kwargs):
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}.")
        super().__init__(model, **kwargs)
        self.peer = peer if peer is not None else keras.models.clone_model(model)
        self.lam = float(lam)

    @property
    def trained_parts(self):
        return [self.model, self.peer]

    def compute_terms(self, x, y, tape):
        logits = self.model(x, training=True)
        peer_logits = self.peer(x, training=True)
        ce, peer_ce = cross_entropy(y, logits), cross_entropy(y, peer_logits)
        kl, peer_kl = kl_to(peer_logits, logits), kl_to(logits, peer_logits)
        return logits, {"loss": ce + self.lam * kl + peer_ce + self.lam * peer_kl,
                        "ce_hard": ce, "kl": kl, "peer_ce": peer_ce, "peer_kl": peer_kl,
                        "peer_accuracy": _accuracy(y, peer_logits)}

    def compute_eval_terms(self, x, y):
        return {"peer_accuracy": _accuracy(y, self.peer(x, training=False))}


def _accuracy(y, logits):
    return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y),
                                  tf.float32))
