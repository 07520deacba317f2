"""Speed on this machine, measured in one process: ``python -m tf_introspect.bench``.

Six parts (``--parts``), one combined report, everything in ``--json``; docs/benchmarks.md
explains each table and its targets.

``steps``: step-cost ratios. For each case of ``--cases``, the compiled ``train_step`` of CE
and of LE (and of LE while still in warm-up) are built on the same model architecture and the
same random batch, warmed up, then timed in interleaved rounds (so drift of the machine hits
all alike); the median time per step and the ratio to CE are printed. Cases (issue targets in
brackets): LE(Grad-CAM) / CE for resnet8 and resnet14 at batch 128 [<= 1.05], LE(Grad) / CE
for the same ResNets (the Jacobian through training-mode batch norm, batch moments held:
``explainers.base``) and for mlp1024 at batch 128 and 16 [<= 4]. With Grad-CAM, KD from a
ResNet-26 teacher is timed too: the teacher's cost that LE avoids (paper 4). A roofline
table follows (below).

``precision``: bfloat16 / float32 step time. For each case of ``--precision_cases``
(``PRECISION_CASES``: resnet8 and resnet14 at batch 128 with CE, LE(Grad-CAM) and LE(Grad);
mlp1024 at batch 16 and 128 with CE and LE(Grad); ``--precision_methods`` selects among them)
the compiled ``train_step`` is built twice, under Keras' global dtype policy ``float32`` and
``mixed_bfloat16`` (``compiled_step(precision=...)``: the policy set while model and method are
built, as the command line's ``--precision`` does, and restored after; bfloat16 computation,
float32 variables, float32 logits layers), the bfloat16 model given the float32 one's weights,
both fed the same random batch, warmed up and timed in interleaved rounds (``--rounds`` of
``--steps`` steps, the order reversed every other round). Printed: the median ms per step of
each with its spread (min, max over rounds), the ratio of medians bfloat16 / float32 and the
range of the per-round ratios [issue 17: resnet8 CE and LE(Grad-CAM) <= 0.7], and the roofline.
The step is the bare compiled step, without XLA, as in ``steps``; the ``fit`` part's
``--fit_precisions`` gives the command line's path at both precisions.

Roofline (``steps`` and ``precision``): each step's floating-point operations counted from the
model (``step_flops``: 2 x the multiply-accumulates of every convolution and dense layer, strides
respected; a training step is 3 x the forward pass, forward + input-gradient + weight-gradient
passes; LE(Grad) adds its own forward pass and the K = 10 input-gradient passes of the
all-class Jacobian, (1 + K) x forward; LE(Grad-CAM) in closed form only its maps, 2 K h w c;
KD the teacher's forward pass; element-wise work, losses and the optimizer not counted;
ResNet-8: 25.0 MFLOP forward, 9.60 GFLOP a CE step at batch 128), the achieved GFLOP/s
(FLOPs / median step time) and its fraction of this CPU's peak (``cpu_peaks``, once for the
whole run, printed with what it assumed: physical cores from ``/proc/cpuinfo``, the clock from
its ``cpu MHz`` or ``--cpu_ghz``, float32 FLOP/cycle/core = 2 FMA units x 16 lanes with
AVX-512 (8 on AMD Zen 4 and with AVX2) x 2; bfloat16 with AMX-BF16 its tile unit's 1,024,
else with AVX512_BF16 twice float32). Memory bandwidth is not modelled.

``fit``: epoch time through the command line's own path. Each case is a paper cell's flag
file (``FIT_CASES``), resolved by ``flags.config_from_args``; the method is built by
``build.make_method`` (teachers: the architecture with random weights), compiled by
``main.compile_method`` (``--jit_compile=auto``: XLA for the MLP) and trained with Keras
``fit`` on ``main.datasets`` (the real pipeline: shuffling, CIFAR augmentation), with the
command line's per-step callback (``StopOnNaN``) and its ``--verbose=2`` progress logger,
under the command line's op determinism (``main.seed_everything``: on unless XLA). The data is
cut with ``--train_limit`` to ``--fit_steps`` batches: after a warm-up ``fit`` (tracing, XLA
compilation), ``--fit_rounds`` fits of those batches are timed from the end of the first step
to the end of the last, median ms/step, and the rest of each fit call (iterator start-up, end
of data, callbacks' begin/end: paid once an epoch) is kept as the fit's start+end time; the
validation pass is timed the same way on ``--eval_steps`` test batches. Scaled to a full epoch
(60,000 MNIST / 50,000 CIFAR training images, 10,000 test images) this gives s/epoch, and with
the
run lists of the experiment plans (``experiments.plan_runs``: cells, seeds, grid points,
epochs, LE warm-up epochs at the CE cost) the projected wall time of each table's protocol
run by one process on this machine (``PROTOCOLS``). Per-epoch callbacks (TensorBoard,
BackupAndRestore, CSV, explanation images) and teacher training are not included.
With ``--fit_precisions=float32,mixed_bfloat16`` every case is timed at both (the command
line's ``--precision``: Keras' policy held while its method is built, compiled, fit and
evaluated; the bfloat16 method given the float32 one's weights), their fits interleaved, and
the bfloat16 / float32 ratios of ms/step, eval ms/step and s/epoch are printed; the protocols
are projected from the first precision listed (default: ``--precision``, float32).

``keras``: our CE method against plain Keras. ``methods.build("ce")`` (via ``build.make_method``,
compiled by ``main.compile_method``) and the same functional model with the same weights
compiled with ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``, the same SGD
and schedule and the same ``jit_compile``, both ``fit`` on the same pipeline with the same
callbacks, in interleaved rounds; ratio of median ms/step [<= 1.05].

``explain``: all-class explanations against tf-keras-vis (optional, pinned in
``requirements-bench.txt``). ``explainers.explain(model, x, method)`` gives every class in one
call; tf-keras-vis needs one call per class (its ``Gradcam`` / ``Saliency`` with a
``CategoricalScore(k)``, k = 0..9). ResNet-8, a batch of ``--explain_batch`` CIFAR-shaped
inputs, interleaved rounds, ratio of medians [Grad-CAM >= 10, Grad >= 2.5]. tf-keras-vis is
called so that it computes our definitions (Grad-CAM at our layer, not resized or normalised;
Saliency: the signed gradient, channels kept, not normalised) and the maps are checked to be
equal; its defaults post-process (Grad-CAM: the last Conv2D layer before the named one, resized
to the input and normalised per sample; Saliency: |gradient|, max over channels, normalised).
Without tf-keras-vis the part says how to install it and the rest runs.

``user_api``: what Keras' ``jit_compile`` and ``steps_per_execution`` give through the user API
(README, "In your own code"). For each case of ``--user_api_cases`` (``USER_API_CASES``:
mlp1024 at batch 16 with CE and LE(Grad), resnet8 at batch 128 with CE and LE(Grad-CAM)) the
methods are built as a user's own code builds them, ``models.get(name, weight_decay=1e-4)``
wrapped in ``methods.CrossEntropy(model)`` or ``Introspective(model, explainer=...)`` (LE's
stage 2 on, as without ``WarmupSwitch``), each compiled with
``optimizer=keras.optimizers.SGD(lr, momentum=0.9), metrics=["accuracy"]`` (the flag file's
constant ``lr``) and one variant's arguments (``USER_API_VARIANTS``): ``default`` (none:
Keras' ``jit_compile="auto"``, which turns XLA off on a CPU-only machine, and one step per
execution), ``xla`` (``jit_compile=True``) and, for the MLP, ``xla_spe10`` (also
``steps_per_execution=10``, the command line's MLP setting; the command line does not use XLA
for the conv nets). All are trained with ``fit`` on the real pipeline (``main.datasets`` of the
cell's flag file, cut to ``--fit_steps`` batches; random pixels without the data) with the fit
part's per-step callback and progress logger, without op determinism (a user's default); after
a ``--fit_warmup``-step warm-up fit each, ``--rounds`` rounds of one fit per variant and method,
the order reversed every other round (``--fit_steps`` a multiple of 10, so that ``xla_spe10``
times whole executions). Printed per case: each variant's median ms/step for CE
and LE, LE / CE per variant, and each variant's speed-up over ``default`` (default ms / its ms).

Flags: ``--parts``; ``--cases``, ``--rounds``, ``--steps`` (steps part; ``--rounds`` also sets
the interleaved rounds of the keras, user_api and explain parts); ``--fit_cases``, ``--fit_steps``,
``--fit_warmup``, ``--fit_rounds``, ``--eval_steps``, ``--protocols``, ``--data_dir``,
``--steps_per_execution`` (the command line's own flag; fit and keras parts: default the command
line's choice, other values to try how much fewer host round trips would save);
``--fit_precisions`` (fit part; default ``--precision``, the command line's flag);
``--keras_cases``; ``--user_api_cases`` (``--fit_steps``, ``--fit_warmup`` and ``--rounds``
as the keras part); ``--explain_methods``, ``--explain_batch``; ``--precision_cases``,
``--precision_methods`` (precision part; ``--rounds`` and ``--steps`` as the steps part);
``--cpu_ghz`` (the roofline's clock); ``--json``.

Issue 17's measurement, e.g.::

    python -m tf_introspect.bench --parts=precision --rounds=7 --steps=10 --json=precision.json
    python -m tf_introspect.bench --parts=fit --fit_precisions=float32,mixed_bfloat16 \\
        --fit_cases=resnet8_b128_ce,resnet8_b128_le_grad_cam --protocols= --json=fit.json
    python -m tf_introspect.bench --parts=user_api --rounds=7 --fit_steps=100 \\
        --fit_warmup=20 --json=user_api.json
"""

