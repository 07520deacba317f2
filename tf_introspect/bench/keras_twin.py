"""Part ``keras``: our CE method against plain Keras.

``methods.get("ce")`` (via ``pipeline.build.make_method``, compiled by
``pipeline.training.compile_method``: the
command line's method, :mod:`tf_introspect.bench.pipeline_cases`) and the same functional model
with the same weights compiled with
``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``, the same SGD and schedule and
the same ``jit_compile``, both ``fit`` on the same pipeline with the same callbacks, in
interleaved rounds; ratio of median ms/step [<= 1.05].
"""

import statistics

from tf_introspect.bench.cases import KERAS_CASES
from tf_introspect.bench.pipeline_cases import (
    case_config,
    cell_data,
    cli_determinism,
    cli_method,
    data_source,
    datasets,
)
from tf_introspect.bench.timing import rounded_ratio, step_stamps, timed_fit


def plain_keras_twin(method):
    """The method's classifier cloned with its weights, compiled with Keras' own sparse CE and
    a copy of the method's optimizer (SGD, momentum, schedule), the same ``jit_compile``."""
    import keras

    model = keras.models.clone_model(method.model)
    model.set_weights(method.model.get_weights())
    optimizer = type(method.optimizer).from_config(method.optimizer.get_config())
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=method.jit_compile,
        steps_per_execution=method.steps_per_execution,
    )
    return model


def keras_case(name, fit_steps, warmup, rounds, data_dir, steps_per_execution=None):
    """Our CE and its plain-Keras twin, interleaved fits (the order alternating by round)."""
    flagfile = KERAS_CASES[name]
    with cell_data(flagfile, data_dir) as (folder, found):
        cfg = case_config(flagfile, fit_steps, 1, folder)
        with cli_determinism(cfg) as deterministic:
            ours = cli_method(cfg, steps_per_execution)
            twin = plain_keras_twin(ours)
            train, _, _ = datasets(cfg)
            stamps = step_stamps()
            models = {"ours": ours, "keras": twin}
            for model in models.values():
                timed_fit(model, train.take(warmup), stamps)
            times = {k: [] for k in models}
            for i in range(rounds):
                for k in list(models) if i % 2 == 0 else list(models)[::-1]:
                    times[k].append(timed_fit(models[k], train, stamps)[0])
    t = {k: statistics.median(v) for k, v in times.items()}
    return {
        "flagfile": flagfile,
        "jit_compile": bool(ours.jit_compile),
        "op_determinism": deterministic,
        "data": data_source(folder, found),
        "steps_per_execution": int(ours.steps_per_execution),
        "ours_ms": round(t["ours"] * 1e3, 3),
        "keras_ms": round(t["keras"] * 1e3, 3),
        "ours_over_keras": rounded_ratio(t["ours"], t["keras"]),
        "target": 1.05,
    }


def keras_part(cases, fit_steps, warmup, rounds, data_dir, steps_per_execution=None):
    print(
        f"\n== Our CE vs plain Keras (SparseCategoricalCrossentropy), fit through the same "
        f"pipeline and callbacks, median of {rounds} interleaved fits of {fit_steps} steps =="
    )
    print(
        f"{'case':14s} {'XLA':>4s} {'det':>4s} {'ours ms':>9s} {'Keras ms':>9s} "
        f"{'ours/Keras':>11s} {'target':>7s}"
    )
    results = {}
    for case in cases:
        r = results[case] = keras_case(
            case, fit_steps, warmup, rounds, data_dir, steps_per_execution
        )
        print(
            f"{case:14s} {'yes' if r['jit_compile'] else 'no':>4s} "
            f"{'on' if r['op_determinism'] else 'off':>4s} {r['ours_ms']:9.2f} "
            f"{r['keras_ms']:9.2f} {r['ours_over_keras']:11.3f} {'<= 1.05':>7s}",
            flush=True,
        )
    return results
