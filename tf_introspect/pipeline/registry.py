"""How the command line builds each method of :data:`tf_introspect.methods.METHODS` from a
:class:`~tf_introspect.pipeline.config.RunConfig`, what it needs besides the model, and its
stages: a plain dict from ``--method`` name to an :class:`Entry`.

A teacher comes from ``--teacher=PATH.keras`` or is trained first with CE as
``--teacher_model=NAME`` (cached in the work folder); see :mod:`tf_introspect.pipeline.teachers`.

Two-stage methods (``Entry.warmup``: the flag with their stage-1 epoch count, given to
``WarmupSwitch``): ``le``/``le_permut``/``le_uniform`` (CE warm-up, ``--warmup_epochs``),
``hint`` (FitNets' hint training, ``--hint_epochs``) and ``fsp`` (FSP loss, ``--fsp_epochs``);
Hint and FSP continue with KD + lam CE. Hint's and FSP's first stage is pre-training, as in
the originals: it comes before the ``--epochs`` of stage 2 and before the learning-rate
schedule (``Entry.pretrains``), so their KD stage gets KD's whole schedule.
"""

import dataclasses
from collections.abc import Callable

from tf_introspect import methods

TEACHER_KINDS = ("none", "teacher", "self", "assistant")


def _none(config):
    return {}


@dataclasses.dataclass(frozen=True)
class Entry:
    """How to build one method from a run configuration.

    ``options(config)``: the constructor's keyword arguments; ``teacher``: what it needs
    besides the model: ``none``; ``teacher`` (``--teacher`` or ``--teacher_model``); ``self``
    (a CE-trained model of the student's own architecture, BAN); ``assistant`` (a teacher and
    an assistant distilled from it, TAKD). ``model_options(config)``: extra ``models.get``
    arguments. ``warmup``: for a two-stage method, the name of the setting holding its
    stage-1 epoch count (``WarmupSwitch``), else ``None``. ``explains``: LE-style, gets
    ``ExplanationImages``. ``pretrains``: the stage-1 epochs come before ``--epochs`` and the
    learning-rate schedule (FitNets' and FSP's pre-training; LE's warm-up is part of the
    paper's epochs).
    """

    options: Callable = _none
    teacher: str = "none"
    model_options: Callable = _none
    warmup: str | None = None
    explains: bool = False
    pretrains: bool = False


def _le(config):
    return dict(
        similarity_temperature=config.similarity_temperature,
        explainer=config.explainer,
        alpha=config.alpha,
        lam=config.lam,
        layer=config.layer or None,
        seed=config.seed,
    )


def _kd(config):
    return dict(temperature=config.temperature, lam=config.lam)


def _cwtm(config):
    return dict(beta=config.cwtm_beta, seed=config.seed)


def _tfkd(config):
    return dict(
        alpha=config.tfkd_alpha, temperature=config.tfkd_temperature, weight=config.tfkd_weight
    )


ENTRIES = {
    "ce": Entry(),
    "dropout": Entry(model_options=lambda c: {"dropout_rate": c.dropout_rate}),
    "ls": Entry(lambda c: {"smoothing": c.smoothing}),
    "cp": Entry(lambda c: {"beta": c.cp_beta}),
    "le": Entry(_le, warmup="warmup_epochs", explains=True),
    "le_permut": Entry(_le, warmup="warmup_epochs", explains=True),
    "le_uniform": Entry(lambda c: {"alpha": c.alpha, "lam": c.lam}, warmup="warmup_epochs"),
    "kd": Entry(_kd, teacher="teacher"),
    "cwtm": Entry(_cwtm, teacher="teacher"),
    "cwtm_permut": Entry(_cwtm, teacher="teacher"),
    "cwtm_random": Entry(_cwtm, teacher="teacher"),
    "dkpp": Entry(lambda c: {**_kd(c), "seed": c.seed}, teacher="teacher"),
    "hint": Entry(
        lambda c: {
            **_kd(c),
            "layer": c.hint_layer,
            "hint_weight": c.hint_weight,
            "stage1_lr": c.hint_lr,
        },
        teacher="teacher",
        warmup="hint_epochs",
        pretrains=True,
    ),
    "at": Entry(lambda c: {**_kd(c), "at_beta": c.at_beta}, teacher="teacher"),
    "fsp": Entry(
        lambda c: {**_kd(c), "fsp_weight": c.fsp_weight, "stage1_lr": c.fsp_lr},
        teacher="teacher",
        warmup="fsp_epochs",
        pretrains=True,
    ),
    "takd": Entry(_kd, teacher="assistant"),
    "ban": Entry(lambda c: {"temperature": c.temperature}, teacher="self"),
    "ban_l": Entry(_kd, teacher="self"),
    "dml": Entry(lambda c: {"lam": c.lam}),
    "cskd": Entry(lambda c: {"temperature": c.temperature, "weight": c.cskd_weight}),
    "tfkd_self": Entry(_tfkd, teacher="self"),
    "tfkd_reg": Entry(lambda c: {**_tfkd(c), "correct_prob": c.tfkd_correct_prob}),
    "pskd": Entry(
        lambda c: {"num_examples": c.train_examples(), "alpha": c.pskd_alpha, "epochs": c.epochs}
    ),
}

# Two-stage methods, switched by WarmupSwitch.
WARMUP_METHODS = tuple(name for name, spec in ENTRIES.items() if spec.warmup)


def entry(name: str) -> Entry:
    """The registry entry of ``name``, with a clear error for unknown names."""
    if name not in ENTRIES:
        raise ValueError(
            f"Unknown method {name!r}; valid choices: {', '.join(methods.list_methods())}."
        )
    return ENTRIES[name]


def build(model, config, teacher=None):
    """``config``'s method around ``model`` (and ``teacher``, for the methods that need
    one), with the constructor arguments its flags give."""
    spec = entry(config.method)
    extra = () if spec.teacher == "none" else (teacher,)
    return methods.get(config.method, model, *extra, **spec.options(config))
