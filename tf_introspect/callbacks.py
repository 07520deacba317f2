"""Keras callbacks of introspective learning.

* :class:`WarmupSwitch`: the stage of a two-stage method per epoch: LE (Algorithm 1, CE
  for ``warmup_epochs`` then LE), Hint and FSP (stage 1 on the teacher's features).
* :class:`ExplanationImages`: TensorBoard images of the all-class explanations of a few fixed
  samples and of the mean class-similarity matrix (paper Figures 1 and 2), once per epoch.
* :class:`StopOnNaN`: Keras' ``TerminateOnNaN`` raising :class:`TrainingDiverged`, which names
  the epoch and step where the loss became NaN or infinite.
* :class:`SimilarityDiagnostics`: per epoch, the rank correlation of LE's class-by-class mean
  target with the model's confusion matrix (issue 20, :mod:`tf_introspect.diagnostics`).
* :class:`HistoryCSV`: Keras' ``CSVLogger`` that keeps an existing file's columns on resume.
"""

import inspect
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_introspect import diagnostics, targets


class WarmupSwitch(keras.callbacks.Callback):
    """Stage 1 for the first ``warmup_epochs`` epochs, then stage 2, for any two-stage method.

    LE (``Introspective``): plain CE, then the introspective loss (Algorithm 1's warm-up).
    ``Hint``: FitNets' hint training, then KD + lam CE. ``FlowOfSolution``: the FSP loss, then
    KD + lam CE. Sets the wrapper's non-trainable ``second_stage`` variable (LE's
    ``introspective``) at the start of each epoch (``epoch >= warmup_epochs``), so the
    compiled train function is traced once and reads the stage at run time. Works when
    resuming (``initial_epoch``, ``BackupAndRestore``) because the stage is derived from the
    epoch number, not from Python state. The command line gives it each method's own flag:
    ``--warmup_epochs`` (LE), ``--hint_epochs``, ``--fsp_epochs``.
    """

    def __init__(self, warmup_epochs: int) -> None:
        super().__init__()
        if int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be a whole number >= 0, got {warmup_epochs!r}.")
        self.warmup_epochs = int(warmup_epochs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        stage = getattr(self.model, "second_stage", None)
        if stage is None:
            raise TypeError(
                "WarmupSwitch needs a two-stage method with a second_stage "
                "variable (tf_introspect.Introspective, methods.Hint or "
                f"methods.FlowOfSolution), got {type(self.model).__name__}."
            )
        stage.assign(1.0 if epoch >= self.warmup_epochs else 0.0)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the run stopped and is not recorded as finished."""


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """``keras.callbacks.TerminateOnNaN(raise_error=True)`` that says where it happened.

    Raises :class:`TrainingDiverged` naming the epoch and step (1-based, as the progress bar
    counts) after which the loss was NaN or infinite, plus ``advice``. Raising, rather than
    Keras' default ``stop_training``, stops at once: the epoch is not finished, so no
    ``on_epoch_end`` saves the bad weights as ``BackupAndRestore``'s backup and no
    ``on_train_end`` deletes the backup; the one of the last finished epoch is kept. The loss is
    read every ``steps_per_execution`` steps (when Keras calls back), so the step named is the
    last of the group in which it went bad.
    """

    def __init__(self, advice: str = "") -> None:
        super().__init__(raise_error=True)
        self.advice = advice
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError:
            loss = float((logs or {})["loss"])
            raise TrainingDiverged(
                f"training diverged: the loss became {loss} in epoch {self._epoch + 1}/"
                f"{self.params.get('epochs')}, at step {batch + 1}/{self.params.get('steps')}"
                f"{self.advice}"
            ) from None


def _as_images(explanations):
    """``[n, c, h, w]`` maps in [0, 1] for display: image-shaped explanations have their
    channels summed, flat ones become one-pixel-high strips; then absolute value, each map
    scaled by its own maximum."""
    if explanations.shape.rank == 3:
        explanations = explanations[:, :, None, :]
    elif explanations.shape.rank == 5:
        explanations = tf.reduce_sum(explanations, axis=-1)
    maps = tf.abs(explanations)
    return tf.math.divide_no_nan(maps, tf.reduce_max(maps, axis=(2, 3), keepdims=True))


class ExplanationImages(keras.callbacks.Callback):
    """Log explanations and class similarities of fixed samples to TensorBoard each epoch.

    Args:
      log_dir: TensorBoard folder (images go to ``log_dir/explanations``).
      images: a few fixed inputs ``[n, h, w, c]`` (normalised like the training data).
      labels: their integer labels ``[n]``.
      explainer: name of the explainer to show (default: the wrapper's own).
      layer: Grad-CAM layer name.

    Images: ``explanations`` -- per sample one row of its ``c`` maps (channels summed, then
    absolute value, each scaled to [0, 1]); ``class_similarity`` -- the mean cosine similarity
    between class explanations over the given samples as a ``c x c`` image (paper Figure 2). Scalars
    ``similarity_to_gt/class_k``: mean cosine similarity of class ``k``'s explanation to the
    ground-truth class's (the quantity Eq. 6 turns into targets).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        images: tf.Tensor | np.ndarray,
        labels: np.ndarray | Sequence[int],
        explainer: str | None = None,
        layer: str | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = os.path.join(log_dir, "explanations")
        self.images = tf.convert_to_tensor(images, tf.float32)
        self.labels = np.asarray(labels).astype("int32")
        self.explainer_name, self.layer = explainer, layer
        self._writer = None
        self._explainer = None

    def _get_explainer(self):
        if self._explainer is None:
            from tf_introspect import explainers

            own = getattr(self.model, "explainer", None)
            name = self.explainer_name or (own.name if own is not None else "grad")
            layer = self.layer if self.layer is not None else getattr(own, "layer", None)
            if name != "grad_cam":
                layer = None
            classifier = getattr(self.model, "model", self.model)
            self._explainer = explainers.get(name, classifier, layer)
        return self._explainer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        explanations = self._get_explainer().explain(self.images)
        rows = tf.concat(tf.unstack(_as_images(explanations), axis=1), axis=2)[..., None]
        similarity = tf.reduce_mean(targets.class_similarity(explanations), axis=0)
        cos_gt = targets.cosine_to_ground_truth(explanations, self.labels)
        with self._writer.as_default(step=epoch):
            tf.summary.image(
                "explanations",
                rows,
                max_outputs=len(self.labels),
                description="each row: one sample, its explanation for every class",
            )
            tf.summary.image(
                "class_similarity",
                ((similarity + 1.0) / 2.0)[None, :, :, None],
                description="mean cosine similarity of class explanations, "
                "mapped from [-1, 1] to [0, 1]",
            )
            for k in range(cos_gt.shape[1]):
                tf.summary.scalar(f"similarity_to_gt/class_{k}", tf.reduce_mean(cos_gt[:, k]))
        self._writer.flush()


class EvaluateEachEpoch(keras.callbacks.Callback):
    """Evaluate ``data`` at the end of every epoch and add its scores to the epoch's logs as
    ``<prefix><name>`` (``test_accuracy``, ...), so that ``CSVLogger``, ``History`` and
    ``TensorBoard`` placed after it record them.

    The command line uses it for the test set when ``--validation_split`` makes the validation
    set the one ``fit`` evaluates: the test accuracy at the epoch of best validation accuracy
    is then an honest model-selected result, the maximum over epochs of the test accuracy an
    optimistic one. Evaluation changes no weights and draws no training randomness.
    """

    def __init__(self, data: tf.data.Dataset, prefix: str = "test_") -> None:
        super().__init__()
        self.data, self.prefix = data, prefix

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self.model.evaluate(self.data, verbose=0, return_dict=True)
        if logs is not None:
            logs.update({f"{self.prefix}{name}": float(v) for name, v in scores.items()})


class SimilarityDiagnostics(keras.callbacks.Callback):
    """Does LE's target point where the model errs? Adds ``q_confusion_spearman`` to each
    epoch's logs: Spearman's rank correlation between the off-diagonal entries of the
    class-by-class mean of the epoch's stage-2 targets q
    (:class:`~tf_introspect.diagnostics.ClassMeanTargets`) and of the model's confusion
    matrix on the last evaluation of the epoch (the validation data ``fit`` evaluates,
    or the test set of an :class:`EvaluateEachEpoch` placed before this callback). NaN in
    the warm-up, for constant rest targets (LE-Uniform) and without errors. Place it before
    ``CSVLogger`` and ``TensorBoard``, which then record it. Does nothing for a model without
    the two matrices (any method but LE's).
    """

    KEY = "q_confusion_spearman"

    def _matrices(self):
        means = getattr(self.model, "target_means", None)
        confusion = getattr(self.model, "confusion", None)
        return (means, confusion) if means and confusion else None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        found = self._matrices()
        if found:
            found[0].reset_state()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        found = self._matrices()
        if found is None or logs is None:
            return
        means, confusion = found
        logs[self.KEY] = (
            diagnostics.rank_correlation(means.matrix(), confusion.matrix())
            if means.counts().sum() > 0
            else float("nan")
        )


class HistoryCSV(keras.callbacks.CSVLogger):
    """``keras.callbacks.CSVLogger(filename, append=True)`` that, appending to a file that has
    a header (a resumed run), writes the header's columns: Keras takes the columns from the
    first epoch's logs, so a run resumed by code that logs more (or other) values would write
    rows that no longer match the header. New values are then left out of this file (they are
    in TensorBoard's), and a column the logs lack is written as ``NA``, as Keras does."""

    def __init__(self, filename: str | os.PathLike) -> None:
        super().__init__(filename, append=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if os.path.exists(self.filename):
            import csv

            with open(self.filename, newline="") as f:
                header = next(csv.reader(f), None)
            if header and header[0] == "epoch":
                self.keys = header[1:]


def fit_callbacks(args: tuple, kwargs: dict) -> tuple[inspect.BoundArguments, list]:
    """``Model.fit``'s arguments (without ``self``) bound by name, and its callbacks as a
    list however given (by name or position, a list or a ``CallbackList``): for the methods
    whose ``fit`` checks them (Hint's and FSP's ``WarmupSwitch``) or adds one (PS-KD's
    ``ProgressiveAlpha``)."""
    bound = inspect.signature(keras.Model.fit).bind(None, *args, **kwargs)
    given = bound.arguments.get("callbacks")
    return bound, list(getattr(given, "callbacks", given) or [])
