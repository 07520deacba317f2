"""The flags of the methods other than LE (``python -m tf_introspect.main --helpfull`` lists
them with the rest): the baselines of the paper (sections 3 and 5.1-5.3), their teachers, and
the teacher-free self-distillation after it. Defined by :func:`define_method_flags`, which
:func:`tf_introspect.pipeline.flags.define_flags` calls; each takes effect with its method
only (``settings.METHOD_FLAGS``)."""

from absl import flags

from tf_introspect import models


def define_method_flags():
    """Define the methods' flags and their validators (called once, by ``define_flags``)."""
    # Baselines (paper sections 3 and 5.1-5.3); see tf_introspect.methods.
    flags.DEFINE_float(
        "dropout_rate",
        0.1,
        "dropout: rate of the dropout after each stage (each hidden layer of the MLP).",
        lower_bound=0,
        upper_bound=0.99,
    )
    flags.DEFINE_float(
        "smoothing",
        0.9,
        "ls: ground-truth mass of the smoothed labels (the "
        "paper's factor; Keras label_smoothing = K(1-s)/(K-1)).",
    )
    flags.DEFINE_float("cp_beta", 0.5, "cp: confidence-penalty strength.", lower_bound=0)
    flags.DEFINE_float("temperature", 4.0, "KD family, BAN and CS-KD: softmax temperature T.")
    flags.DEFINE_float(
        "cwtm_beta",
        0.5,
        "cwtm_random: confidences drawn from U[beta, 1).",
        lower_bound=0,
        upper_bound=0.999,
    )
    flags.DEFINE_string("teacher", None, "Teacher-based methods: a trained model.keras.")
    flags.DEFINE_string(
        "teacher_model",
        None,
        "Teacher-based methods: train this model with "
        "CE first (cached in <workdir>/teacher). BAN: default the student's.",
    )
    flags.DEFINE_string(
        "teacher_workdir",
        None,
        "Where --teacher_model is trained and cached "
        "(default <workdir>/teacher); share it between runs of one teacher.",
    )
    flags.DEFINE_integer(
        "teacher_epochs",
        None,
        "Epochs of teacher/assistant training (default --epochs).",
        lower_bound=1,
    )
    flags.DEFINE_integer(
        "teacher_seed",
        0,
        "Seed of a teacher/assistant trained here: one teacher serves every --seed of a cell.",
        lower_bound=0,
        upper_bound=2**32 - 1,
    )
    flags.DEFINE_string("assistant_model", None, "takd: the teacher assistant's model.")
    flags.DEFINE_string("hint_layer", "stage2", "hint: layer of student and teacher matched.")
    flags.DEFINE_float(
        "hint_weight",
        1.0,
        "hint: weight of FitNets' stage-1 hint loss "
        "1/2 ||teacher - regressor(student)||^2 (sum over the map, batch mean); "
        "1 is the published loss.",
        lower_bound=0,
    )
    flags.DEFINE_integer(
        "hint_epochs",
        40,
        "hint: epochs of FitNets' stage 1 (the student up "
        "to --hint_layer and the regressor, on the hint loss alone), before "
        "the --epochs of stage 2 (whole student, KD + lam CE) and before the "
        "learning-rate schedule, as FitNets pre-trains. 40: FitNets ends stage "
        "1 on a validation set and gives no length; Yim et al.'s CIFAR stage 1 "
        "(21k iterations) is 1/3 of a full ResNet training (64k).",
        lower_bound=0,
    )
    flags.DEFINE_float(
        "hint_lr",
        1e-4,
        "hint: SGD learning rate of stage 1 (constant; "
        "the --lr schedule starts with stage 2). 1e-4: Yim et al.'s FitNets "
        "stage 1 on "
        "CIFAR ResNets; the summed hint loss diverges at 0.1.",
    )
    flags.DEFINE_float("at_beta", 1000.0, "at: attention-transfer weight beta.", lower_bound=0)
    flags.DEFINE_float(
        "fsp_weight",
        1.0,
        "fsp: weight of the stage-1 FSP loss (Yim et al.'s "
        "Eq. 2: sum over the 2 stage pairs of ||G_s - G_t||^2, batch mean); 1 is "
        "the published loss.",
        lower_bound=0,
    )
    flags.DEFINE_integer(
        "fsp_epochs",
        40,
        "fsp: epochs of Yim et al.'s stage 1 (the student "
        "on the FSP loss alone), before the --epochs of stage 2 (KD + lam CE) "
        "and before the learning-rate schedule, as Yim et al. pre-train. 40: "
        "their CIFAR stage 1 (21k iterations) is 1/3 of a full ResNet "
        "training (64k).",
        lower_bound=0,
    )
    flags.DEFINE_float(
        "fsp_lr",
        1e-3,
        "fsp: SGD learning rate of stage 1 (constant; the "
        "--lr schedule starts with stage 2). 1e-3: Yim et al.'s stage 1 on "
        "CIFAR; the summed "
        "FSP loss diverges at 0.1.",
    )
    for name in ("hint_lr", "fsp_lr"):
        flags.register_validator(
            name, lambda v: v > 0, message=f"--{name} must be > 0 (a rate of 0 trains nothing)."
        )
    # Teacher-free self-distillation after the paper (CS-KD, Tf-KD, PS-KD; BUILD.md)
    flags.DEFINE_float(
        "cskd_weight",
        1.0,
        "cskd: weight lambda_cls of the T^2 KL to the same-class partner's prediction (T: "
        "--temperature, 4); 1 and 4 are Yun et al.'s CIFAR setting.",
        lower_bound=0,
    )
    flags.DEFINE_float(
        "tfkd_alpha",
        None,
        "tfkd_self, tfkd_reg: weight alpha of the KL term, (1 - alpha) on CE (default: the "
        "authors' ResNet18 setting, self 0.95, reg 0.1).",
        lower_bound=0,
        upper_bound=1,
    )
    flags.DEFINE_float(
        "tfkd_temperature",
        None,
        "tfkd_self, tfkd_reg: temperature T (default: the authors' ResNet18 setting, self 6, "
        "reg 20; reg softens the designed teacher only, as their code does).",
    )
    flags.DEFINE_float(
        "tfkd_weight",
        None,
        "tfkd_self, tfkd_reg: factor w on the batch-mean KL, the authors' multiplier M over "
        "their class count (default: ResNet18's, self 50/100 = 0.5, reg 100/100 = 1).",
        lower_bound=0,
    )
    flags.DEFINE_float(
        "tfkd_correct_prob",
        None,
        "tfkd_reg: the designed teacher's mass on the true class (default 0.99, the authors').",
    )
    flags.DEFINE_float(
        "pskd_alpha",
        0.8,
        "pskd: alpha_T, the weight of the previous epoch's prediction in the target at the "
        "last epoch, reached linearly (0.8: Kim et al.'s).",
        lower_bound=0,
        upper_bound=1,
    )
    flags.register_validator(
        "smoothing",
        lambda a: 0.0 < a <= 1.0,
        message="--smoothing (ground-truth mass) must be in (0, 1].",
    )
    flags.register_validator("temperature", lambda t: t > 0, message="--temperature must be > 0.")
    flags.register_validator(
        "tfkd_temperature",
        lambda t: t is None or t > 0,
        message="--tfkd_temperature must be > 0 (or unset, for the authors' setting).",
    )
    for name in ("teacher_model", "assistant_model"):
        flags.register_validator(
            name,
            lambda m: m is None or m in models.list_models(),
            message=f"--{name} must be one of {', '.join(models.list_models())}.",
        )
