"""DML: deep mutual learning (Zhang et al. 2018; paper 5.2).

Two networks of the same architecture learn together; each minimises
``CE(p_i, y) + lam * KL(p_j || p_i)`` with the other's prediction ``p_j`` as a constant target
(lam = 0.1 as in the paper). Every step follows Zhang et al.'s Algorithm 1 in its order:
predict with both networks, update network 1, predict again with the updated network 1, then
update network 2 against those new predictions. So network 2's gradient is not the one a
simultaneous update would give (network 1's is). Each network has its own optimizer (the
compiled one for ``model``, a copy of it for ``peer``), so each one's learning-rate schedule
counts its own steps. The second prediction of network 1 runs in training mode, like the
first, and leaves its batch-norm moving statistics as the first pass set them (updated once
per step).

``model`` is the first network; ``peer`` the second, saved next to it by the command line.
Logged: ``ce_hard``, ``kl`` (first network), ``peer_ce``, ``peer_kl`` (against the updated
first network), ``loss`` and ``regularization`` (both networks'); evaluation also reports
``peer_accuracy``.
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.inputs import sparse_labels
from tf_introspect.methods.losses import cross_entropy


def kl_to(target_logits: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Batch mean of ``KL(softmax(target) || softmax(logits))``, the target held constant."""
    target = tf.nn.softmax(tf.stop_gradient(target_logits))
    return tf.reduce_mean(keras.losses.kl_divergence(target, tf.nn.softmax(logits)))


class MutualLearning(Method):
    """Two peers trained with CE plus ``lam`` times the KL to each other, in turn."""

    terms = ("ce_hard", "kl", "peer_ce", "peer_kl", "peer_accuracy")
    eval_terms = ("peer_accuracy",)

    def __init__(
        self, model: keras.Model, peer: keras.Model | None = None, lam: float = 0.1, **kwargs: Any
    ) -> None:
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}.")
        super().__init__(model, **kwargs)
        self.peer = peer if peer is not None else keras.models.clone_model(model)
        self.lam = float(lam)
        self.peer_optimizer = None

    @property
    def trained_parts(self) -> list[keras.layers.Layer]:
        return [self.model, self.peer]

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Keras' ``compile``; the peer gets its own copy of the optimizer (same settings and
        schedule, its own step count and slots). Each is built for its own network's
        variables here (Keras would build the compiled one for both), so a backup holds each
        optimizer's state once and restores it (``BackupAndRestore``)."""
        super().compile(*args, **kwargs)
        with self.distribute_strategy.scope():
            self.optimizer.build(self.model.trainable_variables)
            self.peer_optimizer = type(self.optimizer).from_config(self.optimizer.get_config())
            self.peer_optimizer.build(self.peer.trainable_variables)

    def network_terms(
        self, y: tf.Tensor, logits: tf.Tensor, target_logits: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(loss, ce, kl)`` of one network: ``CE(p, y) + lam * KL(p_target || p)``."""
        ce, kl = cross_entropy(y, logits), kl_to(target_logits, logits)
        return ce + self.lam * kl, ce, kl

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Network 1's terms, as the first half of :meth:`train_step` computes them."""
        logits = self.model(x, training=True)
        peer_logits = self.peer(x, training=True)
        loss, ce, kl = self.network_terms(y, logits, peer_logits)
        return logits, {"loss": loss, "ce_hard": ce, "kl": kl}

    @staticmethod
    def _scaled(optimizer, loss):
        """The loss to differentiate: a replica's share, scaled as ``optimizer`` needs."""
        return optimizer.scale_loss(loss / tf.distribute.get_strategy().num_replicas_in_sync)

    @staticmethod
    def _update(optimizer, tape, scaled, network):
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} does not support sample weights.")
        y = sparse_labels(y)
        with tf.GradientTape() as peer_tape:  # network 2's forward pass, kept for later
            peer_logits = self.peer(x, training=True)
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss, ce, kl = self.network_terms(y, logits, peer_logits)
            regularization = self._regularization([self.model])
            loss += regularization
            scaled = self._scaled(self.optimizer, loss)
        self._update(self.optimizer, tape, scaled, self.model)
        # network 1's predictions after its update (Algorithm 1), its moving statistics kept
        statistics = [(v, tf.identity(v.value)) for v in self.model.non_trainable_variables]
        updated_logits = self.model(x, training=True)
        for variable, value in statistics:
            variable.assign(value)
        with peer_tape:  # network 2's loss against them
            peer_loss, peer_ce, peer_kl = self.network_terms(y, peer_logits, updated_logits)
            peer_regularization = self._regularization([self.peer])
            peer_loss += peer_regularization
            scaled = self._scaled(self.peer_optimizer, peer_loss)
        self._update(self.peer_optimizer, peer_tape, scaled, self.peer)
        terms = {
            "loss": loss + peer_loss,
            "ce_hard": ce,
            "kl": kl,
            "peer_ce": peer_ce,
            "peer_kl": peer_kl,
            "peer_accuracy": _accuracy(y, peer_logits),
            "regularization": regularization + peer_regularization,
        }
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return self.training_logs(x, y, logits)

    def compute_eval_terms(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"peer_accuracy": _accuracy(y, self.peer(x, training=False))}


def _accuracy(y, logits):
    return tf.reduce_mean(
        tf.cast(tf.equal(tf.argmax(logits, -1, output_type=y.dtype), y), tf.float32)
    )
