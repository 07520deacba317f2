"""LE: introspective learning with online self-explanations (paper section 4, Algorithm 1).

Stage 1 (warm-up) trains with CE(p, y). Stage 2, every batch: one forward pass gives the logits
and, through an inner tape, the explanation of every sample for every class (``explainers``);
Eq. 6 turns them into soft targets ``q`` (``targets.explanation_targets``, a constant:
``stop_gradient``); the loss is ``CE(p, q) + lam * CE(p, y)`` plus weight decay.

The stage is a non-trainable variable read inside the traced ``train_step``: a ``tf.cond``
chooses the targets (Eq. 6 in stage 2, one-hot ``y`` in stage 1), so switching
(:class:`tf_introspect.callbacks.WarmupSwitch`) does not retrace and no explanation is computed
during warm-up.

:class:`UniformIntrospective` (``le_uniform``) is the control LE needs: the same loss, warm-up and
schedule, with Eq. 6's non-ground-truth shares replaced by the uniform ``(1 - alpha) / (K - 1)``
(label smoothing at LE's ground-truth mass, plus ``lam * CE(p, y)``), computing no explanation.
What LE gains over it is what the explanations' class similarity adds.
"""

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from tf_introspect import diagnostics, explainers, targets
from tf_introspect.methods.base import Method
from tf_introspect.methods.losses import cross_entropy, entropy, soft_cross_entropy


