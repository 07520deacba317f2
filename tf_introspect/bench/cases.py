"""The benchmark's cases and constants: what each part may time (the choices of its flags),
its targets, the data sets' split sizes, the methods' step-cost families.

Only data: every part reads its cases from here, ``__main__`` its flags' choices.
"""

import os

from tf_introspect.data.metadata import SPLIT_SIZES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = {  # model, batch, explainer, KD teacher (for the KD / CE column; None: not timed)
    "resnet8_b128_grad_cam": ("resnet8", 128, "grad_cam", "resnet26"),
    "resnet14_b128_grad_cam": ("resnet14", 128, "grad_cam", "resnet26"),
    "resnet8_b128_grad": ("resnet8", 128, "grad", None),
    "resnet14_b128_grad": ("resnet14", 128, "grad", None),
    "mlp1024_b128_grad": ("mlp1024", 128, "grad", None),
    "mlp1024_b16_grad": ("mlp1024", 16, "grad", None),
}
# The fit part's cases: a paper cell's flag file each (the families of the tables' cells).
FIT_CASES = {
    "mlp1024_b16_ce": "flags/table3/mlp1024_ce.flags",
    "mlp1024_b16_le_grad": "flags/table3/mlp1024_le.flags",
    "resnet8_b128_ce": "flags/table2/resnet8_ce.flags",
    "resnet8_b128_le_grad_cam": "flags/table2/resnet8_le.flags",
    "resnet8_b128_kd": "flags/table5/resnet8_kd.flags",  # ResNet-26 teacher
    "resnet14_b128_ce": "flags/table2/resnet14_ce.flags",
    "resnet14_b128_le_grad_cam": "flags/table2/resnet14_le.flags",
    "cnn8_b128_ce": "flags/table1/cnn8_ce.flags",
}
KERAS_CASES = {
    "mlp1024_b16": "flags/table3/mlp1024_ce.flags",
    "resnet8_b128": "flags/table2/resnet8_ce.flags",
}
EXPLAIN_METHODS = {"grad_cam": 10.0, "grad": 2.5}  # explainer: target speed-up (>=)
# Projected protocols: plan, protocol flags (None: the plan's own; {}: none, i.e. the flag
# files' paper settings), cells (None: all). Table 3 at the paper's protocol is the short
# plan's cells (without LE-Permut, a Table 6 cell) at their flag files' own settings, its
# grids included (experiments/table3_paper.toml holds its own cells: CE, LE, LE-Uniform, LS,
# Dropout, CP, LE-Permut and CE without weight decay, at the grids' chosen values).
PROTOCOLS = {
    "table3_paper": ("experiments/table3_short.toml", {}, ["ce", "le_grad", "dropout", "ls", "cp"]),
    # the paper's and the mechanism's cells (issue 22's methods have no measured fit case:
    # the runner's status prices them from their finished runs)
    "table3_short": (
        "experiments/table3_short.toml",
        None,
        ["ce", "le_grad", "dropout", "ls", "cp", "le_permut", "le_uniform", "le_temperature"],
    ),
    "table2_paper": ("experiments/table2_paper.toml", None, None),
    "table2_short": ("experiments/table2_short.toml", None, None),
}
# The precision part's cases: model, batch, methods timed (from PRECISION_METHODS).
PRECISION_CASES = {
    "resnet8_b128": ("resnet8", 128, ("ce", "le_grad_cam", "le_grad")),
    "resnet14_b128": ("resnet14", 128, ("ce", "le_grad_cam", "le_grad")),
    "mlp1024_b128": ("mlp1024", 128, ("ce", "le_grad")),
    "mlp1024_b16": ("mlp1024", 16, ("ce", "le_grad")),
}
PRECISION_METHODS = {
    "ce": ("ce", "grad"),
    "le_grad_cam": ("le", "grad_cam"),
    "le_grad": ("le", "grad"),
}  # name: method, explainer
# Issue 17's goal: bfloat16 step time / float32 step time (<=), per (model, method).
PRECISION_TARGETS = {("resnet8", "ce"): 0.7, ("resnet8", "le_grad_cam"): 0.7}
FIT_PRECISIONS = ("float32", "mixed_bfloat16")  # pipeline.flags.PRECISIONS
# The user_api part's cases: flag file (data set, batch, lr), LE's explainer, variants timed.
USER_API_CASES = {
    "mlp1024_b16": ("flags/table3/mlp1024_ce.flags", "grad", ("default", "xla", "xla_spe10")),
    "resnet8_b128": ("flags/table2/resnet8_ce.flags", "grad_cam", ("default", "xla")),
}
USER_API_VARIANTS = {
    "default": {},
    "xla": {"jit_compile": True},  # compile's arguments
    "xla_spe10": {"jit_compile": True, "steps_per_execution": 10},
}
PARTS = ("steps", "fit", "keras", "explain", "precision", "user_api", "data", "self_distillation")
TRAIN_SIZE = {name: sizes["train"] for name, sizes in SPLIT_SIZES.items()}
TEST_SIZE = 10000
# a CE-cost step (dropout: a few masks more; LE-Uniform, Tf-KD_reg: fixed targets, no
# explanation; PS-KD: its targets read from, and its predictions written to, a table)
CE_LIKE = ("ce", "dropout", "ls", "cp", "le_uniform", "tfkd_reg", "pskd")
KD_LIKE = ("kd", "dkpp", "cwtm", "cwtm_permut", "cwtm_random", "ban", "ban_l", "takd", "tfkd_self")
# The self_distillation part's cases (issue 22): model, batch; every method of
# SELF_DISTILLATION_METHODS timed against CE on each.
SELF_DISTILLATION_CASES = {"resnet8_b128": ("resnet8", 128), "mlp1024_b16": ("mlp1024", 16)}
SELF_DISTILLATION_METHODS = ("cskd", "tfkd_self", "tfkd_reg", "pskd")
INSTALL_HINT = ".venv/bin/pip install -r requirements-bench.txt"
