"""The small base every training method is built on (mdistiller / keras-io distillation style).

A method is a ``keras.Model`` that wraps the user's classifier (``method.model``, which maps
inputs to logits) and defines its loss in :meth:`Method.compute_terms`. The base owns all the
plumbing shared by the methods: unpacking the batch, the parameter tape, the model's own
regularisation losses (weight decay), scaling for ``tf.distribute``, the optimizer step, the
per-term loss trackers (shown by the progress bar, the History and TensorBoard) and
``test_step``. So a method is used like any Keras model::

    method = Introspective(model)              # or any class of the registry
    method.compile(optimizer="sgd", metrics=["accuracy"])
    method.fit(train_ds, epochs=..., validation_data=test_ds)
    method.model.save("model.keras")           # the plain trained classifier
"""

import keras
import tensorflow as tf


def sparse_labels(y):
    """Integer class ids ``[batch]`` from ids ``[batch]`` / ``[batch, 1]`` or one-hot labels."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2:
        y = y[:, 0] if y.shape[-1] == 1 else tf.argmax(y, axis=-1)
    return tf.cast(y, tf.int32)


def cross_entropy(labels, logits):
    """Mean CE(p, y) with integer ``labels`` and ``p = softmax(logits)``."""
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True))


def soft_cross_entropy(targets, logits):
    """Mean CE(p, q) = -sum_k q_k log p_k for target distributions ``q``."""
    return tf.reduce_mean(keras.losses.categorical_crossentropy(
        targets, logits, from_logits=True))


def entropy(probs):
    """Mean entropy ``-sum_k q_k log q_k`` of rows of ``probs`` (nats)."""
    return tf.reduce_mean(-tf.reduce_sum(tf.math.xlogy(probs, probs), axis=-1))


class Method(keras.Model):
    """Base of all methods: ``train_step`` = ``compute_terms`` + the shared plumbing.

    Subclasses list the names of their loss terms in ``terms`` (each gets a tracker, logged
    per epoch) and implement :meth:`compute_terms`. The total loss is ``terms["loss"]`` plus
    ``regularization``, the sum of the ``losses`` (weight decay) of every trained part; both
    are logged. ``trained_parts`` lists what the optimizer updates (the classifier, plus e.g.
    a Hint adapter or a DML peer); a teacher is never in it. ``eval_terms`` names trackers that
    :meth:`compute_eval_terms` also fills during ``evaluate``.
    """

    terms = ("ce_hard",)
    eval_terms = ()

    def __init__(self, model, name=None, **kwargs):
        super().__init__(name=name or f"{type(self).__name__.lower()}_{model.name}", **kwargs)
        self.model = model
        self.trackers = {n: keras.metrics.Mean(name=n)
                         for n in ("loss", *self.terms, "regularization")}
        # The wrapper adds no layers of its own: it is built when the classifier is (needed by
        # e.g. BackupAndRestore, which restores weights before the first step).
        self.built = model.built

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def compute_terms(self, x, y, tape):
        """Return ``(logits, terms)``: the training-mode logits and a dict of scalar terms.

        ``terms["loss"]`` is the method's loss without regularisation; the other keys are the
        names in ``self.terms``. ``tape`` is the parameters' tape (already recording), for
        methods that need to pause it. The default is plain cross-entropy.
        """
        logits = self.model(x, training=True)
        ce_hard = cross_entropy(y, logits)
        return logits, {"loss": ce_hard, "ce_hard": ce_hard}

    def compute_eval_terms(self, x, y):
        """Extra evaluation values, ``{name: scalar}`` for the names in ``eval_terms``."""
        return {}

    @property
    def trained_parts(self):
        """The layers/models whose trainable variables the optimizer updates."""
        return [self.model]

    def _regularization(self, parts=None):
        losses = [loss for part in (parts or self.trained_parts) for loss in part.losses]
        return tf.add_n(losses) if losses else tf.constant(0.0)

    def step_seed(self, seed):
        """A stateless-RNG seed ``[seed, step]``: new every step, repeatable, resumable."""
        step = tf.cast(self.optimizer.iterations, tf.int64)
        return tf.stack([tf.constant(seed, tf.int64), step])

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} does not support sample weights.")
        y = sparse_labels(y)
        with tf.GradientTape() as tape:
            logits, terms = self.compute_terms(x, y, tape)
            regularization = self._regularization()
            terms = {**terms, "loss": terms["loss"] + regularization,
                     "regularization": regularization}
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(terms["loss"] / replicas)
        variables = [v for part in self.trained_parts for v in part.trainable_variables]
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return self.compute_metrics(x, y, logits, sample_weight=None)

    def test_step(self, data):
        """Evaluation: CE(p, y) on inference-mode logits, as ``ce_hard``; ``loss`` adds the
        classifier's regularisation, as Keras' own ``evaluate`` does (so it compares across
        methods). Training-only terms are not reported."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = sparse_labels(y)
        logits = self.model(x, training=False)
        ce_hard = cross_entropy(y, logits)
        self.trackers["loss"].update_state(ce_hard + self._regularization([self.model]))
        self.trackers["ce_hard"].update_state(ce_hard)
        for name, value in self.compute_eval_terms(x, y).items():
            self.trackers[name].update_state(value)
        logs = self.compute_metrics(x, y, logits, sample_weight=None)
        training_only = set(self.trackers) - {"loss", "ce_hard", *self.eval_terms}
        return {k: v for k, v in logs.items() if k not in training_only}

    @property
    def metrics(self):
        # Our own "loss" tracker replaces the compiled one (which a custom train_step never
        # updates), so that only one "loss" is reported.
        compiled_loss = getattr(self, "_loss_tracker", None)
        return [m for m in super().metrics if m is not compiled_loss]