import collections
import contextlib
import io
import math
import os
import statistics
import time
import warnings

from absl import app, flags

from tf_introspect import atomic
from tf_introspect import flags as ti_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    "resnet8_b128_kd": "flags/table5/resnet8_kd.flags",          # ResNet-26 teacher
    "resnet14_b128_ce": "flags/table2/resnet14_ce.flags",
    "resnet14_b128_le_grad_cam": "flags/table2/resnet14_le.flags",
    "cnn8_b128_ce": "flags/table1/cnn8_ce.flags",
}
KERAS_CASES = {"mlp1024_b16": "flags/table3/mlp1024_ce.flags",
               "resnet8_b128": "flags/table2/resnet8_ce.flags"}
EXPLAIN_METHODS = {"grad_cam": 10.0, "grad": 2.5}     # explainer: target speed-up (>=)
# Projected protocols: plan, protocol flags (None: the plan's own; {}: none, i.e. the flag
# files' paper settings), cells (None: all). Table 3 at the paper's protocol is the short
# plan's cells (without LE-Permut, a Table 6 cell) at their flag files' own settings, its
# grids included (experiments/table3_paper.toml holds CE and LE only).
PROTOCOLS = {
    "table3_paper": ("experiments/table3_short.toml", {}, ["ce", "le_grad", "dropout", "ls", "cp"]),
    "table3_short": ("experiments/table3_short.toml", None, None),
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
PRECISION_METHODS = {"ce": ("ce", "grad"), "le_grad_cam": ("le", "grad_cam"),
                     "le_grad": ("le", "grad")}          # name: method, explainer
# Issue 17's goal: bfloat16 step time / float32 step time (<=), per (model, method).
PRECISION_TARGETS = {("resnet8", "ce"): 0.7, ("resnet8", "le_grad_cam"): 0.7}
FIT_PRECISIONS = ("float32", "mixed_bfloat16")           # ti_flags.PRECISIONS
# The user_api part's cases: flag file (data set, batch, lr), LE's explainer, variants timed.
USER_API_CASES = {
    "mlp1024_b16": ("flags/table3/mlp1024_ce.flags", "grad", ("default", "xla", "xla_spe10")),
    "resnet8_b128": ("flags/table2/resnet8_ce.flags", "grad_cam", ("default", "xla")),
}
USER_API_VARIANTS = {"default": {}, "xla": {"jit_compile": True},       # compile's arguments
                     "xla_spe10": {"jit_compile": True, "steps_per_execution": 10}}
PARTS = ("steps", "fit", "keras", "explain", "precision", "user_api")
TRAIN_SIZE = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000}
TEST_SIZE = 10000
CE_LIKE = ("ce", "dropout", "ls", "cp")      # a CE-cost step (dropout: a few masks more)
KD_LIKE = ("kd", "dkpp", "cwtm", "cwtm_permut", "cwtm_random", "ban", "ban_l", "takd")
INSTALL_HINT = ".venv/bin/pip install -r requirements-bench.txt"

flags.DEFINE_list("parts", list(PARTS), f"Parts to run, from: {', '.join(PARTS)}.")
flags.DEFINE_list("cases", list(CASES), f"Cases to run, from: {', '.join(CASES)}.")
flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds (the median is reported); also "
                     "the rounds of the keras, user_api and explain parts.", lower_bound=1)
flags.DEFINE_integer("steps", 10, "Steps per round and variant.", lower_bound=1)
flags.DEFINE_list("fit_cases", list(FIT_CASES), f"fit part cases, from: {', '.join(FIT_CASES)}.")
flags.DEFINE_integer("fit_steps", 50, "fit, keras and user_api parts: training steps per "
                     "timed fit.", lower_bound=2)
flags.DEFINE_integer("fit_warmup", 10, "fit, keras and user_api parts: steps of the untimed "
                     "warm-up fit (tracing, XLA compilation).", lower_bound=1)
flags.DEFINE_integer("fit_rounds", 3, "fit part: timed fits per case (median).", lower_bound=1)
flags.DEFINE_integer("eval_steps", 20, "fit part: timed validation steps.", lower_bound=2)
flags.DEFINE_list("protocols", list(PROTOCOLS), f"Protocols projected from the fit part, "
                  f"from: {', '.join(PROTOCOLS)}.")
flags.DEFINE_list("keras_cases", list(KERAS_CASES),
                  f"keras part cases, from: {', '.join(KERAS_CASES)}.")
flags.DEFINE_list("user_api_cases", list(USER_API_CASES),
                  f"user_api part cases, from: {', '.join(USER_API_CASES)}.")
flags.DEFINE_list("explain_methods", list(EXPLAIN_METHODS),
                  f"explain part explainers, from: {', '.join(EXPLAIN_METHODS)}.")
flags.DEFINE_integer("explain_batch", 64, "explain part: batch size.", lower_bound=1)
flags.DEFINE_list("precision_cases", list(PRECISION_CASES),
                  f"precision part cases, from: {', '.join(PRECISION_CASES)}.")
flags.DEFINE_list("precision_methods", list(PRECISION_METHODS),
                  f"precision part methods, from: {', '.join(PRECISION_METHODS)} (each case "
                  "times those of them it lists).")
flags.DEFINE_list("fit_precisions", None,
                  f"fit part: Keras dtype policies to time each fit case at, from: "
                  f"{', '.join(FIT_PRECISIONS)} (default: --precision, the command line's "
                  "flag); with more than one, their fits are interleaved and the ratios to the "
                  "first are printed. The protocols are projected from the first.")
flags.DEFINE_float("cpu_ghz", None, "Clock for the roofline's peaks (default: /proc/cpuinfo's "
                   "'cpu MHz').", lower_bound=0.01)
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
# The command line's flags, of which the fit and keras parts read --data_dir (default here: the
# first of <repo>/data and <repo>/../shared/data holding the data set; random pixels through
# the real pipeline when none does, which is fine for timing and reported).
ti_flags.define_flags()
FLAGS = flags.FLAGS


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


# --------------------------------------------------------------------------------------------
# Roofline: floating-point operations counted from the model, this CPU's peaks
# --------------------------------------------------------------------------------------------

# Intel's AMX tile unit (TMUL) of 4th-generation Xeon Scalable (Sapphire Rapids) does 1,024
# BF16 operations (multiplies and adds counted apart) per cycle per core. Source: Intel's
# Sapphire Rapids presentation at Architecture Day 2021 (AMX: 2,048 INT8 or 1,024 BF16
# operations per cycle per core, against 64 FP32 operations per cycle with AVX-512's two FMA
# units); i.e. one TDPBF16PS on full tiles, [16 x 32] x [32 x 16] = 2 * 16 * 16 * 32 = 16,384
# FLOP, every 16 cycles.
AMX_BF16_FLOP_PER_CYCLE = 1024


