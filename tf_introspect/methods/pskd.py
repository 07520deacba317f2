"""PS-KD: progressive self-knowledge distillation (Kim, Ji, Yoon and Hwang, "Self-Knowledge
Distillation with Progressive Refinement of Targets", ICCV 2021; authors' code
``lgcnsai/PS-KD-Pytorch``, ``main.py`` and ``loss/pskd_loss.py``).

The target of a sample at epoch t mixes its one-hot label with the model's own prediction for
it from epoch t-1 (the paper's Eq. 5, soft targets; Eq. 6, the loss)::

    q_t = (1 - alpha_t) y + alpha_t P_{t-1}(x),   L = CE(q_t, P_t(x)),
    alpha_t = alpha_T (t + 1) / E                  (t = 0 .. E-1; alpha_T = 0.8)

As in the authors' code:

* ``P_{t-1}(x)`` is what the model predicted for ``x`` when it last trained on it, in the
  previous epoch: the softmax of that step's training-mode logits on that epoch's augmented
  view, before the step's update. It is kept in a table with a row per training sample
  (:attr:`ProgressiveSelfDistillation.predictions`), read and then overwritten by each step,
  so the data must carry each sample's index (:func:`tf_introspect.data.make_dataset`
  with ``extras="index"``).
* In the first epoch every row is still unwritten and the target is the one-hot label.
* ``alpha_t`` changes once per epoch, set at its start by :class:`ProgressiveAlpha`, which
  :meth:`ProgressiveSelfDistillation.fit` adds (E: ``epochs`` of the constructor, else of
  ``fit``).

The table and ``alpha_t`` are variables of the method, so ``BackupAndRestore`` saves and
restores them with the weights: a resumed run reads the same previous predictions as an
uninterrupted one. Under ``tf.distribute`` each step's rows are gathered from every replica and
written to every copy of the table (``only_first_replica`` aggregation).
"""

from typing import Any

import keras
import tensorflow as tf

from tf_introspect.methods.base import Method
from tf_introspect.methods.losses import cross_entropy, soft_cross_entropy


class ProgressiveAlpha(keras.callbacks.Callback):
    """Sets PS-KD's ``alpha_t = alpha_T (epoch + 1) / epochs`` at the start of each epoch."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs!r}.")
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        method = self.model
        method.alpha_t.assign(method.alpha * min(epoch + 1, self.epochs) / self.epochs)


class ProgressiveSelfDistillation(Method):
    """PS-KD around ``model``, for a training set of ``num_examples`` samples.

    Trains on batches ``({"image": x, "index": i}, y)``. ``alpha`` is alpha_T, reached at the
    last epoch; ``epochs`` is that epoch count E (``None``: the ``epochs`` given to
    :meth:`fit`). Logged: ``ce_soft`` (the loss), ``ce_hard`` and ``alpha_t``.
    """

    terms = ("ce_soft", "ce_hard", "alpha_t")
    extras = "index"

    def __init__(
        self,
        model: keras.Model,
        num_examples: int,
        alpha: float = 0.8,
        epochs: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha (alpha_T) must be in [0, 1], got {alpha!r}.")
        if num_examples < 1:
            raise ValueError(f"num_examples must be >= 1, got {num_examples!r}.")
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs must be >= 1 (or None), got {epochs!r}.")
        super().__init__(model, **kwargs)
        self.alpha, self.epochs, self.num_examples = float(alpha), epochs, int(num_examples)
        self.alpha_t = keras.Variable(0.0, trainable=False, dtype="float32", name="alpha_t")
        #: Row i: the softmax prediction of the last step that trained on sample i (all zeros
        #: until then).
        self.predictions = keras.Variable(
            tf.zeros([self.num_examples, model.output_shape[-1]]),
            trainable=False,
            dtype="float32",
            autocast=False,
            aggregation="only_first_replica",
            name="previous_predictions",
        )

    def fit(self, *args: Any, **kwargs: Any) -> keras.callbacks.History:
        """Keras' ``fit``, with a :class:`ProgressiveAlpha` callback added unless one is
        given (E: the constructor's ``epochs``, else ``fit``'s)."""
        from tf_introspect.callbacks import fit_callbacks

        bound, callbacks = fit_callbacks(args, kwargs)
        if not any(isinstance(c, ProgressiveAlpha) for c in callbacks):
            epochs = self.epochs or bound.arguments.get("epochs", 1)
            callbacks.append(ProgressiveAlpha(epochs))
        bound.arguments["callbacks"] = callbacks
        return super().fit(*bound.args[1:], **bound.kwargs)

    def soft_targets(self, previous: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """``(1 - alpha_t) y + alpha_t P_{t-1}`` from the table's ``previous`` rows (one-hot
        where a row is unwritten)."""
        one_hot = tf.one_hot(y, previous.shape[-1])
        written = tf.reduce_sum(previous, axis=-1, keepdims=True) > 0
        previous = tf.where(written, previous, one_hot)
        return (1.0 - self.alpha_t) * one_hot + self.alpha_t * previous

    def compute_terms(
        self, x: dict, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        inputs = self.require_extras(x)
        index = tf.cast(inputs["index"], tf.int64)
        logits = self.model(inputs["image"], training=True)
        with tape.stop_recording():
            targets = self.soft_targets(tf.gather(self.predictions.value, index), y)
            self._remember(index, tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1))
        ce_soft = soft_cross_entropy(tf.stop_gradient(targets), logits)
        return logits, {
            "loss": ce_soft,
            "ce_soft": ce_soft,
            "ce_hard": cross_entropy(y, logits),
            "alpha_t": tf.convert_to_tensor(self.alpha_t),
        }

    def _remember(self, index: tf.Tensor, probs: tf.Tensor) -> None:
        """Write the batch's predictions to its rows; under several replicas in sync, every
        replica's rows (gathered), so every copy of the table stays the same."""
        context = tf.distribute.get_replica_context()
        if tf.distribute.get_strategy().num_replicas_in_sync > 1 and context is not None:
            index = context.all_gather(index, axis=0)
            probs = context.all_gather(probs, axis=0)
        self.predictions.value.scatter_update(tf.IndexedSlices(probs, index))
