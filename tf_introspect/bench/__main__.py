"""The benchmark's command line: ``python -m tf_introspect.bench [--flags]``.

Runs the parts of ``--parts`` (their modules' docstrings say what each times; the package's,
how to run it), prints each part's tables and writes every result, with the machine and its
load, to ``--json``.

Flags: ``--parts``; ``--cases``, ``--rounds``, ``--steps`` (steps part; ``--rounds`` also sets
the interleaved rounds of the keras, user_api and explain parts); ``--fit_cases``, ``--fit_steps``,
``--fit_warmup``, ``--fit_rounds``, ``--eval_steps``, ``--protocols``, ``--data_dir``,
``--steps_per_execution`` (the command line's own flag; fit and keras parts: default the command
line's choice, other values to try how much fewer host round trips would save);
``--fit_precisions`` (fit part; default ``--precision``, the command line's flag);
``--keras_cases``; ``--user_api_cases`` (``--fit_steps``, ``--fit_warmup`` and ``--rounds``
as the keras part); ``--explain_methods``, ``--explain_batch``; ``--precision_cases``,
``--precision_methods`` (precision part; ``--rounds`` and ``--steps`` as the steps part);
``--cpu_ghz`` (the roofline's clock); ``--folder`` (data part); ``--self_distillation_cases``
(``--rounds`` and ``--steps`` as the steps part); ``--json``.
"""

import os

from absl import app, flags

from tf_introspect import atomic
from tf_introspect.bench import (
    data_pipeline,
    explain,
    fit,
    keras_twin,
    peaks,
    pipeline_cases,
    precision,
    self_distillation,
    steps,
    user_api,
)
from tf_introspect.bench.cases import (
    CASES,
    EXPLAIN_METHODS,
    FIT_CASES,
    FIT_PRECISIONS,
    KERAS_CASES,
    PARTS,
    PRECISION_CASES,
    PRECISION_METHODS,
    PROTOCOLS,
    SELF_DISTILLATION_CASES,
    USER_API_CASES,
)

flags.DEFINE_list("parts", list(PARTS), f"Parts to run, from: {', '.join(PARTS)}.")
flags.DEFINE_list("cases", list(CASES), f"Cases to run, from: {', '.join(CASES)}.")
flags.DEFINE_integer(
    "rounds",
    7,
    "Interleaved timing rounds (the median is reported); also "
    "the rounds of the keras, user_api and explain parts.",
    lower_bound=1,
)
flags.DEFINE_integer("steps", 10, "Steps per round and variant.", lower_bound=1)
flags.DEFINE_list(
    "self_distillation_cases",
    list(SELF_DISTILLATION_CASES),
    f"self_distillation part cases, from: {', '.join(SELF_DISTILLATION_CASES)}.",
)
flags.DEFINE_list("fit_cases", list(FIT_CASES), f"fit part cases, from: {', '.join(FIT_CASES)}.")
flags.DEFINE_integer(
    "fit_steps", 50, "fit, keras and user_api parts: training steps per timed fit.", lower_bound=2
)
flags.DEFINE_integer(
    "fit_warmup",
    10,
    "fit, keras and user_api parts: steps of the untimed warm-up fit (tracing, XLA compilation).",
    lower_bound=1,
)
flags.DEFINE_integer("fit_rounds", 3, "fit part: timed fits per case (median).", lower_bound=1)
flags.DEFINE_integer("eval_steps", 20, "fit part: timed validation steps.", lower_bound=2)
flags.DEFINE_list(
    "protocols",
    list(PROTOCOLS),
    f"Protocols projected from the fit part, from: {', '.join(PROTOCOLS)}.",
)
flags.DEFINE_list(
    "keras_cases", list(KERAS_CASES), f"keras part cases, from: {', '.join(KERAS_CASES)}."
)
flags.DEFINE_list(
    "user_api_cases",
    list(USER_API_CASES),
    f"user_api part cases, from: {', '.join(USER_API_CASES)}.",
)
flags.DEFINE_list(
    "explain_methods",
    list(EXPLAIN_METHODS),
    f"explain part explainers, from: {', '.join(EXPLAIN_METHODS)}.",
)
flags.DEFINE_integer("explain_batch", 64, "explain part: batch size.", lower_bound=1)
flags.DEFINE_list(
    "precision_cases",
    list(PRECISION_CASES),
    f"precision part cases, from: {', '.join(PRECISION_CASES)}.",
)
flags.DEFINE_list(
    "precision_methods",
    list(PRECISION_METHODS),
    f"precision part methods, from: {', '.join(PRECISION_METHODS)} (each case "
    "times those of them it lists).",
)
flags.DEFINE_list(
    "fit_precisions",
    None,
    f"fit part: Keras dtype policies to time each fit case at, from: "
    f"{', '.join(FIT_PRECISIONS)} (default: --precision, the command line's "
    "flag); with more than one, their fits are interleaved and the ratios to the "
    "first are printed. The protocols are projected from the first.",
)
flags.DEFINE_float(
    "cpu_ghz",
    None,
    "Clock for the roofline's peaks (default: /proc/cpuinfo's 'cpu MHz').",
    lower_bound=0.01,
)
flags.DEFINE_string(
    "folder",
    os.path.join("data", "cifar10-jpeg"),
    "data part: CIFAR-10 as a folder of images (train/<class>/, test/<class>/).",
)
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
# The command line's flags, of which the fit and keras parts read --data_dir (default here: the
# first of <repo>/data and <repo>/../shared/data holding the data set; random pixels through
# the real pipeline when none does, which is fine for timing and reported).
pipeline_cases.define_flags()
FLAGS = flags.FLAGS