def layer_flops(layer):
    """Floating-point operations of ``layer`` for one sample's forward pass: 2 x its
    multiply-accumulates for ``Conv1D`` / ``Conv2D`` / ``Conv3D`` (2 * output positions *
    C_out * C_in / groups * kernel size: strides and padding enter through the output shape)
    and ``Dense`` (2 * in * out per position of its input); 0 for every other layer
    (batch norm, activations, adds, pooling, dropout: a few operations per activation)."""
    import keras
    if isinstance(layer, keras.layers.Dense):
        shape = layer.input.shape
        return 2 * math.prod(shape[1:-1]) * shape[-1] * layer.units
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        out, inputs = layer.output.shape, layer.input.shape
        last = layer.data_format == "channels_last"
        positions = math.prod(out[1:-1] if last else out[2:])
        c_in = inputs[-1] if last else inputs[1]
        return (2 * positions * layer.filters * (c_in // layer.groups)
                * math.prod(layer.kernel_size))
    return 0


def forward_flops(model):
    """Floating-point operations of one sample's forward pass through ``model`` (its nested
    models' layers included): the sum of :func:`layer_flops`."""
    from tf_introspect.explainers.base import model_layers
    return sum(layer_flops(layer) for layer in model_layers(model))


def explanation_flops(model, explainer):
    """Operations per sample of the explanations of every class (LE's stage 2), beyond the
    training step's own pass; ``K`` classes, ``F`` = :func:`forward_flops`.

    * Grad-CAM in closed form (GAP + linear head: ``Explainer.shares_forward``): the maps
      ``ReLU(sum_n W[n, k] A[h, w, n])`` from the step's own activation, ``2 K h w n``;
      without the closed form: the explainer's own forward pass ``F``, ``K`` backward passes
      through the layers after the Grad-CAM layer, and the maps.
    * Grad, Grad*Input, Guided Backprop: the explainer's own forward pass ``F`` (see
      ``Explainer.online``) and the ``K`` input-gradient backward passes of the Jacobian
      (``batch_jacobian``: one vector-Jacobian product a class, each costing what the forward
      pass costs, the first layer's included): ``(1 + K) F``.
    """
    classes = model.output_shape[-1]
    forward = forward_flops(model)
    if explainer.name != "grad_cam":
        return (1 + classes) * forward
    h, w, n = model.get_layer(explainer.layer).output.shape[1:]
    maps = 2 * classes * h * w * n
    if explainer.head is not None:
        return maps
    index = [layer.name for layer in model.layers].index(explainer.layer)
    after = sum(layer_flops(layer) for layer in model.layers[index + 1:])
    return forward + classes * after + maps


def step_flops(model, explainer=None, teacher=None):
    """Floating-point operations of one training step, per sample: ``{"forward", "backward",
    "explanation", "teacher", "total"}``.

    Convention (counted from the model, :func:`layer_flops`: 2 x the multiply-accumulates of
    every convolution and dense layer; element-wise work, the loss, Eq. 6's cosines and the
    optimizer's update are not counted): a training step is 3 x the forward pass ``F``, the
    forward pass plus a backward pass of input gradients (``F``) and one of weight gradients
    (``F``). That counts the input gradient of the layer reading the images too, which CE
    does not need: CE's true count is lower by a third of that layer's share of ``F``: 1.2 %
    on ResNet-8, 0.55 % on ResNet-14, 14 % on the MLP (its first layer is 43 % of ``F``). LE adds
    :func:`explanation_flops` (``explainer``; ``None``: CE, or LE's warm-up, whose
    explanation branch is not taken); KD-like methods add the ``teacher``'s forward pass
    (inference mode). ResNet-8: ``F`` = 25.0 MFLOP, a step at batch 128 = 9.60 GFLOP (CE).
    """
    forward = forward_flops(model)
    parts = {"forward": forward, "backward": 2 * forward,
             "explanation": explanation_flops(model, explainer) if explainer else 0,
             "teacher": forward_flops(teacher) if teacher is not None else 0}
    return {**parts, "total": sum(parts.values())}


def method_flops(method, introspective=True):
    """:func:`step_flops` per sample of a built method (LE's explainer unless in warm-up; a
    distillation method's teacher)."""
    explainer = getattr(method, "explainer", None) if introspective else None
    return step_flops(method.model, explainer, getattr(method, "teacher", None))


def parse_cpuinfo(text):
    """The processor entries of ``/proc/cpuinfo`` text: a list of ``{field: value}``."""
    entries, entry = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if "processor" in entry:
                entries.append(entry)
            entry = {}
            continue
        key, _, value = line.partition(":")
        entry[key.strip()] = value.strip()
    return entries


def cpu_peaks(cpuinfo=None, cpus=None, ghz=None):
    """Peak float32 and bfloat16 GFLOP/s of the CPUs this process runs on, and what was
    assumed: the one place the roofline's peaks come from.

    ``cpuinfo``: ``/proc/cpuinfo``'s text (default: read it); ``cpus``: the logical CPUs used
    (default: this process's affinity); ``ghz``: the clock (default: the largest ``cpu MHz``
    of those CPUs; in a virtual machine this is the nominal, TSC, rate: turbo may run faster,
    AVX-512 and AMX licence clocks slower).

    Peak = physical cores x clock x FLOP per cycle per core. Physical cores: the distinct
    ``(physical id, core id)`` of the CPUs used (two hyperthreads of one core share its
    units and count once; ``siblings`` > ``cpu cores`` says a package has hyperthreads). In
    a virtual machine this is the topology the hypervisor presents, which may hide that two
    vCPUs are hyperthreads of one host core. float32: FMA units x 32-bit lanes x 2 (a
    multiply-add is 2 FLOP); two FMA units (Intel since Haswell, AMD since Zen 2; some Xeon
    Silver / Bronze have one 512-bit unit), 16 lanes with ``avx512f`` on Intel and on AMD from
    Zen 5 (family 26), 8 on AMD Zen 4 (family 25: 512-bit instructions on two 256-bit pipes)
    and with AVX2 only. bfloat16: with ``amx_bf16`` the AMX tile unit
    (``AMX_BF16_FLOP_PER_CYCLE``), else with ``avx512_bf16`` twice the float32 rate
    (VDPBF16PS: two bfloat16 products a 32-bit lane), else the float32 rate (converted).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    if cpus is None:
        try:
            cpus = os.sched_getaffinity(0)
        except AttributeError:
            cpus = None
    entries = parse_cpuinfo(cpuinfo)
    used = [e for e in entries if cpus is None or int(e["processor"]) in cpus] or entries
    result = {"cpu_model": None, "logical_cpus": len(used), "physical_cores": None,
              "ghz": None, "clock_source": None, "f32_flop_per_cycle_core": None,
              "bf16_flop_per_cycle_core": None, "bf16_unit": None, "f32_peak_gflops": None,
              "bf16_peak_gflops": None, "assumptions": []}
    notes = result["assumptions"]
    flags_ = set(used[0].get("flags", "").split()) if used else set()
    if not used or not flags_ & {"sse", "sse2", "avx", "avx2"}:
        notes.append("not an x86 /proc/cpuinfo (no x86 flags): peaks unknown")
        return result
    first = used[0]
    vendor, family = first.get("vendor_id", "?"), int(first.get("cpu family", "0") or 0)
    result.update(cpu_model=first.get("model name"), vendor=vendor, cpu_family=family)
    if all("physical id" in e and "core id" in e for e in used):
        cores = len({(e["physical id"], e["core id"]) for e in used})
        siblings, per_package = first.get("siblings"), first.get("cpu cores")
        notes.append(f"{cores} physical core(s) for {len(used)} logical CPU(s): distinct "
                     f"(physical id, core id); siblings {siblings}, cpu cores {per_package} "
                     "(the topology as the kernel sees it; a hypervisor may back vCPUs by "
                     "hyperthreads of one host core without saying so)")
    else:
        cores = len(used)
        notes.append(f"no core ids: {cores} logical CPU(s) counted as physical cores")
    result["physical_cores"] = cores
    if ghz:
        result.update(ghz=float(ghz), clock_source="--cpu_ghz")
    else:
        mhz = [float(e["cpu MHz"]) for e in used if e.get("cpu MHz")]
        if mhz:
            result.update(ghz=round(max(mhz) / 1e3, 3), clock_source="/proc/cpuinfo cpu MHz")
            notes.append(f"clock {max(mhz) / 1e3:.3g} GHz from /proc/cpuinfo 'cpu MHz' "
                         "(in a VM the nominal rate; turbo and AVX-512/AMX clocks differ)")
        else:
            notes.append("no 'cpu MHz' in /proc/cpuinfo: peaks unknown (give --cpu_ghz)")
    amd = vendor == "AuthenticAMD"
    if "avx512f" in flags_ and not (amd and family < 26):
        bits, why = 512, ("avx512f: 512-bit vectors, two FMA units assumed (some Xeon "
                          "Silver / Bronze have one)")
    elif "avx512f" in flags_:
        bits, why = 256, ("AMD Zen 4 (family 25) with avx512f: 512-bit instructions on two "
                          "256-bit FMA pipes")
    elif flags_ & {"avx2", "avx"}:
        bits, why = 256, "AVX/AVX2: 256-bit vectors"
    else:
        bits, why = 128, "SSE only: 128-bit vectors"
    units = 2 if "fma" in flags_ else 1
    f32 = units * (bits // 32) * 2
    notes.append(f"float32: {why}; {units} FMA unit(s) x {bits // 32} lanes x 2 = {f32} "
                 "FLOP/cycle/core" + ("" if "fma" in flags_ else
                                      " (no FMA: one multiply and one add pipe)"))
    if "amx_bf16" in flags_:
        bf16, unit = AMX_BF16_FLOP_PER_CYCLE, "amx_bf16"
        notes.append(f"bfloat16: AMX tile unit, {bf16} FLOP/cycle/core (Intel Architecture "
                     "Day 2021, Sapphire Rapids); reached only by large matrix products that "
                     "oneDNN runs on AMX")
    elif "avx512_bf16" in flags_:
        bf16, unit = 2 * f32, "avx512_bf16"
        notes.append(f"bfloat16: avx512_bf16 (VDPBF16PS), 2 x float32 = {bf16} FLOP/cycle/core")
    else:
        bf16, unit = f32, "none"
        notes.append("bfloat16: no bfloat16 arithmetic unit; computed as float32")
    result.update(vector_bits=bits, fma_units=units, f32_flop_per_cycle_core=f32,
                  bf16_flop_per_cycle_core=bf16, bf16_unit=unit)
    if result["ghz"]:
        result["f32_peak_gflops"] = round(cores * result["ghz"] * f32, 1)
        result["bf16_peak_gflops"] = round(cores * result["ghz"] * bf16, 1)
    return result


def print_peaks(peaks):
    f32, bf16 = peaks["f32_peak_gflops"], peaks["bf16_peak_gflops"]
    print(f"\nRoofline peaks ({peaks['cpu_model'] or 'unknown CPU'}): float32 "
          f"{f32 if f32 is not None else '?'} GFLOP/s, bfloat16 "
          f"{bf16 if bf16 is not None else '?'} GFLOP/s ({peaks['physical_cores']} physical "
          f"core(s) x {peaks['ghz'] or '?'} GHz x {peaks['f32_flop_per_cycle_core']} / "
          f"{peaks['bf16_flop_per_cycle_core']} FLOP/cycle/core). Assumed:")
    for note in peaks["assumptions"]:
        print(f"  - {note}")


def roofline(flops, seconds, peak_gflops):
    """``(achieved GFLOP/s, fraction of the peak or None)`` of ``flops`` in ``seconds``."""
    rate = flops / seconds / 1e9
    return round(rate, 2), (round(rate / peak_gflops, 4) if peak_gflops else None)


def _pct(fraction):
    return f"{100 * fraction:.1f}%" if fraction is not None else "?"


# --------------------------------------------------------------------------------------------
# Part "steps": compiled train_step ratios
# --------------------------------------------------------------------------------------------

Step = collections.namedtuple("Step", "fn input_shape method precision")


@contextlib.contextmanager
def precision_policy(precision):
    """Keras' global dtype policy ``precision`` inside (``main.use_precision`` holds
    ``--precision`` so for a run), the previous one restored after."""
    import keras
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def compiled_step(method_name, model_name, explainer, introspective=True, teacher=None,
                  precision="float32", weights=None):
    """A :class:`Step`: the method's ``train_step`` under ``tf.function`` (traced at its first
    call) on a new model (seed 0, or ``weights``: a twin's ``get_weights()``), the model, the
    teacher and the method built and compiled under Keras' global dtype policy ``precision``
    (the previous policy restored after)."""
    import keras
    import tensorflow as tf

    from tf_introspect import methods, models
    with precision_policy(precision):
        keras.utils.set_random_seed(0)
        model = models.get(model_name, weight_decay=5e-4)
        if weights is not None:
            model.set_weights(weights)
        cfg = dict(explainer=explainer, alpha=0.9, lam=0.1, seed=0, temperature=4.0)
        teacher = models.get(teacher) if teacher else None
        method = methods.build(method_name, model, cfg, teacher)
        if hasattr(method, "introspective"):
            method.introspective.assign(float(introspective))
        method.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), metrics=["accuracy"])
    return Step(tf.function(method.train_step), model.input_shape[1:], method, precision)


def time_steps(variants, batch, rounds, steps, alternate=False):
    """Seconds per step of each :class:`Step` of ``variants`` (``{name: Step}``, one input
    shape) on one random batch: each traced and warmed up (3 steps) under its own dtype
    policy, then ``rounds`` interleaved rounds of ``steps`` steps each (so drift of the
    machine hits all alike; ``alternate``: the order reversed every other round).
    ``{name: [seconds per step, one a round]}``."""
    import tensorflow as tf
    shape = next(iter(variants.values())).input_shape
    x = tf.random.stateless_normal((batch, *shape), seed=[0, 1])
    y = tf.random.stateless_uniform((batch,), seed=[0, 2], maxval=10, dtype=tf.int32)
    for variant in variants.values():       # trace and warm up
        with precision_policy(variant.precision):
            for _ in range(3):
                variant.fn((x, y))
    times = {name: [] for name in variants}
    for i in range(rounds):
        for name in (list(variants) if not alternate or i % 2 == 0 else list(variants)[::-1]):
            step = variants[name].fn
            start = time.perf_counter()
            for _ in range(steps):
                logs = step((x, y))
            float(logs["loss"])                # wait for the last step
            times[name].append((time.perf_counter() - start) / steps)
    return times


def time_case(model_name, batch, explainer, teacher, rounds, steps):
    """Median seconds per step for CE, LE, LE-in-warm-up (and KD), interleaved, and the FLOPs
    of each step (:func:`method_flops` x batch)."""
    variants = {"ce": compiled_step("ce", model_name, explainer),
                "le": compiled_step("le", model_name, explainer),
                "le_warmup": compiled_step("le", model_name, explainer, introspective=False)}
    if teacher:
        variants["kd"] = compiled_step("kd", model_name, explainer, teacher=teacher)
    times = time_steps(variants, batch, rounds, steps)
    flops = {name: batch * method_flops(v.method, introspective=name != "le_warmup")["total"]
             for name, v in variants.items()}
    return {name: statistics.median(t) for name, t in times.items()}, flops


def steps_part(cases, rounds, steps, peaks=None):
    peak = (peaks or {}).get("f32_peak_gflops")
    results, roof = {}, []
    print(f"\n== Step cost: compiled train_step, median of {rounds} interleaved rounds of "
          f"{steps} steps ==")
    print(f"{'case':28s} {'CE ms':>8s} {'LE ms':>8s} {'LE/CE':>7s} {'warm-up/CE':>11s} "
          f"{'KD(resnet26)/CE':>16s}")
    for case in cases:
        t, flops = time_case(*CASES[case], rounds, steps)
        r = results[case] = {f"{k}_ms": round(v * 1e3, 2) for k, v in t.items()}
        for name in ("le", "le_warmup", "kd"):
            if name in t:
                r[f"{name}_over_ce"] = round(t[name] / t["ce"], 3)
        kd = f"{r['kd_over_ce']:16.3f}" if "kd" in t else f"{'-':>16s}"
        print(f"{case:28s} {r['ce_ms']:8.2f} {r['le_ms']:8.2f} {r['le_over_ce']:7.3f} "
              f"{r['le_warmup_over_ce']:11.3f} {kd}", flush=True)
        r["gflop"] = {k: round(v / 1e9, 4) for k, v in flops.items()}
        r["gflop_per_s"], r["f32_peak_fraction"] = {}, {}
        for name in t:
            r["gflop_per_s"][name], r["f32_peak_fraction"][name] = roofline(
                flops[name], t[name], peak)
            roof.append((case, name, r["gflop"][name], r[f"{name}_ms"],
                         r["gflop_per_s"][name], r["f32_peak_fraction"][name]))
    print(f"\nRoofline (FLOPs counted from the model: step = 3 x forward, + LE's explanation, "
          f"+ KD's teacher forward; bench.step_flops), float32 peak {peak or '?'} GFLOP/s:")
    print(f"{'case':28s} {'variant':10s} {'GFLOP/step':>11s} {'ms':>8s} {'GFLOP/s':>9s} "
          f"{'of peak':>8s}")
    for case, name, gflop, ms, rate, fraction in roof:
        print(f"{case:28s} {name:10s} {gflop:11.3f} {ms:8.2f} {rate:9.1f} {_pct(fraction):>8s}")
    return results


# --------------------------------------------------------------------------------------------
# The command line's fit path
# --------------------------------------------------------------------------------------------

def step_stamps():
    """A Keras callback holding ``(step, time)`` at the end of every training (``.train``)
    and test (``.test``) batch (with ``steps_per_execution`` > 1: of every execution, at its
    last step)."""
    import keras

    class StepStamps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train, self.test = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.train.append((batch, time.perf_counter()))

        def on_test_batch_end(self, batch, logs=None):
            self.test.append((batch, time.perf_counter()))

    return StepStamps()


def per_step(stamps):
    """Seconds per step from the end of the first step (execution) to the end of the last
    (None for a single one)."""
    if len(stamps) < 2:
        return None
    (first, start), (last, end) = stamps[0], stamps[-1]
    return (end - start) / (last - first)


def find_data_dir(dataset, data_dir=None):
    """``(data_dir, True)`` where ``dataset`` is found, else ``(None, False)``."""
    from tf_introspect import data
    candidates = [data_dir] if data_dir else [os.path.join(REPO, "data"),
                                              os.path.join(REPO, "..", "shared", "data")]
    for folder in candidates:
        try:
            data.load_arrays(dataset, "test", os.path.abspath(folder))
            return os.path.abspath(folder), True
        except (data.DataNotFoundError, data.DataFormatError, OSError):
            continue
    return None, False


def data_source(folder, found):
    return f"real ({os.path.relpath(folder, REPO)})" if found else \
        "random pixels (data set not found)"


@contextlib.contextmanager
def random_pixels():
    """``data.load_arrays`` gives random uint8 images of the data set's shape (the full
    split's size): the real pipeline on fake pixels, for timing without the data."""
    import numpy as np

    from tf_introspect import data
    from tf_introspect.data import pipeline     # make_dataset's own name for it
    real = data.load_arrays

    def fake(name, split, data_dir=None):
        info = data.info(name)
        n = TEST_SIZE if split == "test" else TRAIN_SIZE[name]
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, size=(n, *info.input_shape), dtype=np.uint8),
                rng.integers(0, info.num_classes, size=n).astype(np.int64))
    data.load_arrays = pipeline.load_arrays = fake
    try:
        yield
    finally:
        data.load_arrays = pipeline.load_arrays = real


