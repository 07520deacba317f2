"""Shared machinery of the all-class saliency explainers.

Every explainer produces ``E`` of shape ``[batch, classes, ...]``: the explanation of each sample
for **every** class ``k`` (paper section 4, ``E_i = (e_i^1, ..., e_i^c)``), from one vectorised
backward pass: ``GradientTape.batch_jacobian`` of the logits with respect to the explained
tensor (the input, or the Grad-CAM layer's activation). ``batch_jacobian`` vectorises the ``c``
backward passes with ``pfor`` (Goodfellow 2015, the trick the paper cites as [34]); there is no
Python loop over classes.

An explainer is split into two steps so that training can reuse its own forward pass:

* ``forward(x, training)`` runs the model under a tape that watches ``x`` and returns
  ``(logits, source)``, ``source`` being the tensor the explanation is taken with respect to;
* ``from_jacobian(jacobian, x, source)`` turns ``d logits / d source`` into ``E``.

``explain(x)`` chains them in inference mode; :meth:`Explainer.online` splits them for a
training step, which takes the Jacobian of its own forward pass only when it needs it.
"""

import tensorflow as tf


class Explainer:
    """Base class: gradient of every logit w.r.t. ``source``, turned into explanations.

    Subclasses set ``name`` and override ``forward`` / ``from_jacobian``. ``shares_forward``
    says whether the training forward pass can also serve the explanation (False for Guided
    Backprop, whose modified ReLU gradient needs its own pass).
    """

    name = "base"
    shares_forward = True

    def __init__(self, model, layer=None):
        self.model = model
        self.layer = layer
        self._explain_graph = tf.function(self._explain, reduce_retracing=True)

    def forward(self, x, training):
        """Return ``(logits, source)``; the default explains the input itself."""
        return self.model(x, training=training), x

    def from_jacobian(self, jacobian, x, source):
        """Turn ``jacobian = d logits / d source`` of shape ``[b, c, ...]`` into ``E``."""
        raise NotImplementedError

    def _jacobian_pass(self, x, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits, source = self.forward(x, training=training)
        return logits, tape, source

    def explain(self, x):
        """Explanations ``[batch, classes, ...]`` of ``x`` for every class, inference mode.

        Compiled with ``tf.function`` (traced once per input signature) when called eagerly.
        """
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        if tf.executing_eagerly():
            return self._explain_graph(x)
        return self._explain(x)

    def _explain(self, x):
        logits, tape, source = self._jacobian_pass(x, training=False)
        return self.explanations(tape, logits, x, source)

    def explanations(self, tape, logits, x, source):
        """``E`` from a recorded forward pass: by default from the Jacobian of all logits
        w.r.t. ``source`` (one vectorised backward pass). Subclasses may use a closed form."""
        return self.from_jacobian(tape.batch_jacobian(logits, source), x, source)

    def online(self, x, training):
        """The training forward pass: ``(logits, explain_fn)``.

        ``logits`` come from one forward pass (differentiable on any outer tape);
        ``explain_fn()`` returns the explanations ``E`` from that same pass, by the Jacobian
        of the recorded ops, so calling it costs only the backward passes. Call it where the
        parameters' tape is not recording (``tape.stop_recording()``), possibly inside a
        ``tf.cond`` so that it costs nothing when not needed. Explainers that cannot share
        the forward pass (Guided Backprop) run their own inference-mode pass in
        ``explain_fn``.
        """
        if not self.shares_forward:
            return self.model(x, training=training), lambda: self.explain(x)
        logits, tape, source = self._jacobian_pass(x, training=training)
        return logits, lambda: self.explanations(tape, logits, x, source)
