"""Command-line flags of ``python -m tf_introspect.main`` and their paper defaults.

Flags left unset take the paper's setting for the chosen model (see :data:`PAPER_DEFAULTS`):

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

Flag files for the paper's table cells live in the repository's ``flags/`` folder
(``--flagfile=flags/table2/resnet8_le.flags``).
"""

from absl import flags

from tf_introspect import explainers, methods, models, schedules
from tf_introspect.data import DATASETS

#: ``--precision`` choices: Keras dtype policies.
PRECISIONS = ("float32", "mixed_bfloat16")

PAPER_DEFAULTS = {
    "mlp": dict(dataset="mnist", batch_size=16, epochs=50, lr=0.01, lr_boundaries=[],
                weight_decay=1e-4, warmup_epochs=10, explainer="grad"),
    "resnet": dict(dataset="cifar10", batch_size=128, epochs=160, lr=0.1,
                   lr_boundaries=[80, 120], weight_decay=1e-4, warmup_epochs=10,
                   explainer="grad_cam"),
    "cnn": dict(dataset="cifar10", batch_size=128, epochs=160, lr=0.01, lr_boundaries=[],
                weight_decay=1e-4, warmup_epochs=10, explainer="grad_cam"),
}

FLAGS = flags.FLAGS


def define_flags():
    """Define the flags (idempotent, so tests can import ``main`` more than once)."""
    if "method" in FLAGS:
        return
    flags.DEFINE_enum("method", "le", methods.list_methods(), "Training method.")
    flags.DEFINE_enum("model", "resnet8", models.list_models(), "Model architecture.")
    flags.DEFINE_enum("dataset", None, list(DATASETS),
                      "Data set; default: the paper's for the model (mlp: mnist, else cifar10).")
    flags.DEFINE_string("data_dir", None, "Folder with the original data files "
                        "(default: $TF_INTROSPECT_DATA, then ~/.cache/tf_introspect).")
    flags.DEFINE_integer("train_limit", None, "Use only the first N training examples.",
                         lower_bound=1)
    flags.DEFINE_integer("test_limit", None, "Use only the first N test examples.",
                         lower_bound=1)
    flags.DEFINE_integer("validation_split", 0, "Hold out the last N training examples (after "
                         "--train_limit) as a validation set: fit reports val_* on it, and "
                         "hyper-parameters are chosen on it, never on the test set (paper 5.1 "
                         "grids). 0: no hold-out; the test set is then evaluated every epoch.",
                         lower_bound=0)
    flags.DEFINE_bool("deterministic", True, "Seed everything and turn on TensorFlow's op "
                      "determinism: the same command on the same machine gives the same "
                      "weights.")
    flags.DEFINE_integer("steps_per_execution", None, "Training steps per call of the compiled "
                         "function (same result, less per-step overhead; default 10 for the "
                         "MLP, where the benchmark measured 0.81x CE and 0.89x LE step time, "
                         "1 otherwise).", lower_bound=1)
    flags.DEFINE_enum("precision", "float32", list(PRECISIONS),
                      "Keras dtype policy of the models: float32, or mixed_bfloat16 (bfloat16 "
                      "computation, float32 variables; logits, losses, explanations' cosines, "
                      "targets and metrics stay float32). Decides results: a finished run is "
                      "reused only with the same precision.")
    flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"],
                      "XLA-compile the training step. auto: on where the benchmark measured "
                      "a gain (the MLP), off for the conv nets.")
    flags.DEFINE_enum("explainer", None, explainers.list_explainers(),
                      "Saliency method of LE; default grad_cam for conv nets, grad for the MLP.")
    flags.DEFINE_string("layer", None, "Grad-CAM layer name (default: the last 4-D layer).")
    flags.DEFINE_float("alpha", 0.9, "Ground-truth mass of the LE targets (Eq. 6; also "
                       "le_uniform's), in (0, 1).")
    flags.DEFINE_float("lam", 0.1, "Weight lambda of the CE(p, y) term: LE, KD, DKPP, Hint, AT, "
                       "FSP, TAKD, BAN+L, and DML's KL weight (paper: 0.1 for all).",
                       lower_bound=0)
    flags.DEFINE_integer("warmup_epochs", None, "LE warm-up epochs trained with plain CE "
                         "(default 10, the paper's; >= --epochs trains CE only, with a "
                         "warning).", lower_bound=0)
    flags.DEFINE_integer("epochs", None, "Training epochs (default: the paper's for the "
                         "model: mlp 50, resnet and cnn 160).", lower_bound=1)
    flags.DEFINE_integer("batch_size", None, "Global batch size (default: the paper's: mlp "
                         "16, resnet and cnn 128).", lower_bound=1)
    flags.DEFINE_float("lr", None, "Initial SGD learning rate (default: the paper's: mlp "
                       "0.01, resnet 0.1, cnn 0.01).", lower_bound=0)
    flags.DEFINE_float("momentum", 0.9, "SGD momentum.", lower_bound=0)
    flags.DEFINE_list("lr_boundaries", None,
                      "Epochs at which the learning rate is multiplied by --lr_decay "
                      "(default: the paper's: resnet 80,120; mlp and cnn none).")
    flags.DEFINE_float("lr_decay", 0.1, "Learning-rate factor at each boundary.", lower_bound=0)
    flags.DEFINE_enum("lr_schedule", "step", list(schedules.SCHEDULES),
                      "Learning-rate schedule, per step: step (the paper's: --lr times "
                      "--lr_decay at each of --lr_boundaries), linear (decays to 0 over the "
                      "run: Budgeted Training, Li et al. 2020), cosine (to 0). Hint and FSP: "
                      "counted from the start of stage 2.")
    flags.DEFINE_float("weight_decay", None, "Weight decay on every parameter, PyTorch's "
                       "coupled convention (default 1e-4, the reference code's).",
                       lower_bound=0)
    # Baselines (paper sections 3 and 5.1-5.3); see tf_introspect.methods.
    flags.DEFINE_float("dropout_rate", 0.1, "dropout: rate on the last layer of each block.",
                       lower_bound=0, upper_bound=0.99)
    flags.DEFINE_float("smoothing", 0.9, "ls: ground-truth mass of the smoothed labels (the "
                       "paper's factor; Keras label_smoothing = K(1-s)/(K-1)).")
    flags.DEFINE_float("cp_beta", 0.5, "cp: confidence-penalty strength.", lower_bound=0)
    flags.DEFINE_float("temperature", 4.0, "KD family and BAN: softmax temperature T.")
    flags.DEFINE_float("cwtm_beta", 0.5, "cwtm_random: confidences drawn from U[beta, 1).",
                       lower_bound=0, upper_bound=0.999)
    flags.DEFINE_string("teacher", None, "Teacher-based methods: a trained model.keras.")
    flags.DEFINE_string("teacher_model", None, "Teacher-based methods: train this model with "
                        "CE first (cached in <workdir>/teacher). BAN: default the student's.")
    flags.DEFINE_string("teacher_workdir", None, "Where --teacher_model is trained and cached "
                        "(default <workdir>/teacher); share it between runs of one teacher.")
    flags.DEFINE_integer("teacher_epochs", None, "Epochs of teacher/assistant training "
                         "(default --epochs).", lower_bound=1)
    flags.DEFINE_integer("teacher_seed", 0, "Seed of a teacher/assistant trained here: one "
                         "teacher serves every --seed of a cell.")
    flags.DEFINE_string("assistant_model", None, "takd: the teacher assistant's model.")
    flags.DEFINE_string("hint_layer", "stage2", "hint: layer of student and teacher matched.")
    flags.DEFINE_float("hint_weight", 1.0, "hint: weight of FitNets' stage-1 hint loss "
                       "1/2 ||teacher - regressor(student)||^2 (sum over the map, batch mean); "
                       "1 is the published loss.", lower_bound=0)
    flags.DEFINE_integer("hint_epochs", 40, "hint: epochs of FitNets' stage 1 (the student up "
                         "to --hint_layer and the regressor, on the hint loss alone), before "
                         "the --epochs of stage 2 (whole student, KD + lam CE) and before the "
                         "learning-rate schedule, as FitNets pre-trains. 40: FitNets ends stage "
                         "1 on a validation set and gives no length; Yim et al.'s CIFAR stage 1 "
                         "(21k iterations) is 1/3 of a full ResNet training (64k).",
                         lower_bound=0)
    flags.DEFINE_float("hint_lr", 1e-4, "hint: SGD learning rate of stage 1 (constant; "
                       "the --lr schedule starts with stage 2). 1e-4: Yim et al.'s FitNets "
                       "stage 1 on "
                       "CIFAR ResNets; the summed hint loss diverges at 0.1.", lower_bound=0)
    flags.DEFINE_float("at_beta", 1000.0, "at: attention-transfer weight beta.", lower_bound=0)
    flags.DEFINE_float("fsp_weight", 1.0, "fsp: weight of the stage-1 FSP loss (Yim et al.'s "
                       "Eq. 2: sum over the 2 stage pairs of ||G_s - G_t||^2, batch mean); 1 is "
                       "the published loss.", lower_bound=0)
    flags.DEFINE_integer("fsp_epochs", 40, "fsp: epochs of Yim et al.'s stage 1 (the student "
                         "on the FSP loss alone), before the --epochs of stage 2 (KD + lam CE) "
                         "and before the learning-rate schedule, as Yim et al. pre-train. 40: "
                         "their CIFAR stage 1 (21k iterations) is 1/3 of a full ResNet "
                         "training (64k).", lower_bound=0)
    flags.DEFINE_float("fsp_lr", 1e-3, "fsp: SGD learning rate of stage 1 (constant; the "
                       "--lr schedule starts with stage 2). 1e-3: Yim et al.'s stage 1 on "
                       "CIFAR; the summed "
                       "FSP loss diverges at 0.1.", lower_bound=0)
    flags.DEFINE_integer("seed", 0, "Random seed (weights, data order, augmentation).")
    flags.DEFINE_string("workdir", "runs/default", "Output folder: TensorBoard logs, "
                        "backups for resuming, metrics.json, model.keras.")
    flags.DEFINE_bool("overwrite", False, "Train again from scratch when --workdir holds a "
                      "finished run (metrics.json) or the backup of a run with other settings; "
                      "by default the first is reused and the second refused. A backup of the "
                      "same settings is resumed either way.")
    flags.DEFINE_integer("explanation_samples", 8, "Test samples whose explanations are "
                         "logged to TensorBoard each epoch (LE methods; 0 turns it off).",
                         lower_bound=0)
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                      "tf.distribute strategy: default (one device), mirrored (all local "
                      "GPUs), multi_worker (TF_CONFIG cluster).")
    flags.DEFINE_integer("verbose", None, "Keras fit verbosity: 0 silent, 1 progress bar, "
                         "2 one line per epoch. Default: 1 when the output is a terminal, 2 "
                         "when it goes to a log file or pipe (Keras 3's own fit(verbose='auto') "
                         "always means 1, whose bar fills a log with control characters).",
                         lower_bound=0, upper_bound=2)
    flags.register_validator("alpha", lambda a: 0.0 < a < 1.0,
                             message="--alpha must be strictly between 0 and 1.")
    flags.register_validator("smoothing", lambda a: 0.0 < a <= 1.0,
                             message="--smoothing (ground-truth mass) must be in (0, 1].")
    flags.register_validator("temperature", lambda t: t > 0,
                             message="--temperature must be > 0.")
    for name in ("teacher_model", "assistant_model"):
        flags.register_validator(
            name, lambda m: m is None or m in models.list_models(),
            message=f"--{name} must be one of {', '.join(models.list_models())}.")