@contextlib.contextmanager
def cli_determinism(cfg):
    """TensorFlow's op determinism as ``main.seed_everything`` sets it for ``cfg`` (on with
    ``--deterministic`` unless the step is XLA-compiled), turned back off afterwards."""
    from tensorflow.python.framework.config import (disable_op_determinism,
                                                    is_op_determinism_enabled)

    from tf_introspect import main
    was_on = is_op_determinism_enabled()
    main.seed_everything(cfg)
    try:
        yield bool(cfg.get("deterministic") and not ti_flags.use_jit(cfg))
    finally:
        if is_op_determinism_enabled() and not was_on:
            disable_op_determinism()   # no public API


def case_config(flagfile, batches, eval_batches, data_dir, extra=()):
    """The command line's configuration for a paper cell's flag file, cut to ``batches``
    training and ``eval_batches`` test batches."""
    base = ti_flags.config_from_args([f"--flagfile={os.path.join(REPO, flagfile)}", *extra])
    batch = base["batch_size"]
    args = [f"--flagfile={os.path.join(REPO, flagfile)}", f"--train_limit={batch * batches}",
            f"--test_limit={batch * eval_batches}", *extra]
    if data_dir:
        args.append(f"--data_dir={data_dir}")
    return ti_flags.config_from_args(args)