def _unknown(values, valid, flag):
    """The line naming ``values`` not in ``valid`` and the valid choices, or None."""
    unknown = [v for v in values if v not in valid]
    if unknown:
        return f"Unknown {flag} {unknown}; valid choices: {', '.join(valid)}."
    return None


def check_choices():
    """Every list flag against its valid choices, before any part runs: one ``error:`` line
    per bad flag, all of them at once, and exit status 1 (not absl's usage text, which would
    bury the lines under a hundred of help)."""
    fit_precisions = list(dict.fromkeys(FLAGS.fit_precisions or [FLAGS.precision]))
    problems = [
        _unknown(values, valid, flag)
        for values, valid, flag in [
            (FLAGS.parts, PARTS, "part(s)"),
            (FLAGS.cases, CASES, "case(s)"),
            (FLAGS.fit_cases, FIT_CASES, "fit case(s)"),
            (FLAGS.keras_cases, KERAS_CASES, "keras case(s)"),
            (FLAGS.user_api_cases, USER_API_CASES, "user_api case(s)"),
            (FLAGS.explain_methods, EXPLAIN_METHODS, "explainer(s)"),
            (FLAGS.protocols, PROTOCOLS, "protocol(s)"),
            (FLAGS.precision_cases, PRECISION_CASES, "precision case(s)"),
            (FLAGS.precision_methods, PRECISION_METHODS, "precision method(s)"),
            (
                FLAGS.self_distillation_cases,
                SELF_DISTILLATION_CASES,
                "self_distillation case(s)",
            ),
            (fit_precisions, FIT_PRECISIONS, "fit precision(s)"),
        ]
    ]
    problems = [line for line in problems if line]
    folder = os.path.dirname(os.path.abspath(FLAGS.json)) if FLAGS.json else None
    if folder and not os.path.isdir(folder):  # found now, not after the whole benchmark
        problems.append(f"--json={FLAGS.json}: no folder {folder} to write it into.")
    if problems:
        raise SystemExit(
            "\n".join(f"error: {line}" for line in problems)
            + "\npython -m tf_introspect.bench --helpfull lists the flags."
        )
    return fit_precisions


def main(argv):
    del argv
    fit_precisions = check_choices()
    # Never a download attempt (or its 3 s probe) from a benchmark: local data or random.
    os.environ.setdefault("TF_INTROSPECT_NO_TFDS", "1")
    import tensorflow as tf

    # Every variant traces its step once or twice at warm-up; TF's retracing heuristic would
    # warn about these expected first traces across the many functions.
    tf.get_logger().setLevel("ERROR")
    from tf_introspect.lab.records import machine

    cpu = peaks.cpu_peaks(ghz=FLAGS.cpu_ghz)  # the roofline's, once for every part
    results = {"machine": {**machine(), "load_average": list(os.getloadavg()), "peaks": cpu}}
    if {"steps", "precision"} & set(FLAGS.parts):
        peaks.print_peaks(cpu)
    if "steps" in FLAGS.parts:
        results.update(steps.steps_part(FLAGS.cases, FLAGS.rounds, FLAGS.steps, cpu))
    if "precision" in FLAGS.parts:
        results["precision"] = precision.precision_part(
            FLAGS.precision_cases, FLAGS.precision_methods, FLAGS.rounds, FLAGS.steps, cpu
        )
    if "fit" in FLAGS.parts:
        results["fit"] = fit.fit_part(
            FLAGS.fit_cases,
            FLAGS.fit_steps,
            FLAGS.fit_warmup,
            FLAGS.fit_rounds,
            FLAGS.eval_steps,
            FLAGS.protocols,
            FLAGS.data_dir,
            FLAGS.steps_per_execution,
            fit_precisions,
        )
    if "keras" in FLAGS.parts:
        results["keras"] = keras_twin.keras_part(
            FLAGS.keras_cases,
            FLAGS.fit_steps,
            FLAGS.fit_warmup,
            FLAGS.rounds,
            FLAGS.data_dir,
            FLAGS.steps_per_execution,
        )
    if "user_api" in FLAGS.parts:
        results["user_api"] = user_api.user_api_part(
            FLAGS.user_api_cases, FLAGS.fit_steps, FLAGS.fit_warmup, FLAGS.rounds, FLAGS.data_dir
        )
    if "explain" in FLAGS.parts:
        results["explain"] = explain.explain_part(
            FLAGS.explain_methods, FLAGS.explain_batch, FLAGS.rounds
        )
    if "self_distillation" in FLAGS.parts:
        results["self_distillation"] = self_distillation.self_distillation_part(
            FLAGS.self_distillation_cases, FLAGS.rounds, FLAGS.steps
        )
    if "data" in FLAGS.parts:
        binary, found = pipeline_cases.find_data_dir("cifar10", FLAGS.data_dir)
        results["data"] = (
            data_pipeline.data_part(FLAGS.folder, binary, FLAGS.rounds)
            if found
            else {"skipped": "CIFAR-10's binary files not found (--data_dir)"}
        )
    results["machine"]["load_average_end"] = list(os.getloadavg())
    if FLAGS.json:
        atomic.write_json(FLAGS.json, results, sort_keys=False)


if __name__ == "__main__":
    app.run(main)
