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

``explain(x, training)`` chains them. :meth:`Explainer.online` gives a training step its logits
and a function computing ``E``, called only when needed (LE's stage 2, inside a ``tf.cond``);
that function runs the explainer's own pass, ``explain(x, training)``, except where ``E`` is a
closed form of a value of the step's own pass (Grad-CAM with a GAP + linear head): a cond that
took the Jacobian of the step's own pass changed how Grappler optimises that pass, and LE's
warm-up was no longer CE bit for bit (:meth:`Explainer.online`).

**Batch normalisation in training mode.** A ``BatchNormalization`` layer in training mode
normalises with the moments of the current batch, so every sample's logits depend on every
input, and ``batch_jacobian`` (which differentiates the sum over the batch) would add ``B - 1``
cross-sample terms to ``e_i^k``. In training mode every explainer therefore explains the network
with **the batch's moments held constant**: the forward values are exactly the training step's
(the network that computes this step's loss, paper Algorithm 1), and ``e_i^k`` is the gradient
along sample ``i``'s own path, as Eq. 6 needs per sample. A pass that only explains
(``explain(x, training=True)``, also the explainers' own pass in LE's step) stop-gradients the
moments and leaves the moving statistics alone (the step's pass updates them, once). A pass
shared with the training step (``Explainer.shares_forward``) computes the moments out of sight
of the explanation's tape only (its ``stop_recording``): the parameters' tape still sees the
true batch-norm gradient, and the moving statistics are updated once.
This patches Keras' private ``BatchNormalization._moments``, checked when a model with batch
norm is explained (:func:`check_keras_batch_norm`); a batch-statistics layer of another class
cannot be held and gets a warning naming it (:func:`unheld_batch_statistics`).
Dropout is active in training mode: a shared pass explains with the step's own masks, an own
pass draws its own.
"""

import contextlib
import functools
import inspect
import re
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf
from absl import logging

from tf_introspect.explainers.patching import patched, patched_per_thread


def model_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer of ``model``, those of nested models included."""
    flatten = getattr(model, "_flatten_layers", None)
    return list(flatten(include_self=False, recursive=True)) if flatten else list(model.layers)


def check_keras_batch_norm() -> None:
    """Raise ``RuntimeError`` unless this Keras' ``BatchNormalization`` has what
    :func:`held_batch_statistics` patches: the private method ``_moments(inputs, mask)``,
    looked up by ``call`` together with ``moving_mean`` / ``moving_variance`` (Keras 3.15,
    the version tested; ``pyproject.toml`` bounds it). A later Keras that renamed or inlined
    them would otherwise be patched without effect: cross-sample explanations without a word.
    """
    bn = keras.layers.BatchNormalization
    moments = getattr(bn, "_moments", None)
    try:
        params = list(inspect.signature(moments).parameters) if callable(moments) else None
        names = set(bn.call.__code__.co_names)
    except (TypeError, ValueError, AttributeError):
        params, names = None, set()
    if (
        params != ["self", "inputs", "mask"]
        or not {"_moments", "moving_mean", "moving_variance"} <= names
    ):
        raise RuntimeError(
            f"tf_introspect explains batch-norm networks in training mode by patching the "
            f"private method keras.layers.BatchNormalization._moments(inputs, mask), which "
            f"BatchNormalization.call must use; Keras {keras.__version__} does not have it in "
            f"that form (found: {'no _moments' if params is None else params}). Install the "
            "tested Keras, keras>=3.15,<3.16 (requirements.txt pins keras==3.15.1)."
        )


#: Class names of batch-statistics layers, and names of their running-statistics variables
#: (Keras', PyTorch-style ports'): :func:`unheld_batch_statistics`' heuristic.
_BATCH_NORM_CLASS = re.compile(r"batch_?norm", re.IGNORECASE)
_RUNNING_STATISTICS = {"moving_mean", "moving_variance", "running_mean", "running_var"}


def unheld_batch_statistics(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers of ``model`` that look like normalisations with batch statistics but are not a
    ``keras.layers.BatchNormalization`` (nor a subclass), so :func:`held_batch_statistics`
    cannot hold their moments: in training mode their explanations keep the ``B - 1``
    cross-sample terms. Of Keras 3.15's own layers only ``BatchNormalization`` normalises
    across samples (``LayerNormalization``, ``GroupNormalization``, ``UnitNormalization``,
    ``RMSNormalization`` work per sample; ``Normalization`` uses adapted constants). The
    heuristic: a class name containing ``BatchNorm`` / ``batch_norm``, or an own (not a
    sub-layer's) variable named ``moving_mean``, ``moving_variance``, ``running_mean`` or
    ``running_var``. A layer taking batch moments without either is not found.
    """
    found = []
    for layer in model_layers(model):
        if isinstance(layer, (keras.layers.BatchNormalization, keras.Model)):
            continue
        inner = {id(v) for sub in model_layers(layer) for v in sub.weights}
        own = {v.name.split("/")[-1] for v in layer.weights if id(v) not in inner}
        if _BATCH_NORM_CLASS.search(type(layer).__name__) or own & _RUNNING_STATISTICS:
            found.append(layer)
    return found


def _batch_norms(model):
    layers = [
        layer for layer in model_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if layers:
        check_keras_batch_norm()
    return layers


def held_batch_statistics(
    model: keras.Model, tape: tf.GradientTape | None = None, moments: dict | None = None
) -> contextlib.AbstractContextManager[int]:
    """Context in which every training-mode ``BatchNormalization`` of ``model`` is explained
    with its batch moments held constant (module docstring).

    With ``tape`` (the explanation's tape, during the training step's own forward pass) only
    that tape sees the moments as constants; other tapes see the true gradient and the moving
    statistics are updated as usual. Without, the moments are ``stop_gradient``-ed and the
    moving statistics are not updated (a pass that only explains); with ``moments``
    (:func:`recorded_moments` of the step's pass) those are the moments, not the pass's own.
    """
    layers = _batch_norms(model)
    if tape is not None:
        return patched_per_thread(
            [(layer, "_moments", lambda original: _unseen_by(tape, original)) for layer in layers]
        )
    return patched_per_thread(
        [
            (layer, "call", functools.partial(_explanation_only_call, layer, moments=moments))
            for layer in layers
        ]
    )


@contextlib.contextmanager
def recorded_moments(model: keras.Model) -> Iterator[dict]:
    """Context in which the batch moments every ``BatchNormalization`` of ``model`` computes
    are recorded, by layer, in the dict it yields (for :func:`held_batch_statistics`). Under a
    strategy of several replicas, a synchronized batch norm's moments are an all-reduce, a
    cross-replica sync that ``MirroredStrategy`` does not support inside a ``tf.cond`` (LE's
    explanation): an explanation pass there takes the moments of the step's own pass (the
    same values, the same network on the same batch, except after a ``Dropout``: the pass
    draws its own masks, and a warning says so)."""
    found = {}

    def recorder(layer, moments):
        def record(inputs, mask):
            found.setdefault(id(layer), []).append(moments(inputs, mask))
            return found[id(layer)][-1]

        return record

    layers = _batch_norms(model)
    with patched_per_thread(
        [(layer, "_moments", functools.partial(recorder, layer)) for layer in layers]
    ):
        yield found


def _unseen_by(tape, moments):
    def held_moments(inputs, mask):
        with tape.stop_recording():
            return moments(inputs, mask)

    return held_moments


def _explanation_only_call(layer, call, moments=None):
    """``layer``'s ``call`` normalising with the stop-gradient batch moments (its own, or the
    next of ``moments[id(layer)]``), without updating the moving statistics: Keras' inference
    branch, given the batch moments as its statistics (no cross-replica sync runs while they
    stand in for the moving statistics)."""
    calls = iter(moments[id(layer)]) if moments and id(layer) in moments else None

    def held_call(inputs, training=None, mask=None):
        if not (training and layer.trainable):
            return call(inputs, training=training, mask=mask)
        if layer.renorm:
            raise ValueError(
                f"Training-mode explanations do not support batch renormalization "
                f"(layer {layer.name!r})."
            )
        inputs = tf.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        found = next(calls, None) if calls is not None else layer._moments(inputs, mask)
        if found is None:
            raise RuntimeError(
                f"batch norm {layer.name!r} is called more often in the explanation pass than "
                "in the training step's pass whose moments it replays (recorded_moments)"
            )
        mean, variance = (tf.stop_gradient(m) for m in found)
        with patched([(layer, "moving_mean", mean), (layer, "moving_variance", variance)]):
            return call(inputs, training=False, mask=mask)

    return held_call


def as_float(x: tf.Tensor) -> tf.Tensor:
    """``x`` as a tensor, cast to float32 unless it is floating already (integer images)."""
    x = tf.convert_to_tensor(x)
    return x if x.dtype.is_floating else tf.cast(x, tf.float32)


class Explainer:
    """Base class: gradient of every logit w.r.t. ``source``, turned into explanations.

    Subclasses set ``name`` and override ``forward`` / ``from_jacobian``. ``shares_forward``:
    whether LE's step takes the explanation from its own forward pass, which is safe only where
    that needs no Jacobian of the step's pass (Grad-CAM's closed form), or runs the explainer's
    own pass (the default; Guided Backprop's modified ReLU gradient needs one anyway); see
    :meth:`online`.
    """

    name = "base"
    shares_forward = False

    def __init__(self, model: keras.Model, layer: str | None = None) -> None:
        self.model = model
        self.layer = layer
        self._explain_graph = tf.function(self._explain, reduce_retracing=True)
        if any(isinstance(part, keras.layers.BatchNormalization) for part in model_layers(model)):
            check_keras_batch_norm()  # at construction: the command line fails at start
        for unheld in unheld_batch_statistics(model):
            logging.warning(
                "Layer %r (%s) of model %r looks like a normalisation with batch statistics "
                "but is not a keras.layers.BatchNormalization: in training mode (LE's step, "
                "explain(..., training=True)) its batch moments cannot be held constant, so "
                "each sample's explanation also depends on the other samples of the batch. "
                "Use keras.layers.BatchNormalization (or a subclass) for per-sample "
                "explanations.",
                unheld.name,
                type(unheld).__name__,
                model.name,
            )

    def forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """Return ``(logits, source)``; the default explains the input itself."""
        return self.model(x, training=training), x

    def from_jacobian(self, jacobian: tf.Tensor, x: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
        """Turn ``jacobian = d logits / d source`` of shape ``[b, c, ...]`` into ``E``."""
        raise NotImplementedError

    def _jacobian_pass(self, x, training, shared=False, moments=None):
        """The forward pass under the explanation's tape, batch moments held (module
        docstring); ``shared``: it is also the training step's pass. Integer images
        (``uint8`` batches, as tfds yields them) are cast to float first: a tape cannot
        watch an integer tensor (TensorFlow only warns), and every input gradient -- Grad,
        Grad*Input -- would be zero, Eq. 6's targets uniform off the ground truth: label
        smoothing without a word. The model casts its input to float anyway, so the forward
        values are the same."""
        x = as_float(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            with held_batch_statistics(self.model, tape if shared else None, moments):
                logits, source = self.forward(x, training=training)
        return logits, tape, source

    def explain(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Explanations ``[batch, classes, ...]`` of ``x`` for every class.

        ``training=False``: inference mode. ``training=True``: the training step's mode, batch
        moments held constant (module docstring), moving statistics not updated. Compiled
        with ``tf.function`` (traced once per input signature and mode) when called eagerly.
        """
        x = tf.cast(as_float(x), tf.float32)
        if tf.executing_eagerly():
            return self._explain_graph(x, bool(training))
        return self._explain(x, training)

    def _explain(self, x, training, moments=None):
        logits, tape, source = self._jacobian_pass(x, training, moments=moments)
        return self.explanations(tape, logits, x, source)

    def explanations(
        self, tape: tf.GradientTape, logits: tf.Tensor, x: tf.Tensor, source: tf.Tensor
    ) -> tf.Tensor:
        """``E`` from a recorded forward pass: by default from the Jacobian of all logits
        w.r.t. ``source`` (one vectorised backward pass). Subclasses may use a closed form."""
        return self.from_jacobian(tape.batch_jacobian(logits, source), x, source)

    def online(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, Callable[[], tf.Tensor]]:
        """The training forward pass: ``(logits, explain_fn)``.

        ``logits`` come from the step's forward pass (differentiable on any outer tape, with
        the true batch-norm gradient); ``explain_fn()`` returns the explanations ``E``, equal
        to ``explain(x, training)``. Call it where the parameters' tape is not recording
        (``tape.stop_recording()``), possibly inside a ``tf.cond`` so that it costs nothing
        when not needed (LE's warm-up).

        By default ``explain_fn`` runs the explainer's own pass, ``explain(x, training)``: a
        ``tf.cond`` around it captures only ``x`` and the variables, the step's pass is a plain
        ``model(x, training)``, and LE's warm-up trains CE's weights bit for bit
        (``tests/test_warmup.py``). Taking the Jacobian of the step's own recorded pass instead
        (Grad and Grad*Input until issue 16) saves one forward pass per step, but the cond then
        captures forward tensors that the Jacobian needs only for their dynamic shape (with an
        unknown batch size): the inputs of each residual ``Add``, for its broadcasting
        gradient. Each gets one more data consumer, and Grappler's arithmetic optimiser
        (``AddOpsRewrite``, which merges a chain of adds only through nodes with a single
        consumer other than ``Shape``) stops regrouping batch norm's
        ``x * inv + (beta - mean * inv)`` followed by ``+ shortcut`` into
        ``(x * inv + shortcut) + (beta - mean * inv)``, as it does in CE's graph: the sums
        differ in the last bit (ResNet-8: 17 % of them), and the run with them. With
        ``shares_forward`` (Grad-CAM's closed form) ``explain_fn`` computes ``E`` from the
        step's own pass without a Jacobian: the cond captures only the explained activation.
        """
        x = as_float(x)  # integer images: see _jacobian_pass (Grad*Input multiplies by x)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if not self.shares_forward:
            if not (training and replicas > 1):
                return self.model(x, training=training), lambda: self.explain(x, training)
            if any(
                isinstance(layer, keras.layers.Dropout) and layer.rate
                for layer in model_layers(self.model)
            ):
                logging.warning(
                    "Model %r has dropout: under %d replicas the explanation pass normalises "
                    "with the batch moments of the training step's pass, whose dropout masks "
                    "differ from its own (explainers.base.recorded_moments).",
                    self.model.name,
                    replicas,
                )
            with recorded_moments(self.model) as moments:  # no all-reduce in the cond
                logits = self.model(x, training=training)
            return logits, lambda: self._explain(tf.cast(x, tf.float32), training, moments)
        logits, tape, source = self._jacobian_pass(x, training, shared=True)
        return logits, lambda: self.explanations(tape, logits, x, source)