def cli_method(cfg, steps_per_execution=None):
    """Method built and compiled as ``main.run`` does (teacher: the architecture, untrained);
    the learning-rate schedule counts full-size epochs. ``steps_per_execution``: instead of
    the command line's choice."""
    from tf_introspect import main, methods, teachers
    from tf_introspect.build import make_method
    if steps_per_execution:
        cfg = {**cfg, "steps_per_execution": steps_per_execution}
    teacher = teachers.architecture(cfg, methods.entry(cfg["method"]).teacher)
    method = make_method(cfg, teacher)
    full = math.ceil(TRAIN_SIZE[cfg["dataset"]] / cfg["batch_size"])
    main.compile_method(method, cfg, full)
    return method


def _timed(stamps, start):
    """``(seconds per step, seconds of the call not spent in its steps)`` of a fit/evaluate
    call started at ``start``: steps timed from the first step's end to the last's (the whole
    call's wall time over its steps if it ran a single execution); the rest is the call's
    start-up and end (iterator, callbacks, end of data), paid once per epoch."""
    wall = time.perf_counter() - start
    steps = stamps[-1][0] + 1
    step = per_step(stamps) or wall / steps
    return step, max(wall - steps * step, 0.0)


def timed_fit(model, train, stamps, verbose=2):
    """``fit`` one epoch of ``train`` with the command line's per-step callback and progress
    logger (its output swallowed): ``_timed``."""
    from tf_introspect.callbacks import StopOnNaN
    stamps.train.clear()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(train, epochs=1, verbose=verbose, shuffle=False,
                  callbacks=[StopOnNaN(), stamps])
    return _timed(stamps.train, start)


def timed_evaluate(model, test, stamps):
    """``evaluate`` ``test`` (the validation pass of ``fit``): ``_timed``."""
    stamps.test.clear()
    start = time.perf_counter()
    model.evaluate(test, verbose=0, callbacks=[stamps])
    return _timed(stamps.test, start)


def cost_key(cfg):
    """What a run's epoch costs like: model, batch and the step's kind."""
    method = cfg["method"]
    if method in CE_LIKE:
        kind = "ce"
    elif method in ("le", "le_permut"):
        kind = f"le_{cfg['explainer']}"
    elif method in KD_LIKE:
        kind = f"kd_{cfg.get('teacher_model') or 'given'}"
    else:
        kind = method
    return f"{cfg['model']}_b{cfg['batch_size']}_{kind}"


def epoch_steps(cfg, limits=True):
    """``(training steps, evaluation steps)`` of one epoch of ``cfg``: the data set's full
    splits, cut by ``--train_limit`` / ``--test_limit`` only with ``limits``; the validation
    pass is on the held-out images (``--validation_split``) or the test set."""
    n_train, n_test = TRAIN_SIZE[cfg["dataset"]], TEST_SIZE
    if limits:
        n_train = min(cfg.get("train_limit") or n_train, n_train)
        n_test = min(cfg.get("test_limit") or n_test, n_test)
    held_out = cfg.get("validation_split") or 0
    batch = cfg["batch_size"]
    return math.ceil((n_train - held_out) / batch), math.ceil((held_out or n_test) / batch)


def fit_case(name, fit_steps, warmup, rounds, eval_steps, data_dir, steps_per_execution=None,
             precisions=("float32",)):
    """Time one paper cell through the command line's fit path, at each of ``precisions``
    (``--precision``: Keras' global dtype policy, held while its method is built, compiled,
    fit and evaluated, as ``main.use_precision`` holds it for a run): one method each (the
    later ones with the first one's weights), their fits interleaved (the order alternating by
    round), then their evaluations. ``{precision: result}``."""
    from tf_introspect import main
    flagfile = FIT_CASES[name]
    dataset = ti_flags.config_from_args([f"--flagfile={os.path.join(REPO, flagfile)}"])["dataset"]
    folder, found = find_data_dir(dataset, data_dir)
    pixels = contextlib.nullcontext() if found else random_pixels()
    cfgs = {p: case_config(flagfile, fit_steps, eval_steps, folder, [f"--precision={p}"])
            for p in precisions}
    cfg = cfgs[precisions[0]]
    order = list(precisions)
    with pixels, cli_determinism(cfg) as deterministic:     # also seeds, as main.run
        built = {}
        for p in order:
            with precision_policy(p):
                built[p] = cli_method(cfgs[p], steps_per_execution)
            if p != order[0]:
                built[p].model.set_weights(built[order[0]].model.get_weights())
        train, _, test = main.datasets(cfg)
        stamps = step_stamps()
        for p in order:
            with precision_policy(p):
                timed_fit(built[p], train.take(warmup), stamps)   # trace / compile, warm up
                timed_evaluate(built[p], test.take(2), stamps)
        fits, evaluations = {p: [] for p in order}, {p: [] for p in order}
        for timings, timed, data in ((fits, timed_fit, train), (evaluations, timed_evaluate, test)):
            for i in range(rounds):
                for p in (order if i % 2 == 0 else order[::-1]):
                    with precision_policy(p):
                        timings[p].append(timed(built[p], data, stamps))
    results = {}
    for p in order:
        train_s, fit_overhead = (statistics.median(v) for v in zip(*fits[p]))
        eval_s, eval_overhead = (statistics.median(v) for v in zip(*evaluations[p]))
        steps, evals = epoch_steps(cfg, limits=False)     # a full epoch, not the bench's cut
        epoch = steps * train_s + fit_overhead + evals * eval_s + eval_overhead
        result = results[p] = {
            "flagfile": flagfile, "model": cfg["model"], "method": cfg["method"],
            "batch_size": cfg["batch_size"], "precision": p,
            "jit_compile": bool(ti_flags.use_jit(cfg)),
            "op_determinism": deterministic, "cost_key": cost_key(cfg),
            "data": data_source(folder, found),
            "steps_per_execution": int(built[p].steps_per_execution),
            "ms_per_step": round(train_s * 1e3, 3), "eval_ms_per_step": round(eval_s * 1e3, 3),
            "fit_overhead_s": round(fit_overhead, 3), "eval_overhead_s": round(eval_overhead, 3),
            "train_steps_per_epoch": steps, "eval_steps_per_epoch": evals,
            "train_s_per_epoch": round(steps * train_s + fit_overhead, 2),
            "eval_s_per_epoch": round(evals * eval_s + eval_overhead, 2),
            "s_per_epoch": round(epoch, 2)}
        if cfg["method"] in ("le", "le_permut"):
            result["warmup_epochs"] = cfg["warmup_epochs"]
    return results


def _short_precision(precision):
    return {"float32": "f32", "mixed_bfloat16": "bf16"}.get(precision, precision)


def precision_target(model, method, explainer=None):
    """Issue 17's bfloat16 / float32 time target for a model and method (None: none)."""
    kind = f"le_{explainer}" if method in ("le", "le_permut") else method
    return PRECISION_TARGETS.get((model, kind))


