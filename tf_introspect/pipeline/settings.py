"""Which settings decide a run's result, and how two runs' settings are compared.

A finished run (its ``metrics.json``) or a backup is reused only when these settings match
(:func:`tf_introspect.pipeline.outputs.finished`, :func:`tf_introspect.pipeline.workdir.
check_settings`); the experiment runner compares a committed record with its plan's command
the same way. Every function takes a plain mapping (a record's ``flags``) or a
:class:`~tf_introspect.pipeline.config.RunConfig`.
"""

from collections.abc import Mapping

# Settings that decide a run's result: a finished run is reused only if they all match.
RESULT_FLAGS = (
    "method",
    "model",
    "dataset",
    "epochs",
    "batch_size",
    "lr",
    "lr_boundaries",
    "lr_decay",
    "lr_schedule",
    "momentum",
    "weight_decay",
    "seed",
    "train_limit",
    "test_limit",
    "validation_split",
    "precision",
    "image_size",
    "test_split",
    "augment",
    "data_fingerprint",
    "weights",
    "reinitialize",
)
# Result-deciding flags added after runs were recorded: at these values (what every earlier run
# trained with) they are left out of the settings, so that earlier records still match.
LEGACY_DEFAULTS = {
    "lr_schedule": "step",
    "precision": "float32",
    "similarity_temperature": None,
    "image_size": None,
    "test_split": None,
    "augment": "auto",
    "data_fingerprint": None,
    "weights": None,
    "reinitialize": False,
}
_TEACHER = ("teacher", "teacher_model", "teacher_epochs", "teacher_seed")
_KD = ("temperature", "lam", *_TEACHER)
METHOD_FLAGS = {
    "ce": (),
    "dropout": ("dropout_rate",),
    "ls": ("smoothing",),
    "cp": ("cp_beta",),
    "le": ("explainer", "layer", "alpha", "lam", "warmup_epochs", "similarity_temperature"),
    "le_permut": ("explainer", "layer", "alpha", "lam", "warmup_epochs", "similarity_temperature"),
    "le_uniform": ("alpha", "lam", "warmup_epochs"),
    "kd": _KD,
    "dkpp": _KD,
    "ban": ("temperature", *_TEACHER),
    "ban_l": _KD,
    "takd": (*_KD, "assistant_model"),
    "cwtm": _TEACHER,  # beta is the lower bound of cwtm_random's draws only
    "cwtm_permut": _TEACHER,
    "cwtm_random": ("cwtm_beta", *_TEACHER),
    "hint": ("hint_layer", "hint_weight", "hint_epochs", "hint_lr", *_KD),
    "at": ("at_beta", *_KD),
    "fsp": ("fsp_weight", "fsp_epochs", "fsp_lr", *_KD),
    "dml": ("lam",),
    "cskd": ("temperature", "cskd_weight"),
    "tfkd_self": ("tfkd_alpha", "tfkd_temperature", "tfkd_weight", *_TEACHER),
    "tfkd_reg": ("tfkd_alpha", "tfkd_temperature", "tfkd_weight", "tfkd_correct_prob"),
    "pskd": ("pskd_alpha",),
}


def unused_method_flags(method: str, given) -> list[str]:
    """The flags among ``given`` (names) that belong to other methods and have no effect
    with ``method`` (e.g. ``--temperature`` with ``le``, ``--lam`` with ``ban``)."""
    every = set().union(*METHOD_FLAGS.values())
    return sorted((set(given) & every) - set(METHOD_FLAGS.get(method, every)))


def result_settings(config) -> dict:
    """The settings of ``config`` (a ``RunConfig`` or a record's ``flags`` mapping) that
    decide its result, as JSON stores them: :data:`RESULT_FLAGS` and the flags of its
    method (all flags for a method not listed)."""
    values = config if isinstance(config, Mapping) else config.as_dict()
    keys = METHOD_FLAGS.get(values["method"])
    keys = RESULT_FLAGS + keys if keys is not None else sorted(values)
    legacy = {k for k, v in LEGACY_DEFAULTS.items() if values.get(k, v) == v}
    return {k: values.get(k) for k in keys if k not in legacy}


def without_data_fingerprint(settings: Mapping) -> dict:
    """``settings`` without a folder data set's fingerprint: a plan names its data by path
    (the folder may not exist yet when the plan is read); the run itself checks the
    fingerprint (:func:`tf_introspect.pipeline.outputs.finished`, the backup's settings)."""
    return {k: v for k, v in settings.items() if k != "data_fingerprint"}


def settings_differences(recorded: Mapping, expected: Mapping) -> dict:
    """``{flag: (recorded value, expected value)}`` where two :func:`result_settings` dicts
    differ; a flag of :data:`LEGACY_DEFAULTS` missing on one side has its default there."""

    def value(settings, key):
        return settings.get(key, LEGACY_DEFAULTS.get(key))

    return {
        k: (value(recorded, k), value(expected, k))
        for k in {**recorded, **expected}
        if value(recorded, k) != value(expected, k)
    }
