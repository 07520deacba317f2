"""Method registry: a plain dict from ``--method`` name to an :class:`Entry` (mdistiller style).

Every method is a ``keras.Model`` wrapping the classifier (``method.model``) and trained with
``compile``/``fit``; an entry says how the command line builds it from its flags and what it
needs besides the model:

=================  =======================================================  ==============
name               what                                                      needs
=================  =======================================================  ==============
``ce``             cross-entropy (baseline)                                  --
``dropout``        CE on a model with dropout (paper 5.1)                    --dropout_rate
``ls``             label smoothing, ground-truth mass --smoothing            --smoothing
``cp``             confidence penalty, CE - beta H(p)                        --cp_beta
``le``             introspective learning (paper 4, Algorithm 1)             --warmup_epochs
``le_permut``      LE with permuted non-ground-truth targets (5.4.1)         --warmup_epochs
``le_uniform``     LE with uniform non-ground-truth targets (the control)    --warmup_epochs
``kd``             Hinton KD, T^2 KL + lam CE (3, 5.3)                       teacher
``cwtm``           CE weighted by teacher max, Eq. 5 (3)                     teacher
``cwtm_permut``    CWTM, weights permuted in the batch (3)                   teacher
``cwtm_random``    CWTM, weights from U[beta, 1) (3)                         teacher
``dkpp``           KD with permuted non-argmax teacher outputs (3)           teacher
``hint``           FitNets: hint stage, then KD (5.3)                        teacher, --hint_epochs
``at``             attention transfer at 3 stages + KD (5.3)                teacher
``fsp``            flow of solution procedure stage, then KD (5.3)           teacher, --fsp_epochs
``takd``           KD teacher -> assistant -> student (5.3)                  teacher, assistant
``ban``            KD from a CE-trained copy of the model, no CE (5.2)       (self-teacher)
``ban_l``          BAN plus lam CE (5.2)                                     (self-teacher)
``dml``            deep mutual learning, two peers (5.2)                     --
=================  =======================================================  ==============

A teacher comes from ``--teacher=PATH.keras`` or is trained first with CE as
``--teacher_model=NAME`` (cached in the work folder); see :mod:`tf_introspect.teachers`.

Two-stage methods (``Entry.warmup``: the flag with their stage-1 epoch count, given to
``WarmupSwitch`` by the command line): ``le``/``le_permut``/``le_uniform`` (CE warm-up,
``--warmup_epochs``), ``hint`` (FitNets' hint training, ``--hint_epochs``) and ``fsp`` (FSP
loss, ``--fsp_epochs``);
Hint and FSP continue with KD + lam CE. Hint's and FSP's first stage is pre-training, as in
the originals: it comes before the ``--epochs`` of stage 2 and before the learning-rate
schedule (``Entry.pretrains``), so their KD stage gets KD's whole schedule.
"""

import dataclasses
from typing import Callable

from tf_introspect.methods.at import AttentionTransfer
from tf_introspect.methods.base import Method
from tf_introspect.methods.ce import CrossEntropy
from tf_introspect.methods.cp import ConfidencePenalty
from tf_introspect.methods.cwtm import ConfidenceWeighted
from tf_introspect.methods.distill import Distillation
from tf_introspect.methods.dkpp import DarkKnowledgePermuted
from tf_introspect.methods.dml import MutualLearning
from tf_introspect.methods.dropout import Dropout
from tf_introspect.methods.fsp import FlowOfSolution
from tf_introspect.methods.hint import Hint
from tf_introspect.methods.kd import KnowledgeDistillation
from tf_introspect.methods.le import Introspective, UniformIntrospective
from tf_introspect.methods.ls import LabelSmoothing

TEACHER_KINDS = ("none", "teacher", "self", "assistant")


@dataclasses.dataclass(frozen=True)
class Entry:
    """How to build one method from the command line's configuration dict.

    ``build(model, cfg, teacher)`` returns the method; ``teacher`` says what it needs:
    ``none``; ``teacher`` (``--teacher`` or ``--teacher_model``); ``self`` (a CE-trained
    model of the student's own architecture, BAN); ``assistant`` (a teacher and an assistant
    distilled from it, TAKD). ``model_options`` gives extra ``models.get`` arguments.
    ``warmup``: for a two-stage method, the name of the flag holding its stage-1 epoch count
    (``WarmupSwitch``), else ``None``. ``explains``: LE-style, gets ``ExplanationImages``.
    ``pretrains``: the stage-1 epochs come before ``--epochs`` and the learning-rate schedule
    (FitNets' and FSP's pre-training; LE's warm-up is part of the paper's epochs).
    """

    build: Callable
    teacher: str = "none"
    model_options: Callable = lambda cfg: {}
    warmup: str | None = None
    explains: bool = False
    pretrains: bool = False