def plan_cost(name, measured):
    """Projected wall time (one process, this machine) of protocol ``name``."""
    from tf_introspect import experiments, main
    path, protocol_flags, cells = PROTOCOLS[name]
    plan = experiments.load_plan(os.path.join(REPO, path))
    if protocol_flags is not None:
        plan = {**plan, "flags": protocol_flags}
    by_key = {r["cost_key"]: r for r in measured.values()}
    runs = experiments.plan_runs(plan, cells)
    total, epochs, missing, grid_runs = 0.0, 0, set(), 0
    for run in runs:
        cell = next(c for c in plan["cell"] if c["name"] == run.cell)
        args = run.args or [*experiments._cell_args(plan, cell), "--seed=0"]   # grid pending
        cfg = ti_flags.config_from_args(args)
        grid_runs += bool(run.grid)
        epochs += cfg["epochs"]
        key = cost_key(cfg)
        if key not in by_key:
            missing.add(key)
            continue
        steps, evals = epoch_steps(cfg)
        r = by_key[key]

        def epoch_s(case):
            return (steps * case["ms_per_step"] / 1e3 + case["fit_overhead_s"]
                    + evals * case["eval_ms_per_step"] / 1e3 + case["eval_overhead_s"])

        stage1 = cfg["warmup_epochs"] if cfg["method"] in ("le", "le_permut") else 0
        stage1 = min(stage1, cfg["epochs"])
        warm = by_key.get(cost_key({**cfg, "method": "ce"}), r)     # warm-up costs CE
        total += stage1 * epoch_s(warm) + (cfg["epochs"] - stage1) * epoch_s(r)
        # Hint's and FSP's stage 1 before the schedule, priced as a stage-2 epoch (an upper
        # bound: stage 1 runs the student only up to its guided layer)
        total += main.pretraining_epochs(cfg) * epoch_s(r)
        epochs += main.pretraining_epochs(cfg)
    return {"plan": path, "protocol_flags": plan.get("flags", {}), "cells": cells or "all",
            "runs": len(runs), "grid_runs": grid_runs, "epochs": epochs,
            "hours": None if missing else round(total / 3600, 1),
            "missing_cases": sorted(missing)}


def fit_part(cases, fit_steps, warmup, rounds, eval_steps, protocols, data_dir,
             steps_per_execution=None, precisions=("float32",)):
    precisions = list(precisions)
    several = len(precisions) > 1
    spe = f", steps_per_execution={steps_per_execution}" if steps_per_execution else ""
    at = f", at {' and '.join(precisions)} (fits interleaved)" if several else \
        ("" if precisions == ["float32"] else f", at {precisions[0]}")
    print(f"\n== Epoch time through the command line's fit path: {fit_steps} steps after a "
          f"{warmup}-step warm-up fit, median of {rounds} fits; validation {eval_steps} "
          f"steps{spe}{at} ==")
    prec = f" {'prec':>5s}" if several else ""
    print(f"{'case':27s}{prec} {'XLA':>4s} {'det':>4s} {'data':>6s} {'ms/step':>9s} "
          f"{'eval ms':>8s} {'start+end s':>12s} {'steps':>6s} {'s/epoch':>9s}")
    measured, by_precision = {}, {}
    for case in cases:
        rows = by_precision[case] = fit_case(case, fit_steps, warmup, rounds, eval_steps,
                                             data_dir, steps_per_execution, precisions)
        measured[case] = rows[precisions[0]]
        for p, r in rows.items():
            prec = f" {_short_precision(p):>5s}" if several else ""
            print(f"{case:27s}{prec} {'yes' if r['jit_compile'] else 'no':>4s} "
                  f"{'on' if r['op_determinism'] else 'off':>4s} "
                  f"{'real' if r['data'].startswith('real') else 'random':>6s} "
                  f"{r['ms_per_step']:9.2f} {r['eval_ms_per_step']:8.2f} "
                  f"{r['fit_overhead_s'] + r['eval_overhead_s']:12.2f} "
                  f"{r['train_steps_per_epoch']:6d} {r['s_per_epoch']:9.1f}", flush=True)
    precision = None
    if several:
        first = precisions[0]
        print(f"\nPrecision ratios of the fit path (to {first}): ms/step, eval ms/step, "
              "s/epoch; target: issue 17's for the step")
        print(f"{'case':27s} {'precision':>15s} {'step':>7s} {'eval':>7s} {'epoch':>7s} "
              f"{'target':>7s}")
        precision = {"precisions": precisions, "cases": by_precision, "ratios": {}}
        for case, rows in by_precision.items():
            base = rows[first]
            target = precision_target(base["model"], base["method"],
                                      ti_flags.config_from_args([
                                          f"--flagfile={os.path.join(REPO, FIT_CASES[case])}"
                                      ]).get("explainer"))
            ratios = precision["ratios"][case] = {}
            for p in precisions[1:]:
                r = rows[p]
                ratios[p] = {"ms_per_step": _ratio(r["ms_per_step"], base["ms_per_step"]),
                             "eval_ms_per_step": _ratio(r["eval_ms_per_step"],
                                                        base["eval_ms_per_step"]),
                             "s_per_epoch": _ratio(r["s_per_epoch"], base["s_per_epoch"]),
                             "target": target}
                shown = f"<= {target}" if target else "-"
                print(f"{case:27s} {p:>15s} {ratios[p]['ms_per_step']:7.3f} "
                      f"{ratios[p]['eval_ms_per_step']:7.3f} {ratios[p]['s_per_epoch']:7.3f} "
                      f"{shown:>7s}", flush=True)
    projected = {}
    if protocols:
        at = "" if precisions[0] == "float32" else f", at {precisions[0]}"
        print(f"\nProjected wall time of each protocol, one process on this machine (epochs x "
              "epoch time over all runs; LE warm-up epochs at the CE cost; teachers, "
              f"per-epoch callbacks not included{at}):")
        print(f"{'protocol':14s} {'runs':>5s} {'(grid)':>7s} {'epochs':>7s} {'hours':>8s}  "
              f"{'days':>6s}  missing fit cases")
        for name in protocols:
            p = projected[name] = plan_cost(name, measured)
            hours = f"{p['hours']:8.1f}" if p["hours"] is not None else f"{'-':>8s}"
            days = f"{p['hours'] / 24:6.1f}" if p["hours"] is not None else f"{'-':>6s}"
            print(f"{name:14s} {p['runs']:5d} {p['grid_runs']:7d} {p['epochs']:7d} {hours}  "
                  f"{days}  {', '.join(p['missing_cases']) or '-'}")
    result = {"cases": measured, "protocols": projected,
              "settings": {"fit_steps": fit_steps, "fit_warmup": warmup, "fit_rounds": rounds,
                           "eval_steps": eval_steps, "steps_per_execution": steps_per_execution,
                           "precisions": precisions}}
    if precision:
        result["precision"] = precision
    return result


# --------------------------------------------------------------------------------------------
# Our CE against plain Keras
# --------------------------------------------------------------------------------------------

def plain_keras_twin(method):
    """The method's classifier cloned with its weights, compiled with Keras' own sparse CE and
    a copy of the method's optimizer (SGD, momentum, schedule), the same ``jit_compile``."""
    import keras
    model = keras.models.clone_model(method.model)
    model.set_weights(method.model.get_weights())
    optimizer = type(method.optimizer).from_config(method.optimizer.get_config())
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=method.jit_compile,
                  steps_per_execution=method.steps_per_execution)
    return model


def keras_case(name, fit_steps, warmup, rounds, data_dir, steps_per_execution=None):
    """Our CE and its plain-Keras twin, interleaved fits (the order alternating by round)."""
    from tf_introspect import main
    flagfile = KERAS_CASES[name]
    dataset = ti_flags.config_from_args([f"--flagfile={os.path.join(REPO, flagfile)}"])["dataset"]
    folder, found = find_data_dir(dataset, data_dir)
    pixels = contextlib.nullcontext() if found else random_pixels()
    cfg = case_config(flagfile, fit_steps, 1, folder)
    with pixels, cli_determinism(cfg) as deterministic:
        ours = cli_method(cfg, steps_per_execution)
        twin = plain_keras_twin(ours)
        train, _, _ = main.datasets(cfg)
        stamps = step_stamps()
        models = {"ours": ours, "keras": twin}
        for model in models.values():
            timed_fit(model, train.take(warmup), stamps)
        times = {k: [] for k in models}
        for i in range(rounds):
            for k in (list(models) if i % 2 == 0 else list(models)[::-1]):
                times[k].append(timed_fit(models[k], train, stamps)[0])
    t = {k: statistics.median(v) for k, v in times.items()}
    return {"flagfile": flagfile, "jit_compile": bool(ours.jit_compile),
            "op_determinism": deterministic,
            "data": data_source(folder, found),
            "steps_per_execution": int(ours.steps_per_execution),
            "ours_ms": round(t["ours"] * 1e3, 3), "keras_ms": round(t["keras"] * 1e3, 3),
            "ours_over_keras": _ratio(t["ours"], t["keras"]), "target": 1.05}


def keras_part(cases, fit_steps, warmup, rounds, data_dir, steps_per_execution=None):
    print(f"\n== Our CE vs plain Keras (SparseCategoricalCrossentropy), fit through the same "
          f"pipeline and callbacks, median of {rounds} interleaved fits of {fit_steps} steps ==")
    print(f"{'case':14s} {'XLA':>4s} {'det':>4s} {'ours ms':>9s} {'Keras ms':>9s} "
          f"{'ours/Keras':>11s} {'target':>7s}")
    results = {}
    for case in cases:
        r = results[case] = keras_case(case, fit_steps, warmup, rounds, data_dir,
                                       steps_per_execution)
        print(f"{case:14s} {'yes' if r['jit_compile'] else 'no':>4s} "
              f"{'on' if r['op_determinism'] else 'off':>4s} {r['ours_ms']:9.2f} "
              f"{r['keras_ms']:9.2f} {r['ours_over_keras']:11.3f} {'<= 1.05':>7s}", flush=True)
    return results


