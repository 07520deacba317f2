"""Part ``user_api``: what Keras' ``jit_compile`` and ``steps_per_execution`` give through the
user API (README, "In your own code").

For each case of ``--user_api_cases`` (``USER_API_CASES``: mlp1024 at batch 16 with CE and
LE(Grad), resnet8 at batch 128 with CE and LE(Grad-CAM)) the methods are built as a user's own
code builds them, ``models.get(name, weight_decay=1e-4)`` wrapped in
``methods.CrossEntropy(model)`` or ``Introspective(model, explainer=...)`` (LE's stage 2 on, as
without ``WarmupSwitch``), each compiled with ``optimizer=keras.optimizers.SGD(lr,
momentum=0.9), metrics=["accuracy"]`` (the flag file's constant ``lr``) and one variant's
arguments (``USER_API_VARIANTS``): ``default`` (none: Keras' ``jit_compile="auto"``, which turns
XLA off on a CPU-only machine, and one step per execution), ``xla`` (``jit_compile=True``) and,
for the MLP, ``xla_spe10`` (also ``steps_per_execution=10``, the command line's MLP setting;
the command line does not use XLA for the conv nets). All are trained with ``fit`` on the real
pipeline (``pipeline.training.datasets`` of the cell's flag file, cut to ``--fit_steps``
batches; random pixels without the data: :mod:`tf_introspect.bench.pipeline_cases`) with the
fit part's per-step callback and progress logger, without op determinism (a user's default); after a
``--fit_warmup``-step warm-up fit each, ``--rounds`` rounds of one fit per variant and method,
the order reversed every other round (``--fit_steps`` a multiple of 10, so that ``xla_spe10``
times whole executions). Printed per case: each variant's median ms/step for CE and LE, LE / CE
per variant, and each variant's speed-up over ``default`` (default ms / its ms).
"""

import statistics

from tf_introspect.bench.cases import USER_API_CASES, USER_API_VARIANTS
from tf_introspect.bench.pipeline_cases import case_config, cell_data, data_source, datasets
from tf_introspect.bench.timing import rounded_ratio, step_stamps, timed_fit


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
        method.introspective.assign(1.0)  # stage 2 (already so without WarmupSwitch)
    method.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9),
        metrics=["accuracy"],
        **USER_API_VARIANTS[variant],
    )
    return method


def user_api_case(name, fit_steps, warmup, rounds, data_dir):
    """CE and LE compiled with each of the case's variants, fit in interleaved rounds (the
    order reversed every other round); median ms/step, ratios."""
    import keras
    from tensorflow.python.framework.config import is_op_determinism_enabled

    flagfile, explainer, variants = USER_API_CASES[name]
    keys = [(v, kind) for v in variants for kind in ("ce", "le")]
    with cell_data(flagfile, data_dir) as (folder, found):
        cfg = case_config(flagfile, fit_steps, 1, folder)
        built, weights = {}, {}
        for v, kind in keys:
            keras.utils.set_random_seed(cfg.seed)  # every variant: the same weights
            built[v, kind] = user_api_method(kind, cfg.model, explainer, cfg.lr, v)
            weights.setdefault(kind, built[v, kind].model.get_weights())
            built[v, kind].model.set_weights(weights[kind])
        train, _, _ = datasets(cfg)
        stamps = step_stamps()
        for key in keys:
            timed_fit(built[key], train.take(warmup), stamps)  # trace / compile, warm up
        times = {key: [] for key in keys}
        for i in range(rounds):
            for key in keys if i % 2 == 0 else keys[::-1]:
                times[key].append(timed_fit(built[key], train, stamps)[0])
    ms = {key: statistics.median(t) * 1e3 for key, t in times.items()}
    rows = {}
    for v in variants:
        ce, le = ms[v, "ce"], ms[v, "le"]
        rows[v] = {
            "compile_args": dict(USER_API_VARIANTS[v]),
            "jit_compile": bool(built[v, "le"].jit_compile),  # as Keras resolved it
            "steps_per_execution": int(built[v, "le"].steps_per_execution),
            "ce_ms": round(ce, 3),
            "le_ms": round(le, 3),
            "le_over_ce": rounded_ratio(le, ce),
            "ce_speedup": rounded_ratio(ms["default", "ce"], ce),
            "le_speedup": rounded_ratio(ms["default", "le"], le),
        }
    return {
        "flagfile": flagfile,
        "model": cfg.model,
        "batch_size": cfg.batch_size,
        "explainer": explainer,
        "lr": cfg.lr,
        "data": data_source(folder, found),
        "op_determinism": bool(is_op_determinism_enabled()),
        "variants": rows,
    }


def user_api_part(cases, fit_steps, warmup, rounds, data_dir):
    print(
        f"\n== jit_compile / steps_per_execution through the user API (Method.compile), fit "
        f"on the real pipeline: {fit_steps} steps after a {warmup}-step warm-up fit, median of "
        f"{rounds} interleaved fits =="
    )
    print(
        f"{'case':14s} {'variant':10s} {'XLA':>4s} {'spe':>4s} {'CE ms':>8s} {'LE ms':>8s} "
        f"{'LE/CE':>7s} {'CE x':>7s} {'LE x':>7s}   (x: speed-up over default)"
    )
    results = {}
    for case in cases:
        r = results[case] = user_api_case(case, fit_steps, warmup, rounds, data_dir)
        for v, row in r["variants"].items():
            print(
                f"{case:14s} {v:10s} {'yes' if row['jit_compile'] else 'no':>4s} "
                f"{row['steps_per_execution']:4d} {row['ce_ms']:8.2f} {row['le_ms']:8.2f} "
                f"{row['le_over_ce']:7.3f} {row['ce_speedup']:7.3f} {row['le_speedup']:7.3f}",
                flush=True,
            )
    return {
        "cases": results,
        "settings": {"fit_steps": fit_steps, "fit_warmup": warmup, "rounds": rounds},
    }