# Settings that decide a run's result: a finished run is reused only if they all match.
RESULT_FLAGS = ("method", "model", "dataset", "epochs", "batch_size", "lr", "lr_boundaries",
                "lr_decay", "lr_schedule", "momentum", "weight_decay", "seed", "train_limit",
                "test_limit", "validation_split", "precision")
# Result-deciding flags added after runs were recorded: at these values (what every earlier run
# trained with) they are left out of the settings, so that earlier records still match.
LEGACY_DEFAULTS = {"lr_schedule": "step", "precision": "float32"}
_TEACHER = ("teacher", "teacher_model", "teacher_epochs", "teacher_seed")
_KD = ("temperature", "lam", *_TEACHER)
METHOD_FLAGS = {
    "ce": (), "dropout": ("dropout_rate",), "ls": ("smoothing",), "cp": ("cp_beta",),
    "le": ("explainer", "layer", "alpha", "lam", "warmup_epochs"),
    "le_permut": ("explainer", "layer", "alpha", "lam", "warmup_epochs"),
    "le_uniform": ("alpha", "lam", "warmup_epochs"),
    "kd": _KD, "dkpp": _KD, "ban": ("temperature", *_TEACHER), "ban_l": _KD,
    "takd": (*_KD, "assistant_model"),
    "cwtm": ("cwtm_beta", *_TEACHER), "cwtm_permut": ("cwtm_beta", *_TEACHER),
    "cwtm_random": ("cwtm_beta", *_TEACHER),
    "hint": ("hint_layer", "hint_weight", "hint_epochs", "hint_lr", *_KD),
    "at": ("at_beta", *_KD), "fsp": ("fsp_weight", "fsp_epochs", "fsp_lr", *_KD),
    "dml": ("lam",),
}