# --------------------------------------------------------------------------------------------
# jit_compile and steps_per_execution through the user API
# --------------------------------------------------------------------------------------------

def user_api_method(kind, model_name, explainer, lr, variant):
    """A method as a user's own code builds it (README, "In your own code"): ``kind`` ``ce``
    or ``le``, compiled with ``USER_API_VARIANTS[variant]``; LE in its introspective stage."""
    import keras

    import tf_introspect
    from tf_introspect import models
    model = models.get(model_name, weight_decay=1e-4)
    if kind == "ce":
        method = tf_introspect.methods.CrossEntropy(model)
    else:
        method = tf_introspect.Introspective(model, explainer=explainer)
        method.introspective.assign(1.0)        # stage 2 (already so without WarmupSwitch)
    method.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9), metrics=["accuracy"],
                   **USER_API_VARIANTS[variant])
    return method


def user_api_case(name, fit_steps, warmup, rounds, data_dir):
    """CE and LE compiled with each of the case's variants, fit in interleaved rounds (the
    order reversed every other round); median ms/step, ratios."""
    import keras
    from tensorflow.python.framework.config import is_op_determinism_enabled

    from tf_introspect import main
    flagfile, explainer, variants = USER_API_CASES[name]
    dataset = ti_flags.config_from_args([f"--flagfile={os.path.join(REPO, flagfile)}"])["dataset"]
    folder, found = find_data_dir(dataset, data_dir)
    pixels = contextlib.nullcontext() if found else random_pixels()
    cfg = case_config(flagfile, fit_steps, 1, folder)
    keys = [(v, kind) for v in variants for kind in ("ce", "le")]
    with pixels:
        built, weights = {}, {}
        for v, kind in keys:
            keras.utils.set_random_seed(cfg["seed"])       # every variant: the same weights
            built[v, kind] = user_api_method(kind, cfg["model"], explainer, cfg["lr"], v)
            weights.setdefault(kind, built[v, kind].model.get_weights())
            built[v, kind].model.set_weights(weights[kind])
        train, _, _ = main.datasets(cfg)
        stamps = step_stamps()
        for key in keys:
            timed_fit(built[key], train.take(warmup), stamps)    # trace / compile, warm up
        times = {key: [] for key in keys}
        for i in range(rounds):
            for key in (keys if i % 2 == 0 else keys[::-1]):
                times[key].append(timed_fit(built[key], train, stamps)[0])
    ms = {key: statistics.median(t) * 1e3 for key, t in times.items()}
    rows = {}
    for v in variants:
        ce, le = ms[v, "ce"], ms[v, "le"]
        rows[v] = {"compile_args": dict(USER_API_VARIANTS[v]),
                   "jit_compile": bool(built[v, "le"].jit_compile),      # as Keras resolved it
                   "steps_per_execution": int(built[v, "le"].steps_per_execution),
                   "ce_ms": round(ce, 3), "le_ms": round(le, 3), "le_over_ce": _ratio(le, ce),
                   "ce_speedup": _ratio(ms["default", "ce"], ce),
                   "le_speedup": _ratio(ms["default", "le"], le)}
    return {"flagfile": flagfile, "model": cfg["model"], "batch_size": cfg["batch_size"],
            "explainer": explainer, "lr": cfg["lr"], "data": data_source(folder, found),
            "op_determinism": bool(is_op_determinism_enabled()), "variants": rows}


def user_api_part(cases, fit_steps, warmup, rounds, data_dir):
    print(f"\n== jit_compile / steps_per_execution through the user API (Method.compile), fit "
          f"on the real pipeline: {fit_steps} steps after a {warmup}-step warm-up fit, median of "
          f"{rounds} interleaved fits ==")
    print(f"{'case':14s} {'variant':10s} {'XLA':>4s} {'spe':>4s} {'CE ms':>8s} {'LE ms':>8s} "
          f"{'LE/CE':>7s} {'CE x':>7s} {'LE x':>7s}   (x: speed-up over default)")
    results = {}
    for case in cases:
        r = results[case] = user_api_case(case, fit_steps, warmup, rounds, data_dir)
        for v, row in r["variants"].items():
            print(f"{case:14s} {v:10s} {'yes' if row['jit_compile'] else 'no':>4s} "
                  f"{row['steps_per_execution']:4d} {row['ce_ms']:8.2f} {row['le_ms']:8.2f} "
                  f"{row['le_over_ce']:7.3f} {row['ce_speedup']:7.3f} {row['le_speedup']:7.3f}",
                  flush=True)
    return {"cases": results,
            "settings": {"fit_steps": fit_steps, "fit_warmup": warmup, "rounds": rounds}}


# --------------------------------------------------------------------------------------------
# All-class explanations against tf-keras-vis
# --------------------------------------------------------------------------------------------