class Introspective(Method):
    """Wraps ``model`` (inputs -> logits) for introspective learning.

    Args:
      model: the classifier to train; ``wrapper.model`` is the plain trained model.
      explainer: ``grad``, ``grad_input``, ``guided_bp`` or ``grad_cam`` (paper 5.4.2);
        ``"auto"`` (default): the command line's choice for the model's kind,
        ``grad_cam`` for a model with a 4-D layer (a CNN), ``grad`` otherwise (an MLP).
      alpha: ground-truth mass of the targets (Eq. 6), in (0, 1); paper 0.9.
      lam: weight of the one-hot term ``lam * CE(p, y)``, >= 0; paper 0.1.
      layer: Grad-CAM layer name (default: the last 4-D layer).
      permute: LE-Permut ablation (paper 5.4.1): non-ground-truth targets shuffled per sample.
      seed: seed of the LE-Permut shuffles (stateless, combined with the step counter).
      similarity_temperature: ``None`` (default): Eq. 6; ``T > 0``: the non-ground-truth mass
        shared in proportion to ``exp(cos / T)`` (not in the paper; :mod:`tf_introspect.targets`).
      introspective: initial stage; ``True`` (default) means the introspective loss is on from
        the first step. ``WarmupSwitch`` sets it per epoch.

    Logged per epoch: ``loss`` (total), ``ce_soft`` = CE(p, q), ``ce_hard`` = CE(p, y),
    ``regularization``, ``q_entropy`` (mean entropy of q, nats) and ``introspective`` (fraction
    of steps in stage 2). ``loss = ce_soft + lam * ce_hard + regularization`` in stage 2 and
    ``ce_hard + regularization`` in stage 1. The diagnostics of :mod:`tf_introspect.diagnostics`
    (0 in stage 1): ``q_kl_ls``, the mean KL of q from label smoothing at the same
    ground-truth mass, ``q_kl_ls_rest`` the same divided by ``1 - alpha`` (the non-ground-truth
    part's KL from uniform), ``q_top_other_agreement``, the share of samples whose largest
    non-ground-truth target is the model's largest non-ground-truth logit. For the per-epoch
    rank correlation of q with the model's errors (``callbacks.SimilarityDiagnostics``) it
    accumulates :attr:`target_means` (stage-2 training batches) and :attr:`confusion`
    (evaluation), both :attr:`side_metrics`.
    """

    terms = (
        "ce_soft",
        "ce_hard",
        "q_entropy",
        "introspective",
        "q_kl_ls",
        "q_kl_ls_rest",
        "q_top_other_agreement",
    )

    def __init__(
        self,
        model: keras.Model,
        explainer: str | None = "auto",
        alpha: float = 0.9,
        lam: float = 0.1,
        layer: str | None = None,
        permute: bool = False,
        seed: int = 0,
        introspective: bool = True,
        similarity_temperature: float | None = None,
        **kwargs: Any,
    ) -> None:
        targets.check_alpha(alpha)
        targets.check_temperature(similarity_temperature)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}.")
        super().__init__(model, **kwargs)
        if explainer == "auto":
            explainer = explainers.default_for(model)
        self.explainer = None if explainer is None else explainers.get(explainer, model, layer)
        self.alpha, self.lam, self.permute, self.seed = float(alpha), float(lam), permute, seed
        self.similarity_temperature = similarity_temperature
        self.introspective = keras.Variable(
            float(introspective), trainable=False, dtype="float32", name="introspective"
        )
        outputs = getattr(model, "outputs", None)
        num_classes = int(outputs[0].shape[-1]) if outputs else None
        self.target_means = num_classes and diagnostics.ClassMeanTargets(num_classes)
        self.confusion = num_classes and diagnostics.ConfusionMatrix(num_classes)

    @property
    def side_metrics(self) -> list[keras.metrics.Metric]:
        return [m for m in (self.target_means, self.confusion) if m]

    def observe_evaluation(self, y: tf.Tensor, logits: tf.Tensor) -> None:
        if self.confusion:
            self.confusion.update_state(y, logits)

    def reset_metrics(self) -> None:
        """Keras' reset (every epoch, every ``evaluate``), and the evaluation's confusion
        matrix; :attr:`target_means` is reset by ``SimilarityDiagnostics`` at an epoch's start
        only, so it survives the epoch's closing evaluation."""
        super().reset_metrics()
        if self.confusion:
            self.confusion.reset_state()

    @property
    def second_stage(self) -> keras.Variable:
        """The generic stage variable of two-stage methods (``WarmupSwitch``): ``introspective``."""
        return self.introspective

    def forward(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, Callable[[], tf.Tensor]]:
        """``(logits, introspective_targets)``: the training-mode logits and a function giving
        stage 2's targets ``q`` (Eq. 6 from the explanations of this same pass)."""
        logits, explain = self.explainer.online(x, training=True)
        return logits, lambda: targets.explanation_targets(
            explain(),
            y,
            alpha=self.alpha,
            permute=self.permute,
            seed=self.step_seed(self.seed),
            temperature=self.similarity_temperature,
        )

    def compute_terms(
        self, x: tf.Tensor, y: tf.Tensor, tape: tf.GradientTape
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        logits, introspective_targets = self.forward(x, y)
        num_classes = tf.shape(logits)[-1]
        active = self.introspective > 0.5

        # Only the targets sit in the tf.cond, outside the parameters' tape: the forward
        # pass and the gradient path are the same in both stages (no retracing, no cond in
        # the backward pass), and the Jacobian is only computed in stage 2.
        with tape.stop_recording():
            q = tf.stop_gradient(
                tf.cond(
                    active,
                    introspective_targets,
                    lambda: tf.one_hot(y, num_classes, dtype=logits.dtype),
                )
            )
        stage = tf.cast(active, logits.dtype)
        ce_soft, ce_hard = soft_cross_entropy(q, logits), cross_entropy(y, logits)
        # stage 1: q = y, so the loss is CE(p, y); stage 2: CE(p, q) + lam * CE(p, y)
        return logits, {
            "loss": ce_soft + stage * self.lam * ce_hard,
            "ce_soft": stage * ce_soft,
            "ce_hard": ce_hard,
            "q_entropy": stage * entropy(q),
            "introspective": stage,
            **self.diagnose(q, logits, y, stage),
        }

    def diagnose(
        self, q: tf.Tensor, logits: tf.Tensor, y: tf.Tensor, stage: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The batch's diagnostics (class docstring), 0 in stage 1; adds the stage-2 batches'
        targets to :attr:`target_means`. Reads ``q`` and ``logits`` only: the loss and its
        gradient are the same with or without it (``tests/test_diagnostics.py`` checks the
        weights)."""
        stage = tf.cast(stage, tf.float32)
        kl = tf.reduce_mean(diagnostics.label_smoothing_kl(q, y, self.alpha))
        if self.target_means:
            self.target_means.update_state(y, q, sample_weight=stage)
        return {
            "q_kl_ls": stage * kl,
            "q_kl_ls_rest": stage * kl / (1.0 - self.alpha),
            "q_top_other_agreement": stage
            * tf.reduce_mean(diagnostics.top_other_agreement(q, logits, y)),
        }


class UniformIntrospective(Introspective):
    """LE-Uniform (``le_uniform``): LE with the explanations' structure removed.

    Stage 2's targets are ``q[gt] = alpha``, ``q[k] = (1 - alpha) / (K - 1)`` for every other
    class (:func:`tf_introspect.targets.uniform_targets`), the limit of Eq. 6 when every class's
    explanation is equally similar to the ground truth's; loss ``CE(p, q) + lam * CE(p, y)``,
    warm-up and logged terms as :class:`Introspective` (``q_entropy`` is then constant). No
    explanation is computed: the forward pass is the plain model's, so the warm-up is CE's.
    """

    def __init__(
        self,
        model: keras.Model,
        alpha: float = 0.9,
        lam: float = 0.1,
        introspective: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, explainer=None, alpha=alpha, lam=lam, introspective=introspective, **kwargs
        )

    def forward(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, Callable[[], tf.Tensor]]:
        logits = self.model(x, training=True)
        return logits, lambda: targets.uniform_targets(
            y, tf.shape(logits)[-1], self.alpha, dtype=logits.dtype
        )
