"""The run configuration: one frozen, typed :class:`RunConfig`, built once from the flags.

Every default is resolved here, and nowhere else; bad values and combinations found without
building a model are :class:`ConfigError`\\ s here, before any data is read.

Flags left unset take the paper's setting for the chosen model (:data:`PAPER_DEFAULTS`):

* ``mlp1024`` on MNIST (paper 5.1, Table 3): batch 16, 50 epochs, SGD lr 0.01, momentum 0.9,
  no decay steps, 10 warm-up epochs, explainer ``grad`` (Grad-CAM needs conv layers).
* ``resnet*`` on CIFAR-10 (paper 5): batch 128, 160 epochs, SGD lr 0.1 divided by 10 at epochs
  80 and 120, momentum 0.9, explainer ``grad_cam`` at the last conv layer.
* ``cnn*`` on CIFAR-10 (paper 3, Table 1): batch 128, 160 epochs, SGD lr 0.01, momentum 0.9.

What the paper leaves open: weight decay 1e-4 on every parameter for every model, the value of
the reference code it follows for the ResNets (TAKD's ``train.py``; see
:mod:`tf_introspect.models.layers`); the paper names "a common weight-decay term" for LE on
MNIST too, and the same value is used there for every method, so that all of Table 3 shares
it. 10 warm-up epochs for every model (the paper gives 10 for the MLP only).

Resolved besides the paper's values: ``--verbose`` (by where the output goes),
``--jit_compile`` (XLA for the MLP only), ``--steps_per_execution`` (10 for the MLP, else 1),
the step schedule's boundaries (none for ``linear``/``cosine``). The teacher settings that
depend on the method (BAN's teacher model, a teacher's epochs, seed and folder) are
:class:`RunConfig` methods, so that the recorded flags keep what was given.
"""

import copy
import dataclasses
import json
import os
import sys

from tf_introspect.pipeline.data_settings import resolve_data
from tf_introspect.pipeline.errors import ConfigError