def unused_method_flags(method, given):
    """The flags among ``given`` (names) that belong to other methods and have no effect
    with ``method`` (e.g. ``--temperature`` with ``le``, ``--lam`` with ``ban``)."""
    every = set().union(*METHOD_FLAGS.values())
    return sorted((set(given) & every) - set(METHOD_FLAGS.get(method, every)))


def result_settings(cfg):
    """The settings of ``cfg`` that decide its result: :data:`RESULT_FLAGS` and the flags of
    its method (all flags for a method not listed)."""
    keys = METHOD_FLAGS.get(cfg["method"])
    keys = RESULT_FLAGS + keys if keys is not None else sorted(cfg)
    legacy = {k for k, v in LEGACY_DEFAULTS.items() if cfg.get(k, v) == v}
    return {k: cfg.get(k) for k in keys if k not in legacy}


def settings_differences(recorded, expected):
    """``{flag: (recorded value, expected value)}`` where two :func:`result_settings` dicts
    differ; a flag of :data:`LEGACY_DEFAULTS` missing on one side has its default there."""
    def value(settings, key):
        return settings.get(key, LEGACY_DEFAULTS.get(key))
    return {k: (value(recorded, k), value(expected, k)) for k in {**recorded, **expected}
            if value(recorded, k) != value(expected, k)}


