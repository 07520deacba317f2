"""The command line's flags (``python -m tf_introspect.main --helpfull``), defined with absl.

A flag left unset (``None``) takes the paper's value for the chosen model when the run
configuration is built (:mod:`tf_introspect.pipeline.config`, ``PAPER_DEFAULTS``). Flag files
for the paper's table cells live in the repository's ``flags/`` folder
(``--flagfile=flags/table2/resnet8_le.flags``).
"""

from absl import flags

from tf_introspect import explainers, methods, models, schedules
from tf_introspect.data import DATASETS, custom
from tf_introspect.models import external
from tf_introspect.pipeline import method_flags

#: ``--precision`` choices: Keras dtype policies.
PRECISIONS = ("float32", "mixed_bfloat16")

FLAGS = flags.FLAGS


def define_flags():
    """Define the flags (idempotent, so tests can import ``main`` more than once)."""
    if "method" in FLAGS:
        return
    flags.DEFINE_enum("method", "le", methods.list_methods(), "Training method.")
    flags.DEFINE_string(
        "model",
        "resnet8",
        f"Model: one of {', '.join(models.list_models())} (the paper's); keras:NAME, a Keras "
        "Applications architecture with a logits head (--list_models names them); or "
        "PATH.keras, a saved classifier, trained further from its weights.",
    )
    flags.DEFINE_string(
        "weights",
        None,
        "keras:NAME only: a weights file of the application (without its top) to start from; "
        "default none (nothing is downloaded).",
    )
    flags.DEFINE_bool(
        "reinitialize", False, "PATH.keras only: train its architecture from fresh weights."
    )
    flags.DEFINE_bool("list_models", False, "Print every name --model takes, and exit.")
    flags.DEFINE_string(
        "dataset",
        None,
        f"Data set: one of {', '.join(DATASETS)}; folder:PATH, a folder with one subfolder "
        "of images per class (PATH/train/ and PATH/test/ if it has its own split; else "
        "--test_split); or tfds:NAME[:CONFIG], a tensorflow-datasets image classification set "
        "prepared in --data_dir (nothing is downloaded); default: the paper's for the model "
        "(mlp: mnist, else cifar10).",
    )
    flags.DEFINE_string(
        "image_size",
        None,
        "folder:PATH and tfds:NAME only: resize every image to H,W pixels (default: the "
        "images' own size, when they all have one).",
    )
    flags.DEFINE_float(
        "test_split",
        None,
        "folder:PATH without train/ and test/ subfolders, tfds:NAME without a test split: the "
        "share of every class's images held out for testing (a fixed choice, the same for "
        "every run), e.g. 0.2.",
    )
    flags.DEFINE_enum(
        "augment",
        "auto",
        ["auto", "none", "crop_flip"],
        "Training augmentation: crop_flip is the paper's CIFAR recipe (pad 4, random crop, "
        "random horizontal flip); auto: crop_flip for 32x32 colour images, else none.",
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "Folder with the original data files "
        "(default: $TF_INTROSPECT_DATA, then ~/.cache/tf_introspect); for tfds:NAME, tfds' "
        "data folder (default: tfds' own, $TFDS_DATA_DIR or ~/tensorflow_datasets).",
    )
    flags.DEFINE_integer(
        "train_limit", None, "Use only the first N training examples.", lower_bound=1
    )
    flags.DEFINE_integer("test_limit", None, "Use only the first N test examples.", lower_bound=1)
    flags.DEFINE(
        _ExampleCount(lower_bound=0),
        "validation_split",
        0,
        "Hold out the last N training examples (after "
        "--train_limit) as a validation set: fit reports val_* on it, and "
        "hyper-parameters are chosen on it, never on the test set (paper 5.1 "
        "grids). A count, not Keras' fraction. 0: no hold-out; the test set is then "
        "evaluated every epoch.",
        serializer=flags.ArgumentSerializer(),
    )
    flags.DEFINE_bool(
        "deterministic",
        True,
        "Seed everything and turn on TensorFlow's op "
        "determinism: the same command on the same machine gives the same "
        "weights.",
    )
    flags.DEFINE_integer(
        "steps_per_execution",
        None,
        "Training steps per call of the compiled "
        "function (same result, less per-step overhead; default 10 for the "
        "MLP, where the benchmark measured 0.84x CE and 0.87x LE step time under XLA, "
        "1 otherwise).",
        lower_bound=1,
    )
    flags.DEFINE_enum(
        "precision",
        "float32",
        list(PRECISIONS),
        "Keras dtype policy of the models: float32, or mixed_bfloat16 (bfloat16 "
        "computation, float32 variables; logits, losses, explanations' cosines, "
        "targets and metrics stay float32). Decides results: a finished run is "
        "reused only with the same precision.",
    )
    flags.DEFINE_enum(
        "jit_compile",
        "auto",
        ["auto", "true", "false"],
        "XLA-compile the training step. auto: on where the benchmark measured "
        "a gain (the MLP), off for the conv nets.",
    )
    flags.DEFINE_enum(
        "explainer",
        None,
        explainers.list_explainers(),
        "Saliency method of LE; default grad_cam for conv nets, grad for the MLP (a saved "
        "PATH.keras model: grad_cam if it has a 4-D layer, else grad).",
    )
    flags.DEFINE_string("layer", None, "Grad-CAM layer name (default: the last 4-D layer).")
    flags.DEFINE_float(
        "alpha", 0.9, "Ground-truth mass of the LE targets (Eq. 6; also le_uniform's), in (0, 1)."
    )
    flags.DEFINE_float(
        "similarity_temperature",
        None,
        "LE and LE-Permut, beyond the paper: share the non-ground-truth mass in proportion to "
        "exp(cos / T) instead of Eq. 6's cos + 1 (a small T turns cosines a few hundredths "
        "apart into a ranking). Unset: Eq. 6, the paper's method.",
    )
    flags.DEFINE_float(
        "lam",
        0.1,
        "Weight lambda of the CE(p, y) term: LE (LE-Permut, LE-Uniform), KD, DKPP, Hint, AT, "
        "FSP, TAKD, BAN+L, and DML's KL weight (paper: 0.1 for all).",
        lower_bound=0,
    )
    flags.DEFINE_integer(
        "warmup_epochs",
        None,
        "LE warm-up epochs trained with plain CE "
        "(default 10 for every model: the paper gives 10 for the MLP; >= --epochs trains "
        "CE only, with a warning).",
        lower_bound=0,
    )
    flags.DEFINE_integer(
        "epochs",
        None,
        "Training epochs (default: the paper's for the model: mlp 50, resnet and cnn 160).",
        lower_bound=1,
    )
    flags.DEFINE_integer(
        "batch_size",
        None,
        "Global batch size (default: the paper's: mlp 16, resnet and cnn 128).",
        lower_bound=1,
    )
    flags.DEFINE_float(
        "lr",
        None,
        "Initial SGD learning rate (default: the paper's: mlp 0.01, resnet 0.1, cnn 0.01).",
    )
    flags.DEFINE_float("momentum", 0.9, "SGD momentum, in [0, 1].", lower_bound=0, upper_bound=1)
    flags.DEFINE_list(
        "lr_boundaries",
        None,
        "Epochs at which the learning rate is multiplied by --lr_decay "
        "(default: the paper's: resnet 80,120; mlp and cnn none; boundaries at or beyond "
        "--epochs never come, with a warning).",
    )
    flags.DEFINE_float(
        "lr_decay",
        0.1,
        "Learning-rate factor at each of --lr_boundaries (--lr_schedule=step only).",
    )
    flags.DEFINE_enum(
        "lr_schedule",
        "step",
        list(schedules.SCHEDULES),
        "Learning-rate schedule, per step: step (the paper's: --lr times "
        "--lr_decay at each of --lr_boundaries), linear (decays to 0 over the "
        "run: Budgeted Training, Li et al. 2020), cosine (to 0). Hint and FSP: "
        "counted from the start of stage 2.",
    )
    flags.DEFINE_float(
        "weight_decay",
        None,
        "Weight decay on every parameter, PyTorch's "
        "coupled convention (default 1e-4, the reference code's).",
        lower_bound=0,
    )
    method_flags.define_method_flags()  # each method's own (--temperature, --cp_beta, ...)
    flags.DEFINE_integer(
        "seed",
        0,
        "Random seed (weights, data order, augmentation).",
        lower_bound=0,
        upper_bound=2**32 - 1,
    )
    flags.DEFINE_string(
        "workdir",
        "runs/default",
        "Output folder: TensorBoard logs, backups for resuming, metrics.json, model.keras.",
    )
    flags.DEFINE_bool(
        "overwrite",
        False,
        "Train again from scratch when --workdir holds a "
        "finished run (metrics.json) or the backup of a run with other settings; "
        "by default the first is reused and the second refused. A backup of the "
        "same settings is resumed either way.",
    )
    flags.DEFINE_integer(
        "explanation_samples",
        8,
        "Test samples whose explanations are "
        "logged to TensorBoard each epoch (LE methods; 0 turns it off).",
        lower_bound=0,
    )
    flags.DEFINE_enum(
        "strategy",
        "default",
        ["default", "mirrored", "multi_worker"],
        "tf.distribute strategy: default (one device), mirrored (all local "
        "GPUs), multi_worker (TF_CONFIG cluster).",
    )
    flags.DEFINE_integer(
        "verbose",
        None,
        "Keras fit verbosity: 0 silent, 1 progress bar, "
        "2 one line per epoch. Default: 1 when the output is a terminal, 2 "
        "when it goes to a log file or pipe (Keras 3's own fit(verbose='auto') "
        "always means 1, whose bar fills a log with control characters).",
        lower_bound=0,
        upper_bound=2,
    )
    flags.register_validator(
        "alpha", lambda a: 0.0 < a < 1.0, message="--alpha must be strictly between 0 and 1."
    )
    flags.register_validator(
        "model",
        lambda m: m in models.list_models() or external.is_external(m),
        message=f"--model must be one of {', '.join(models.list_models())}, keras:NAME "
        "(--list_models) or a saved model PATH.keras",
    )
    flags.register_validator(
        "dataset",
        lambda d: d is None or d in DATASETS or custom.is_custom(d),
        message=f"--dataset must be one of {', '.join(DATASETS)}, folder:PATH or "
        "tfds:NAME[:CONFIG].",
    )
    for name in ("lr", "lr_decay"):
        flags.register_validator(
            name,
            lambda v: v is None or v > 0,
            message=f"--{name} must be > 0 (a rate of 0 trains nothing).",
        )
    flags.register_validator(
        "similarity_temperature",
        lambda t: t is None or t > 0,
        message="--similarity_temperature must be > 0 (or unset, for Eq. 6).",
    )


class _ExampleCount(flags.IntegerParser):
    """A number of examples; a fraction (Keras' ``validation_split=0.2``) is named as such."""

    def parse(self, argument):
        try:
            return super().parse(argument)
        except ValueError as e:
            if isinstance(argument, str) and argument.replace(".", "", 1).isdigit():
                raise ValueError(
                    f"{argument} is not a whole number of examples (this flag counts the "
                    "examples held out; Keras' validation_split is a fraction)"
                ) from None
            raise e


def flag_names():
    """Names of the flags this module and :mod:`~tf_introspect.pipeline.method_flags` define
    (what a run's configuration holds)."""
    return sorted(
        flag.name
        for module in (__name__, method_flags.__name__)
        for flag in FLAGS.get_flags_for_module(module)
    )