def import_tf_keras_vis():
    """``(module dict, None)`` or ``(None, reason)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tf_keras_vis
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.saliency import Saliency
            from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError as e:
        return None, f"not installed ({e}); install it with: {INSTALL_HINT}"
    except Exception as e:        # noqa: BLE001 -- an incompatible release: report, skip
        return None, f"import failed: {type(e).__name__}: {e}"
    return {"version": getattr(tf_keras_vis, "__version__", "?"), "Gradcam": Gradcam,
            "Saliency": Saliency, "CategoricalScore": CategoricalScore}, None


def vis_maps(vis, model, x, method, layer, classes):
    """tf-keras-vis' maps for every class, one call per class, in our definitions."""
    import numpy as np
    score = vis["CategoricalScore"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # Keras: a list given to a one-input model
        if method == "grad_cam":
            return np.stack([np.asarray(vis["gradcam"](
                score(k), x, penultimate_layer=layer, seek_penultimate_conv_layer=False,
                expand_cam=False, normalize_cam=False)) for k in range(classes)], axis=1)
        return np.stack([np.asarray(vis["saliency"](
            score(k), x, keepdims=True, gradient_modifier=None, normalize_map=False))
            for k in range(classes)], axis=1)


def explain_part(methods_, batch, rounds):
    import keras
    import numpy as np

    from tf_introspect import explainers, models
    print(f"\n== All-class explanations vs tf-keras-vis (one call per class): resnet8, batch "
          f"{batch}, median of {rounds} interleaved rounds ==")
    vis, reason = import_tf_keras_vis()
    if vis is None:
        print(f"tf-keras-vis: {reason}. Part skipped.")
        return {"status": "skipped", "reason": reason, "install": INSTALL_HINT}
    keras.utils.set_random_seed(0)
    model = models.get("resnet8")
    x = keras.random.normal((batch, *model.input_shape[1:]), seed=1).numpy()
    classes = model.output_shape[-1]
    result = {"status": "ok", "tf_keras_vis": vis["version"], "keras": keras.__version__,
              "model": "resnet8", "batch": batch, "cases": {},
              "compared_as": "tf-keras-vis without its post-processing, i.e. our definitions: "
                             "Gradcam(seek_penultimate_conv_layer=False, expand_cam=False, "
                             "normalize_cam=False) at our Grad-CAM layer; Saliency(keepdims="
                             "True, gradient_modifier=None, normalize_map=False). Its defaults "
                             "differ: Grad-CAM at the last Conv2D layer up to the named one, "
                             "resized to the input and normalised per sample; Saliency "
                             "|gradient|, max over channels, normalised per sample."}
    print(f"tf-keras-vis {vis['version']}, Keras {keras.__version__}; compared without its "
          "post-processing (our definitions; see docs/benchmarks.md)")
    print(f"{'explainer':10s} {'ours ms':>9s} {'tf-keras-vis ms':>16s} {'speed-up':>9s} "
          f"{'target':>7s} {'max|diff|':>10s} {'max|map|':>9s} {'agree':>6s}")
    try:
        vis["gradcam"] = vis["Gradcam"](model, clone=True)
        vis["saliency"] = vis["Saliency"](model, clone=True)
    except Exception as e:      # noqa: BLE001
        reason = f"{type(e).__name__}: {e}"
        print(f"tf-keras-vis does not work with Keras {keras.__version__}: {reason}")
        return {**result, "status": "error", "reason": reason}
    for method in methods_:
        layer = explainers.get(method, model).layer
        try:
            ours = explainers.explain(model, x, method).numpy()        # trace, warm up
            theirs = vis_maps(vis, model, x, method, layer, classes)
            times = {"ours": [], "vis": []}
            for _ in range(rounds):
                start = time.perf_counter()
                explainers.explain(model, x, method).numpy()
                times["ours"].append(time.perf_counter() - start)
                start = time.perf_counter()
                vis_maps(vis, model, x, method, layer, classes)
                times["vis"].append(time.perf_counter() - start)
        except Exception as e:      # noqa: BLE001
            reason = f"{type(e).__name__}: {e}"
            print(f"{method:10s} tf-keras-vis failed with Keras {keras.__version__}: {reason}")
            result["cases"][method] = {"status": "error", "reason": reason}
            continue
        t = {k: statistics.median(v) for k, v in times.items()}
        diff = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else None
        scale = float(np.max(np.abs(ours)))
        agree = diff is not None and diff <= 1e-4 * scale + 1e-7
        r = result["cases"][method] = {
            "status": "ok", "layer": layer, "shape": list(ours.shape),
            "ours_ms": round(t["ours"] * 1e3, 2), "tf_keras_vis_ms": round(t["vis"] * 1e3, 2),
            "speedup": _ratio(t["vis"], t["ours"]), "target": EXPLAIN_METHODS[method],
            "max_abs_diff": diff, "max_abs_map": scale, "maps_agree": agree}
        print(f"{method:10s} {r['ours_ms']:9.1f} {r['tf_keras_vis_ms']:16.1f} "
              f"{r['speedup']:9.2f} {'>= ' + str(r['target']):>7s} "
              f"{diff if diff is not None else float('nan'):10.2e} {scale:9.2e} "
              f"{'yes' if agree else 'NO':>6s}", flush=True)
    return result


# --------------------------------------------------------------------------------------------
# Part "precision": bfloat16 against float32 steps
# --------------------------------------------------------------------------------------------

def precision_case(model_name, batch, names, rounds, steps):
    """float32 and mixed_bfloat16 compiled steps of each method of ``names`` (one model's
    weights for both: the bfloat16 model gets the float32 one's), timed on one random batch in
    interleaved rounds (the order reversed every other round). ``({(name, precision):
    [seconds per step, one a round]}, {name: FLOPs of the step})``."""
    variants, flops = {}, {}
    for name in names:
        method, explainer = PRECISION_METHODS[name]
        f32 = compiled_step(method, model_name, explainer, precision="float32")
        variants[(name, "float32")] = f32
        variants[(name, "mixed_bfloat16")] = compiled_step(
            method, model_name, explainer, precision="mixed_bfloat16",
            weights=f32.method.model.get_weights())
        flops[name] = batch * method_flops(f32.method)["total"]
    return time_steps(variants, batch, rounds, steps, alternate=True), flops


def precision_part(cases, methods_, rounds, steps, peaks=None):
    peaks = peaks or {}
    print(f"\n== bfloat16 / float32: compiled train_step (Keras policy mixed_bfloat16: bfloat16 "
          f"computation, float32 variables and logits), the same weights and batch, median of "
          f"{rounds} interleaved rounds of {steps} steps ==")
    print(f"{'case':14s} {'method':12s} {'f32 ms':>8s} {'[min, max]':>17s} {'bf16 ms':>8s} "
          f"{'[min, max]':>17s} {'bf16/f32':>9s} {'[rounds]':>15s} {'target':>7s}")
    results, roof = {}, []
    for case in cases:
        model_name, batch, available = PRECISION_CASES[case]
        names = [m for m in available if m in methods_]
        if not names:
            continue
        times, flops = precision_case(model_name, batch, names, rounds, steps)
        results[case] = {"model": model_name, "batch_size": batch, "methods": {}}
        for name in names:
            f32, bf16 = times[(name, "float32")], times[(name, "mixed_bfloat16")]
            per_round = [b / f for b, f in zip(bf16, f32)]
            target = precision_target(model_name, *PRECISION_METHODS[name])
            ratio = _ratio(statistics.median(bf16), statistics.median(f32))
            r = results[case]["methods"][name] = {
                "float32": {"ms": round(statistics.median(f32) * 1e3, 3),
                            "min_ms": round(min(f32) * 1e3, 3),
                            "max_ms": round(max(f32) * 1e3, 3)},
                "mixed_bfloat16": {"ms": round(statistics.median(bf16) * 1e3, 3),
                                   "min_ms": round(min(bf16) * 1e3, 3),
                                   "max_ms": round(max(bf16) * 1e3, 3)},
                "bf16_over_f32": ratio,
                "round_ratio_min": round(min(per_round), 3),
                "round_ratio_max": round(max(per_round), 3),
                "target": target, "meets_target": None if target is None else ratio <= target,
                "gflop": round(flops[name] / 1e9, 4)}
            for p, key in (("float32", "f32"), ("mixed_bfloat16", "bf16")):
                r[p]["gflop_per_s"], r[p]["peak_fraction"] = roofline(
                    flops[name], statistics.median(times[(name, p)]),
                    peaks.get(f"{key}_peak_gflops"))
            a, b = r["float32"], r["mixed_bfloat16"]
            spread = f"[{r['round_ratio_min']:.3f}, {r['round_ratio_max']:.3f}]"
            shown = f"<= {target}" if target else "-"
            print(f"{case:14s} {name:12s} {a['ms']:8.2f} {_range(a):>17s} {b['ms']:8.2f} "
                  f"{_range(b):>17s} {ratio:9.3f} {spread:>15s} "
                  f"{shown:>7s}", flush=True)
            roof.append((case, name, r))
    print(f"\nRoofline (FLOPs counted from the model: bench.step_flops), peaks float32 "
          f"{peaks.get('f32_peak_gflops') or '?'}, bfloat16 {peaks.get('bf16_peak_gflops') or '?'} "
          f"GFLOP/s ({peaks.get('bf16_unit') or '?'}):")
    print(f"{'case':14s} {'method':12s} {'GFLOP/step':>11s} {'f32 GFLOP/s':>12s} {'of peak':>8s} "
          f"{'bf16 GFLOP/s':>13s} {'of peak':>8s}")
    for case, name, r in roof:
        a, b = r["float32"], r["mixed_bfloat16"]
        print(f"{case:14s} {name:12s} {r['gflop']:11.3f} {a['gflop_per_s']:12.1f} "
              f"{_pct(a['peak_fraction']):>8s} {b['gflop_per_s']:13.1f} "
              f"{_pct(b['peak_fraction']):>8s}")
    return {"cases": results, "settings": {"rounds": rounds, "steps": steps}}


def _range(timing):
    return f"[{timing['min_ms']:.2f}, {timing['max_ms']:.2f}]"


# --------------------------------------------------------------------------------------------

def _check(values, valid, flag):
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise app.UsageError(f"Unknown {flag} {unknown}; valid choices: {', '.join(valid)}.")


def main(argv):
    del argv
    _check(FLAGS.parts, PARTS, "part(s)")
    _check(FLAGS.cases, CASES, "case(s)")
    _check(FLAGS.fit_cases, FIT_CASES, "fit case(s)")
    _check(FLAGS.keras_cases, KERAS_CASES, "keras case(s)")
    _check(FLAGS.user_api_cases, USER_API_CASES, "user_api case(s)")
    _check(FLAGS.explain_methods, EXPLAIN_METHODS, "explainer(s)")
    _check(FLAGS.protocols, PROTOCOLS, "protocol(s)")
    _check(FLAGS.precision_cases, PRECISION_CASES, "precision case(s)")
    _check(FLAGS.precision_methods, PRECISION_METHODS, "precision method(s)")
    fit_precisions = list(dict.fromkeys(FLAGS.fit_precisions or [FLAGS.precision]))
    _check(fit_precisions, FIT_PRECISIONS, "fit precision(s)")
    # Never a download attempt (or its 3 s probe) from a benchmark: local data or random.
    os.environ.setdefault("TF_INTROSPECT_NO_TFDS", "1")
    import tensorflow as tf
    # Every variant traces its step once or twice at warm-up; TF's retracing heuristic would
    # warn about these expected first traces across the many functions.
    tf.get_logger().setLevel("ERROR")
    from tf_introspect.experiments import machine
    peaks = cpu_peaks(ghz=FLAGS.cpu_ghz)      # the roofline's, once for every part
    results = {"machine": {**machine(), "load_average": list(os.getloadavg()), "peaks": peaks}}
    if {"steps", "precision"} & set(FLAGS.parts):
        print_peaks(peaks)
    if "steps" in FLAGS.parts:
        results.update(steps_part(FLAGS.cases, FLAGS.rounds, FLAGS.steps, peaks))
    if "precision" in FLAGS.parts:
        results["precision"] = precision_part(FLAGS.precision_cases, FLAGS.precision_methods,
                                              FLAGS.rounds, FLAGS.steps, peaks)
    if "fit" in FLAGS.parts:
        results["fit"] = fit_part(FLAGS.fit_cases, FLAGS.fit_steps, FLAGS.fit_warmup,
                                  FLAGS.fit_rounds, FLAGS.eval_steps, FLAGS.protocols,
                                  FLAGS.data_dir, FLAGS.steps_per_execution, fit_precisions)
    if "keras" in FLAGS.parts:
        results["keras"] = keras_part(FLAGS.keras_cases, FLAGS.fit_steps, FLAGS.fit_warmup,
                                      FLAGS.rounds, FLAGS.data_dir, FLAGS.steps_per_execution)
    if "user_api" in FLAGS.parts:
        results["user_api"] = user_api_part(FLAGS.user_api_cases, FLAGS.fit_steps,
                                            FLAGS.fit_warmup, FLAGS.rounds, FLAGS.data_dir)
    if "explain" in FLAGS.parts:
        results["explain"] = explain_part(FLAGS.explain_methods, FLAGS.explain_batch,
                                          FLAGS.rounds)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    if FLAGS.json:
        atomic.write_json(FLAGS.json, results, sort_keys=False)


if __name__ == "__main__":
    app.run(main)