def steps_per_execution(cfg):
    """``--steps_per_execution``, by default 10 for the MLP at its small batches (measured:
    bit-identical weights, 0.81x the CE and 0.89x the LE step time) and 1 for the conv nets."""
    if cfg.get("steps_per_execution"):
        return cfg["steps_per_execution"]
    return 10 if family(cfg["model"]) == "mlp" else 1


def use_jit(cfg):
    """``--jit_compile``: ``auto`` is XLA for the MLP only, where the benchmark measured the
    LE(Grad) step at batch 16 about 1.9x faster; the conv nets measured no gain (BUILD.md)."""
    if cfg.get("jit_compile", "auto") == "auto":
        return family(cfg["model"]) == "mlp"
    return cfg["jit_compile"] == "true"


def flag_names():
    """Names of the flags this module defines (what a run's configuration holds)."""
    return sorted(flag.name for flag in FLAGS.get_flags_for_module(__name__))


def config_from_args(args):
    """The resolved configuration of a command line's flag arguments (e.g. ``--flagfile=F``,
    ``--seed=1``), parsed on a private copy of the flags: what ``main`` would run."""
    import copy
    define_flags()
    values = flags.FlagValues()
    for name in flag_names():
        values[name] = copy.deepcopy(FLAGS[name])
        values[name].unparse()
    try:
        values(["tf_introspect", *args])
    except flags.Error as e:
        raise ConfigError(str(e)) from None
    return resolve({name: values[name].value for name in flag_names()})


def default_verbosity(stream=None):
    """``--verbose`` when not given: 1 (progress bar) if ``stream`` (default stdout) is a
    terminal, else 2 (one line per epoch, for log files and pipes)."""
    import sys
    stream = sys.stdout if stream is None else stream
    return 1 if hasattr(stream, "isatty") and stream.isatty() else 2


def family(model_name):
    """``mlp``, ``cnn`` or ``resnet``: the key of :data:`PAPER_DEFAULTS`."""
    for key in PAPER_DEFAULTS:
        if model_name.startswith(key):
            return key
    raise ValueError(f"No paper defaults for model {model_name!r}.")


def resolve(values):
    """Fill unset (None) settings of a flag dict with the paper's defaults for its model.

    Returns a new plain dict (what ``metrics.json`` records), with ``lr_boundaries`` as ints.
    """
    cfg = dict(values)
    for key, default in PAPER_DEFAULTS[family(cfg["model"])].items():
        if cfg.get(key) is None:
            cfg[key] = default
    if "verbose" in cfg and cfg["verbose"] is None:
        cfg["verbose"] = default_verbosity()
    if cfg.get("lr_schedule", "step") != "step":
        if values.get("lr_boundaries"):
            raise ConfigError(f"--lr_boundaries={','.join(map(str, cfg['lr_boundaries']))} "
                              f"belongs to --lr_schedule=step; --lr_schedule="
                              f"{cfg['lr_schedule']} decays to 0 over the run: drop the "
                              "boundaries (--lr_boundaries=).")
        cfg["lr_boundaries"] = []
    try:
        cfg["lr_boundaries"] = sorted(int(b) for b in cfg["lr_boundaries"])
    except ValueError:
        raise ConfigError(f"--lr_boundaries must be whole epoch numbers, got "
                          f"{cfg['lr_boundaries']!r}.") from None
    if any(b <= 0 for b in cfg["lr_boundaries"]):
        raise ConfigError(f"--lr_boundaries must be positive epochs, got {cfg['lr_boundaries']}.")
    return cfg


class ConfigError(ValueError):
    """A bad value or combination of settings, found before any data is read."""
