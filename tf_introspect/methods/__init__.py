"""Method registry: a plain dict from method name to its constructor (mdistiller style).

Every method is a ``keras.Model`` wrapping the classifier (``method.model``) and trained with
``compile``/``fit``:

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
``cskd``           CS-KD: T^2 KL to a same-class partner (Yun et al. 2020)  partner pairs
``tfkd_self``      Tf-KD_self: KD from a CE-trained copy (Yuan et al. 2020)  (self-teacher)
``tfkd_reg``       Tf-KD_reg: KL from a designed teacher (Yuan et al. 2020)  --
``pskd``           PS-KD: targets mix y and the last epoch's prediction      sample indices
=================  =======================================================  ==============

The last four are the teacher-free self-distillation that followed the paper; ``cskd`` and
``pskd`` train on inputs with more than images (:attr:`Method.extras`: a same-class partner, or
each sample's index), made by :func:`tf_introspect.data.make_dataset` with ``extras``.

``tf_introspect.methods.get(name, model, [teacher,] **options)`` builds one by name, with the
constructor's own arguments (e.g. ``get("le", model, explainer="grad")``, ``get("kd", model,
teacher, temperature=4.0)``). How the command line builds each from its flags, what teacher it
needs and its stages are in :mod:`tf_introspect.pipeline.registry`.
"""

import functools

from tf_introspect.methods.at import AttentionTransfer
from tf_introspect.methods.base import Method
from tf_introspect.methods.ce import CrossEntropy
from tf_introspect.methods.cp import ConfidencePenalty
from tf_introspect.methods.cskd import ClassWiseSelfDistillation
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
from tf_introspect.methods.pskd import ProgressiveAlpha, ProgressiveSelfDistillation
from tf_introspect.methods.tfkd import TeacherFreeRegularization, TeacherFreeSelf


def _variant(cls, **fixed):
    """``cls`` with some constructor arguments fixed (a paper variant of a method)."""
    return functools.partial(cls, **fixed)


#: name -> constructor ``(model, [teacher,] **options)``.
METHODS = {
    "ce": CrossEntropy,
    "dropout": Dropout,
    "ls": LabelSmoothing,
    "cp": ConfidencePenalty,
    "le": Introspective,
    "le_permut": _variant(Introspective, permute=True),
    "le_uniform": UniformIntrospective,
    "kd": KnowledgeDistillation,
    "cwtm": _variant(ConfidenceWeighted, weighting="teacher"),
    "cwtm_permut": _variant(ConfidenceWeighted, weighting="permut"),
    "cwtm_random": _variant(ConfidenceWeighted, weighting="random"),
    "dkpp": DarkKnowledgePermuted,
    "hint": Hint,
    "at": AttentionTransfer,
    "fsp": FlowOfSolution,
    "takd": KnowledgeDistillation,  # distilled from an assistant (the pipeline trains it)
    "ban": _variant(KnowledgeDistillation, lam=0.0),
    "ban_l": KnowledgeDistillation,
    "dml": MutualLearning,
    "cskd": ClassWiseSelfDistillation,
    "tfkd_self": TeacherFreeSelf,
    "tfkd_reg": TeacherFreeRegularization,
    "pskd": ProgressiveSelfDistillation,
}


def list_methods() -> list[str]:
    """Return the registered method names, sorted."""
    return sorted(METHODS)


def get(name: str, model, *args, **options) -> Method:
    """Method ``name`` around ``model`` (a teacher-based one takes the teacher next), with
    its constructor's ``options``; an unknown name is an error listing the valid ones."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; valid choices: {', '.join(list_methods())}.")
    return METHODS[name](model, *args, **options)


__all__ = [
    "METHODS",
    "Method",
    "CrossEntropy",
    "Dropout",
    "LabelSmoothing",
    "ConfidencePenalty",
    "Introspective",
    "UniformIntrospective",
    "Distillation",
    "KnowledgeDistillation",
    "ConfidenceWeighted",
    "DarkKnowledgePermuted",
    "Hint",
    "AttentionTransfer",
    "FlowOfSolution",
    "MutualLearning",
    "ClassWiseSelfDistillation",
    "TeacherFreeSelf",
    "TeacherFreeRegularization",
    "ProgressiveSelfDistillation",
    "ProgressiveAlpha",
    "get",
    "list_methods",
]