def _le(permute):
    return lambda model, cfg, teacher: Introspective(
        model, explainer=cfg["explainer"], alpha=cfg["alpha"], lam=cfg["lam"],
        layer=cfg.get("layer") or None, permute=permute, seed=cfg.get("seed", 0))


def _kd(cls=KnowledgeDistillation, lam=None, **options):
    """Builder of a KD-family method; ``options`` maps constructor arguments to flag names."""
    def build(model, cfg, teacher):
        return cls(model, teacher, temperature=cfg["temperature"],
                   lam=cfg["lam"] if lam is None else lam,
                   **{arg: cfg[flag] for arg, flag in options.items()})
    return build


def _cwtm(weighting):
    return lambda model, cfg, teacher: ConfidenceWeighted(
        model, teacher, weighting=weighting, beta=cfg["cwtm_beta"], seed=cfg.get("seed", 0))


METHODS = {
    "ce": Entry(lambda model, cfg, teacher: CrossEntropy(model)),
    "dropout": Entry(lambda model, cfg, teacher: Dropout(model),
                     model_options=lambda cfg: {"dropout_rate": cfg["dropout_rate"]}),
    "ls": Entry(lambda model, cfg, teacher: LabelSmoothing(model, smoothing=cfg["smoothing"])),
    "cp": Entry(lambda model, cfg, teacher: ConfidencePenalty(model, beta=cfg["cp_beta"])),
    "le": Entry(_le(permute=False), warmup="warmup_epochs", explains=True),
    "le_permut": Entry(_le(permute=True), warmup="warmup_epochs", explains=True),
    "le_uniform": Entry(lambda model, cfg, teacher: UniformIntrospective(
        model, alpha=cfg["alpha"], lam=cfg["lam"]), warmup="warmup_epochs"),
    "kd": Entry(_kd(), teacher="teacher"),
    "cwtm": Entry(_cwtm("teacher"), teacher="teacher"),
    "cwtm_permut": Entry(_cwtm("permut"), teacher="teacher"),
    "cwtm_random": Entry(_cwtm("random"), teacher="teacher"),
    "dkpp": Entry(_kd(DarkKnowledgePermuted, seed="seed"), teacher="teacher"),
    "hint": Entry(_kd(Hint, layer="hint_layer", hint_weight="hint_weight", stage1_lr="hint_lr"),
                  teacher="teacher", warmup="hint_epochs", pretrains=True),
    "at": Entry(_kd(AttentionTransfer, at_beta="at_beta"), teacher="teacher"),
    "fsp": Entry(_kd(FlowOfSolution, fsp_weight="fsp_weight", stage1_lr="fsp_lr"),
                 teacher="teacher", warmup="fsp_epochs", pretrains=True),
    "takd": Entry(_kd(), teacher="assistant"),
    "ban": Entry(_kd(lam=0.0), teacher="self"),
    "ban_l": Entry(_kd(), teacher="self"),
    "dml": Entry(lambda model, cfg, teacher: MutualLearning(model, lam=cfg["lam"])),
}

# Two-stage methods, switched by WarmupSwitch.
WARMUP_METHODS = tuple(name for name, entry in METHODS.items() if entry.warmup)


def list_methods():
    """Return the registered method names, sorted."""
    return sorted(METHODS)


def entry(name):
    """The registry entry of ``name``, with a clear error for unknown names."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; valid choices: {', '.join(list_methods())}.")
    return METHODS[name]


def build(name, model, cfg, teacher=None):
    """Build method ``name`` around ``model`` from a configuration dict (the CLI's flags)."""
    spec = entry(name)
    if spec.teacher != "none" and teacher is None:
        raise ValueError(f"method {name!r} needs a teacher model.")
    return spec.build(model, cfg, teacher)


__all__ = ["METHODS", "Entry", "Method", "CrossEntropy", "Dropout", "LabelSmoothing",
           "ConfidencePenalty", "Introspective", "UniformIntrospective", "Distillation",
           "KnowledgeDistillation", "ConfidenceWeighted", "DarkKnowledgePermuted", "Hint",
           "AttentionTransfer", "FlowOfSolution", "MutualLearning", "build", "entry",
           "list_methods"]
