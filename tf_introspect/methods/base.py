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

Two-stage methods (LE's CE warm-up, Hint's and FSP's pre-training of the student on the
teacher's features) hold their stage in :attr:`Method.second_stage`, a non-trainable variable
read inside the traced step (switched per epoch by ``WarmupSwitch``: no retracing). When the
stages train different variables, :meth:`Method.stage_parts` names them and the base masks the
rest (see :meth:`Method.train_step`).

Under ``tf.distribute`` (a method built inside ``strategy.scope()``) the methods train with
Keras' own ``fit``/``evaluate``; the base works around what Keras 3.15's TensorFlow trainer
gets wrong there (see :meth:`Method.compile`, :meth:`Method._maybe_symbolic_build` and
:func:`replica_logs`), so ``MultiWorkerMirroredStrategy`` works and a run gives the same
weights with or without a strategy on the same global batch.
"""

from typing import Any

import keras
import tensorflow as tf
from absl import logging

from tf_introspect import calibration
from tf_introspect.methods.inputs import check_logits, images, sparse_labels
from tf_introspect.methods.losses import cross_entropy
from tf_introspect.methods.replicas import replica_logs, synchronized_logs


class Method(keras.Model):
    """Base of all methods: ``train_step`` = ``compute_terms`` + the shared plumbing.

    Subclasses list the names of their loss terms in ``terms`` (each gets a tracker, logged
    per epoch) and implement :meth:`compute_terms`. The total loss is ``terms["loss"]`` plus
    ``regularization``, the sum of the ``losses`` (weight decay) of every trained part; both
    are logged. ``trained_parts`` lists what the optimizer updates (the classifier, plus e.g.
    a Hint adapter or a DML peer); a teacher is never in it. ``eval_terms`` names trackers that
    :meth:`compute_eval_terms` also fills during ``evaluate``.

    Evaluation also reports the classifier's calibration, ``nll`` and ``ece``
    (:mod:`tf_introspect.calibration`: mean negative log-likelihood, expected calibration error
    over 15 confidence bins); training does not. :attr:`side_metrics` are metrics kept out of
    the logs and out of Keras' resets (matrices a callback reads: LE's diagnostics).
    """

    terms = ("ce_hard",)
    eval_terms = ()

    def save(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        """Refused with a clear error (Keras' own would name a missing ``get_config``): a
        method wraps its classifier (and a teacher or peer) and has no config of its own.
        Save :attr:`model`, the plain classifier, or checkpoint the weights."""
        raise TypeError(
            f"{type(self).__name__} is a training wrapper and is not saved whole ({filepath!s}): "
            "save the trained classifier, wrapper.model.save('model.keras') (read back by "
            "keras.models.load_model without custom objects), or checkpoint the wrapper's "
            "weights with keras.callbacks.ModelCheckpoint(path, save_weights_only=True) / "
            "wrapper.save_weights('x.weights.h5')."
        )

    #: What the training batches' inputs carry besides the images (``None``: the images
    #: alone): ``"partner"`` (CS-KD) or ``"index"`` (PS-KD), under that key of a dict whose
    #: ``"image"`` are the images; what :func:`tf_introspect.data.make_dataset`'s ``extras``
    #: makes. Evaluation takes the images alone.
    extras = None
    #: Two-stage methods: a non-trainable float ``keras.Variable``, 0 in stage 1 and 1 in
    #: stage 2, read in the traced ``train_step`` (``tf.cond``/arithmetic, never Python), so
    #: :class:`tf_introspect.callbacks.WarmupSwitch` switches it without retracing. ``None``:
    #: a single-stage method.
    second_stage = None
    #: Two-stage methods with :meth:`stage_parts`: stage 1's learning rate (``None``: the
    #: optimizer's). Applied by scaling stage 1's gradients by ``stage1_lr / learning_rate``
    #: (the optimizer's current, scheduled rate): exactly a learning rate for SGD with or
    #: without momentum; Adam-type optimizers are nearly invariant to it, so they are refused.
    stage1_lr = None

    def __init__(self, model: keras.Model, name: str | None = None, **kwargs: Any) -> None:
        check_logits(model)
        super().__init__(name=name or f"{type(self).__name__.lower()}_{model.name}", **kwargs)
        self.model = model
        self.trackers = {
            n: keras.metrics.Mean(name=n) for n in ("loss", *self.terms, "regularization")
        }
        self.calibration = {
            "nll": calibration.nll(),
            "ece": calibration.ExpectedCalibrationError(),
        }
        # The wrapper adds no layers of its own: it is built when the classifier is (needed by
        # e.g. BackupAndRestore, which restores weights before the first step).
        self.built = model.built

    def call(self, inputs, training=False):
        return self.model(images(inputs), training=training)

    def compile(
        self,
        *args: Any,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        """Keras' ``compile``; with more than one replica in sync (``MirroredStrategy`` over
        several devices, ``MultiWorkerMirroredStrategy``) one step per call and no XLA, with a
        warning if asked otherwise. Keras 3.15 fails there on both: several steps per call run
        the step in a ``tf.while_loop``/``tf.cond`` whose cross-replica gradient sum fails
        ("You must feed a value for placeholder tensor"), and XLA cannot compile it on CPU
        ("Collectives are not yet implemented for CPU devices when compiling with XLA") nor
        place the replicas' variables ("Trying to access resource ... located in device");
        Keras' own ``jit_compile="auto"`` already turns XLA off under ``tf.distribute``."""
        replicas = self.distribute_strategy.num_replicas_in_sync
        if replicas > 1 and (steps_per_execution != 1 or jit_compile is True):
            logging.warning(
                "%d replicas in sync: training with steps_per_execution=1 and "
                "jit_compile=False (asked: %s, %s), what Keras supports under "
                "tf.distribute.",
                replicas,
                steps_per_execution,
                jit_compile,
            )
            steps_per_execution, jit_compile = 1, False
        super().compile(
            *args, steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs
        )

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' build of the metrics and optimizer before ``fit``/``evaluate`` under a
        strategy, from the data set's element spec instead of a real batch.

        Keras 3.15 (``keras/src/backend/tensorflow/trainer.py``) takes a first batch from a new
        iterator over the distributed data set and merges it with
        ``strategy.reduce("MEAN", batch)``. That fails for ``MultiWorkerMirroredStrategy``,
        whose ``reduce`` cannot take the nested ``(x, y)`` batch ("Attempt to convert a value
        (PerReplica:{...}) with an unsupported type ... to a Tensor"), and with any strategy
        the extra iterator advances the training set's reshuffle seed, so a run under a
        strategy saw another data order than the same run without one. Only shapes and dtypes
        are needed, and the element spec has them. (A private Keras hook: the multi-worker
        test in ``tests/test_distribute.py`` catches a change.)
        """
        adapter = getattr(iterator, "data_adapter", None)
        if (
            iterator is not None
            and data_batch is None
            and adapter is not None
            and getattr(self, "_distribute_strategy", None) is not None
        ):
            data_batch, iterator = adapter.get_tf_dataset().element_spec, None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Return ``(logits, terms)``: the training-mode logits and a dict of scalar terms.

        ``terms["loss"]`` is the method's loss without regularisation; the other keys are the
        names in ``self.terms``. ``tape`` is the parameters' tape (already recording), for
        methods that need to pause it. The default is plain cross-entropy.
        """
        logits = self.model(x, training=True)
        ce_hard = cross_entropy(y, logits)
        return logits, {"loss": ce_hard, "ce_hard": ce_hard}

    def require_extras(self, x) -> dict:
        """``x``, checked to be the dict of images and :attr:`extras` this method trains on;
        else a ``ValueError`` saying how to make it."""
        if not isinstance(x, dict) or "image" not in x or self.extras not in x:
            got = sorted(x) if isinstance(x, dict) else f"a {type(x).__name__}"
            raise ValueError(
                f"{type(self).__name__} trains on inputs {{'image': images, "
                f"'{self.extras}': ...}}, got {got}: build the training set with "
                f"tf_introspect.data.make_dataset(..., extras={self.extras!r})."
            )
        return x

    def compute_eval_terms(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        """Extra evaluation values, ``{name: scalar}`` for the names in ``eval_terms``."""
        return {}

    @property
    def side_metrics(self) -> list[keras.metrics.Metric]:
        """Metrics that are neither logged nor reset by Keras (their owner resets them)."""
        return []

    def observe_evaluation(self, y: tf.Tensor, logits: tf.Tensor) -> None:
        """Called by ``test_step`` with the labels and inference-mode logits of each batch
        (for :attr:`side_metrics`); the default does nothing."""

    @property
    def trained_parts(self) -> list[keras.layers.Layer]:
        """The layers/models whose trainable variables the optimizer updates."""
        return [self.model]

    def stage_parts(self) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]] | None:
        """``(stage1_parts, stage2_parts)``: the layers/models each stage of a two-stage method
        trains, or ``None`` (the default): every trained part in both stages (LE's warm-up).

        Their union must be :attr:`trained_parts` (sub-models sharing the classifier's layers
        are fine: variables are matched by identity). In each stage the base then applies
        weight decay only to that stage's parts and zeroes the gradients of the other
        variables; the non-trainable variables (batch-norm statistics) of parts the stage does
        not train are put back after the step, so those parts are left bit-identical.
        """
        return None

    def _regularization(self, parts=None):
        losses = [loss for part in (parts or self.trained_parts) for loss in part.losses]
        return tf.add_n(losses) if losses else tf.constant(0.0)

    def _staging(self):
        """Stage plan of :meth:`stage_parts` (``None`` when both stages train everything):
        ``second`` (bool tensor, stage 2), ``parts``, ``stage_of`` (``id(variable)`` -> the
        only stage that trains it, for variables trained in one stage only), ``frozen``
        (``[(variable, frozen_in_stage_2)]``, non-trainable variables to put back) and
        ``scale`` (the gradients' factor: ``stage1_lr / learning_rate`` in stage 1, 0 where
        that rate is 0, else 1; ``None`` without ``stage1_lr``, which needs an SGD optimizer)."""
        parts = self.stage_parts()
        if parts is None:
            return None
        if self.second_stage is None:
            raise TypeError(f"{type(self).__name__}.stage_parts() needs a second_stage variable.")
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if getattr(optimizer, "weight_decay", None):
            raise ValueError(
                f"{type(self).__name__} trains different variables in its two stages; an "
                "optimizer with decoupled weight_decay would still shrink the frozen ones. Use "
                "the models' L2 regularisers instead (what --weight_decay sets)."
            )
        if self.stage1_lr is not None and not isinstance(optimizer, keras.optimizers.SGD):
            raise ValueError(
                f"{type(self).__name__}(stage1_lr={self.stage1_lr}) sets stage 1's rate by "
                "scaling its gradients by stage1_lr / learning_rate, which is a learning rate "
                f"for SGD only; {type(optimizer).__name__} would ignore it (Adam-type "
                "optimizers normalise the gradients' scale away). Compile with "
                "keras.optimizers.SGD, or pass stage1_lr=None to train stage 1 at the "
                "optimizer's own rate."
            )
        ids = [{id(v) for p in stage for v in p.trainable_variables} for stage in parts]
        stage_of = {i: 1 + (i in ids[1]) for i in ids[0] ^ ids[1]}
        stats = [{id(v): v for p in stage for v in p.non_trainable_variables} for stage in parts]
        frozen = [(v, True) for i, v in stats[0].items() if i not in stats[1]]
        frozen += [(v, False) for i, v in stats[1].items() if i not in stats[0]]
        second = self.second_stage > 0.5
        scale = None
        if self.stage1_lr is not None:
            # a rate of 0 (a schedule starting at 0) would give inf * 0 = NaN weights: no
            # stage-1 step at rate 0 instead, as the optimizer itself would make (kd.py warns)
            lr = tf.cast(self.optimizer.learning_rate, tf.float32)
            scale = tf.where(second, 1.0, tf.math.divide_no_nan(self.stage1_lr, lr))
        return dict(second=second, parts=parts, stage_of=stage_of, frozen=frozen, scale=scale)

    def step_seed(self, seed: int) -> tf.Tensor:
        """A stateless-RNG seed ``[seed, step]``: new every step, repeatable, resumable.

        With ``r > 1`` replicas in sync it is ``[seed, step * r + replica id]``: each replica
        draws for its own part of the batch (the same seed would give the same draws to the
        i-th sample of every replica); one device keeps ``[seed, step]``."""
        step = tf.cast(self.optimizer.iterations, tf.int64)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        context = tf.distribute.get_replica_context()  # None in cross-replica context
        if replicas > 1 and context is not None:
            step = step * replicas + tf.cast(context.replica_id_in_sync_group, tf.int64)
        return tf.stack([tf.constant(seed, tf.int64), step])

    def train_step(self, data):
        """One optimizer step on ``compute_terms``' loss plus weight decay.

        Two-stage methods with :meth:`stage_parts`: the regularisation is that of the current
        stage's parts; the gradient of every variable the current stage does not train is
        replaced by zeros (``tf.where``, so even a NaN cannot leak through); in stage 1 the
        gradients are scaled to the learning rate :attr:`stage1_lr`. A zero gradient
        leaves the variable and its SGD-momentum / Adam slots unchanged as long as those slots
        are zero, i.e. for variables not trained before: the stage-2-only variables during
        stage 1 (the first stage). The stage-1-only parts (Hint's adapter) keep coasting on
        their momentum in stage 2, which is harmless: stage 2 no longer uses them. Batch-norm
        statistics of untrained parts, which the forward pass updates, are put back.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} does not support sample weights.")
        y = sparse_labels(y)
        staging = self._staging()
        # Values before the forward pass (automatic control dependencies order this read
        # before the batch-norm updates of the same variables).
        saved = [tf.identity(v.value) for v, _ in staging["frozen"]] if staging else []
        with tf.GradientTape() as tape:
            logits, terms = self.compute_terms(x, y, tape)
            if staging is None:
                regularization = self._regularization()
            else:
                regularization = tf.where(
                    staging["second"],
                    self._regularization(staging["parts"][1]),
                    self._regularization(staging["parts"][0]),
                )
            terms = {
                **terms,
                "loss": terms["loss"] + regularization,
                "regularization": regularization,
            }
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(terms["loss"] / replicas)
        variables = [v for part in self.trained_parts for v in part.trainable_variables]
        gradients = tape.gradient(scaled, variables)
        if staging is not None:
            gradients = [
                self._stage_gradient(
                    g, staging["stage_of"].get(id(v)), staging["second"], staging["scale"]
                )
                for v, g in zip(variables, gradients)
            ]
        self.optimizer.apply_gradients(zip(gradients, variables))
        if staging is not None:
            for (v, in_stage_2), value in zip(staging["frozen"], saved):
                frozen_now = staging["second"] if in_stage_2 else ~staging["second"]
                v.assign(tf.where(frozen_now, value, v.value))
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return self.training_logs(x, y, logits)

    def training_logs(self, x: tf.Tensor, y: tf.Tensor, logits: tf.Tensor) -> dict:
        """A training step's logs: the metrics' results without the evaluation-only ones
        (calibration), as ``fit`` can reduce them (:func:`replica_logs`)."""
        logs = self.compute_metrics(x, y, logits, sample_weight=None)
        return replica_logs({k: v for k, v in logs.items() if k not in self.calibration})

    @staticmethod
    def _stage_gradient(gradient, only_stage, second, scale):
        """``gradient`` (times ``scale``) where the variable is trained in the current stage,
        else zeros."""
        if gradient is None:
            return gradient
        gradient = tf.convert_to_tensor(gradient)
        if scale is not None:
            gradient = gradient * tf.cast(scale, gradient.dtype)
        if only_stage is None:
            return gradient
        trained = second if only_stage == 2 else tf.logical_not(second)
        return tf.where(trained, gradient, tf.zeros_like(gradient))

    def test_step(self, data):
        """Evaluation: CE(p, y) on inference-mode logits, as ``ce_hard``; ``loss`` adds the
        classifier's regularisation, as Keras' own ``evaluate`` does (so it compares across
        methods); ``nll`` and ``ece``, the calibration (per sample, not per batch). Training-only
        terms are not reported."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = sparse_labels(y)
        logits = self.model(images(x), training=False)
        ce_hard = cross_entropy(y, logits)
        self.trackers["loss"].update_state(ce_hard + self._regularization([self.model]))
        self.trackers["ce_hard"].update_state(ce_hard)
        for name, value in self.compute_eval_terms(x, y).items():
            self.trackers[name].update_state(value)
        for metric in self.calibration.values():
            metric.update_state(y, logits)
        self.observe_evaluation(y, logits)
        logs = self.compute_metrics(x, y, logits, sample_weight=None)
        training_only = set(self.trackers) - {"loss", "ce_hard", *self.eval_terms}
        return replica_logs({k: v for k, v in logs.items() if k not in training_only})

    def _get_metrics_result_or_logs(self, logs):  # Keras' hook for the logs it returns
        return synchronized_logs(self, super()._get_metrics_result_or_logs(logs))

    @property
    def metrics(self):
        # Our own "loss" tracker replaces the compiled one (which a custom train_step never
        # updates), so that only one "loss" is reported.
        compiled_loss = getattr(self, "_loss_tracker", None)
        side = [id(m) for m in self.side_metrics]
        return [m for m in super().metrics if m is not compiled_loss and id(m) not in side]