PAPER_DEFAULTS = {
    "mlp": dict(
        dataset="mnist",
        batch_size=16,
        epochs=50,
        lr=0.01,
        lr_boundaries=[],
        weight_decay=1e-4,
        warmup_epochs=10,
        explainer="grad",
    ),
    "resnet": dict(
        dataset="cifar10",
        batch_size=128,
        epochs=160,
        lr=0.1,
        lr_boundaries=[80, 120],
        weight_decay=1e-4,
        warmup_epochs=10,
        explainer="grad_cam",
    ),
    "cnn": dict(
        dataset="cifar10",
        batch_size=128,
        epochs=160,
        lr=0.01,
        lr_boundaries=[],
        weight_decay=1e-4,
        warmup_epochs=10,
        explainer="grad_cam",
    ),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Every setting of one run: the command line's flags (``--helpfull`` documents each),
    with every default resolved. Build it with :func:`from_args` (command-line arguments,
    flag files included) or :func:`resolve` (a dict of every flag's value); change it with
    ``dataclasses.replace``. ``as_dict()`` is what ``metrics.json`` records as ``flags``."""

    # what is trained, on what
    method: str
    model: str
    weights: str | None
    reinitialize: bool
    list_models: bool
    dataset: str
    data_dir: str | None
    image_size: tuple[int, int] | None
    test_split: float | None
    augment: str
    train_limit: int | None
    test_limit: int | None
    validation_split: int
    # the optimisation (paper 5)
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    lr_schedule: str
    lr_boundaries: tuple[int, ...]
    lr_decay: float
    weight_decay: float
    seed: int
    # how it runs
    deterministic: bool
    precision: str
    jit_compile: bool
    steps_per_execution: int
    strategy: str
    verbose: int
    workdir: str
    overwrite: bool
    explanation_samples: int
    # LE (paper 4) and its variants
    explainer: str
    layer: str | None
    alpha: float
    lam: float
    warmup_epochs: int
    similarity_temperature: float | None
    # baselines (paper 3, 5.1-5.3)
    dropout_rate: float
    smoothing: float
    cp_beta: float
    temperature: float
    cwtm_beta: float
    teacher: str | None
    teacher_model: str | None
    teacher_workdir: str | None
    teacher_epochs: int | None
    teacher_seed: int
    assistant_model: str | None
    hint_layer: str
    hint_weight: float
    hint_epochs: int
    hint_lr: float
    at_beta: float
    fsp_weight: float
    fsp_epochs: int
    fsp_lr: float
    # teacher-free self-distillation (BUILD.md)
    cskd_weight: float
    tfkd_alpha: float | None
    tfkd_temperature: float | None
    tfkd_weight: float | None
    tfkd_correct_prob: float | None
    pskd_alpha: float
    # resolved, not a flag: a folder data set's fingerprint (its files and sizes)
    data_fingerprint: str | None = None

    def as_dict(self) -> dict:
        """The settings as JSON stores them (``metrics.json``'s ``flags``)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def data_options(self) -> dict:
        """The options of a folder data set for ``data.info`` / ``data.make_dataset``."""
        return {"image_size": self.image_size, "test_split": self.test_split}

    def train_examples(self) -> int:
        """The number of training examples a run trains on (after ``--train_limit`` and the
        hold-out): PS-KD's table has a row for each. A built-in data set's is counted from its
        official size, without reading it (the run checks it against the data it reads)."""
        from tf_introspect.data import pipeline

        return pipeline.split_size(
            self.dataset,
            "train",
            data_dir=self.data_dir,
            limit=self.train_limit,
            validation_split=self.validation_split,
            **self.data_options(),
        )

    def dataset_info(self):
        """``data.info`` of the run's data set (a folder's computed from its images)."""
        from tf_introspect import data

        return data.info(self.dataset, data_dir=self.data_dir, **self.data_options())

    @property
    def family(self) -> str:
        """``mlp``, ``cnn`` or ``resnet``: the key of :data:`PAPER_DEFAULTS`."""
        return family(self.model)

    # -- the two stages and the schedule (tf_introspect.pipeline.registry) ---------------
    @property
    def stage1_epochs(self) -> int:
        """Epochs of a two-stage method's first stage (LE's warm-up, Hint's and FSP's
        stage 1), 0 for the others."""
        from tf_introspect.pipeline import registry

        spec = registry.entry(self.method)
        return getattr(self, spec.warmup) if spec.warmup else 0

    @property
    def pretraining_epochs(self) -> int:
        """Epochs of a first stage that comes before ``--epochs`` and the learning-rate
        schedule (Hint's ``--hint_epochs``, FSP's ``--fsp_epochs``; 0 for every other method,
        LE's warm-up included: it is part of the paper's 50 or 160 epochs)."""
        from tf_introspect.pipeline import registry

        return self.stage1_epochs if registry.entry(self.method).pretrains else 0

    @property
    def total_epochs(self) -> int:
        """Epochs the run trains: a first stage before the schedule, then ``--epochs``."""
        return self.pretraining_epochs + self.epochs

    # -- the teacher (tf_introspect.pipeline.teachers) ---------------------------------------
    def teacher_model_name(self, kind: str) -> str | None:
        """The model a teacher is trained as: ``--teacher_model``, for BAN (``self``) by
        default the student's."""
        return self.teacher_model or (self.model if kind == "self" else None)

    def sub_run(self, name: str, method: str, model: str, **changes) -> "RunConfig":
        """The configuration of a teacher or assistant (``name``) trained for this run:
        ``--teacher_seed`` (one teacher for every seed of a cell, as the paper's five trials
        share theirs), ``--teacher_epochs`` (default ``--epochs``), in ``--teacher_workdir``
        for the teacher (default ``<workdir>/<name>``); with ``--validation_split`` in its own
        folder (``..._holdout<N>``), trained without the held-out images, so that no teacher
        has seen a grid's validation set."""
        folder = (self.teacher_workdir if name == "teacher" else None) or os.path.join(
            self.workdir, name
        )
        if self.validation_split:
            folder = f"{folder.rstrip(os.sep)}_holdout{self.validation_split}"
        return dataclasses.replace(
            self,
            **{
                "method": method,
                "model": model,
                "workdir": folder,
                "epochs": self.teacher_epochs or self.epochs,
                "seed": self.teacher_seed or 0,
                "teacher": None,
                "teacher_model": None,
                "assistant_model": None,
                "teacher_workdir": None,
                "overwrite": False,
                **changes,
            },
        )


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
#: fields resolved from others, not flags
DERIVED = ("data_fingerprint",)


def family(model_name: str) -> str:
    """``mlp``, ``cnn`` or ``resnet``: the key of :data:`PAPER_DEFAULTS`; a model that is not
    the paper's (``keras:NAME``, ``PATH.keras``) takes the ResNet family's."""
    from tf_introspect.models import external

    if external.is_external(model_name):
        return "resnet"
    for key in PAPER_DEFAULTS:
        if model_name.startswith(key):
            return key
    raise ConfigError(
        f"No paper defaults for model {model_name!r} (families: {', '.join(PAPER_DEFAULTS)})."
    )


def default_verbosity(stream=None) -> int:
    """``--verbose`` when not given: 1 (progress bar) if ``stream`` (default stdout) is a
    terminal, else 2 (one line per epoch, for log files and pipes)."""
    stream = sys.stdout if stream is None else stream
    return 1 if hasattr(stream, "isatty") and stream.isatty() else 2


def _boundaries(given, paper, schedule):
    """``--lr_boundaries`` as sorted epochs: as ``given``, else the ``paper``'s; none for a
    schedule that decays to 0."""
    if schedule != "step":
        if given:
            raise ConfigError(
                f"--lr_boundaries={','.join(map(str, given))} belongs to "
                f"--lr_schedule=step; --lr_schedule={schedule} decays to 0 over "
                "the run: drop the boundaries (--lr_boundaries=)."
            )
        return ()
    try:
        boundaries = tuple(sorted(int(b) for b in (paper if given is None else given)))
    except ValueError:
        raise ConfigError(f"--lr_boundaries must be whole epoch numbers, got {given!r}.") from None
    if any(b <= 0 for b in boundaries):
        raise ConfigError(f"--lr_boundaries must be positive epochs, got {list(boundaries)}.")
    if len(set(boundaries)) < len(boundaries):
        raise ConfigError(
            f"--lr_boundaries must be distinct epochs, got {list(boundaries)}: a repeated "
            "one would decay the rate twice there (give --lr_decay for a larger step)."
        )
    return boundaries


def _resolve_tfkd(values, kind):
    """Tf-KD's unset settings take the authors' for the model family
    (:data:`tf_introspect.methods.tfkd.DEFAULTS`); other methods leave them unset, and
    ``--tfkd_correct_prob`` belongs to ``tfkd_reg``."""
    from tf_introspect.methods import tfkd

    form = {"tfkd_self": "self", "tfkd_reg": "reg"}.get(values["method"])
    if form is None:
        return
    if form == "self" and values["tfkd_correct_prob"] is not None:
        raise ConfigError(
            "--tfkd_correct_prob is the designed teacher's (--method=tfkd_reg); "
            "tfkd_self's teacher is the trained model."
        )
    for key, default in tfkd.DEFAULTS[form][kind].items():
        if values[f"tfkd_{key}"] is None:
            values[f"tfkd_{key}"] = default


def resolve(values: dict) -> RunConfig:
    """The :class:`RunConfig` of a dict of every flag's value (``None``: unset), with the
    paper's defaults for its model, the schedule's boundaries, XLA, steps per execution and
    verbosity resolved."""
    values = dict(values)
    missing = sorted(set(FIELDS) - set(DERIVED) - set(values))
    if missing:
        raise ConfigError(f"settings missing: {', '.join(missing)}.")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}; valid: {', '.join(FIELDS)}.")
    kind = family(values["model"])
    paper = PAPER_DEFAULTS[kind]
    values["lr_boundaries"] = _boundaries(
        values["lr_boundaries"], paper["lr_boundaries"], values["lr_schedule"]
    )
    if values["explainer"] is None and values["model"].endswith(".keras"):
        # a saved classifier may be an MLP or a CNN: its layers decide, as for
        # Introspective(model) (grad_cam with a 4-D layer, else grad)
        values["explainer"] = "auto"
    for key, default in paper.items():
        if values[key] is None:
            values[key] = default
    if values["verbose"] is None:
        values["verbose"] = default_verbosity()
    if values["jit_compile"] in (None, "auto"):
        # XLA for the MLP only: the benchmark measured its CE and LE(Grad) steps at batch 16
        # 1.23x and 1.29x faster; ResNet-8's 0.75x (docs/benchmarks.md, user_api)
        values["jit_compile"] = kind == "mlp"
    elif isinstance(values["jit_compile"], str):
        values["jit_compile"] = values["jit_compile"] == "true"
    resolve_data(values)
    _resolve_tfkd(values, kind)
    if not values["steps_per_execution"]:
        # 10 for the MLP at its small batches (measured: bit-identical weights, 0.84x the CE
        # and 0.87x the LE step time under XLA), 1 for the conv nets
        values["steps_per_execution"] = 10 if kind == "mlp" else 1
    return RunConfig(**values)


def from_flags(flag_values) -> RunConfig:
    """The :class:`RunConfig` of parsed absl ``FlagValues`` (the command line's)."""
    from tf_introspect.pipeline import flags

    return resolve({name: flag_values[name].value for name in flags.flag_names()})


def from_args(args) -> RunConfig:
    """The :class:`RunConfig` of a command line's flag arguments (e.g. ``--flagfile=F``,
    ``--seed=1``), parsed on a private copy of the flags: what ``main`` would run."""
    from absl import flags as absl_flags

    from tf_introspect.pipeline import flags

    flags.define_flags()
    values = absl_flags.FlagValues()
    for name in flags.flag_names():
        values[name] = copy.deepcopy(flags.FLAGS[name])
        values[name].unparse()
    try:
        values(["tf_introspect", *args])
    except absl_flags.Error as e:
        raise ConfigError(str(e)) from None
    return from_flags(values)
