"""Part ``fit``: epoch time through the command line's own path.

Each case is a paper cell's flag file (``FIT_CASES``), configured, built, compiled and fed as
the command line does it (:mod:`tf_introspect.bench.pipeline_cases`), trained with Keras
``fit`` with the command line's per-step callback (``StopOnNaN``) and its ``--verbose=2``
progress logger (:mod:`tf_introspect.bench.timing`). The data is cut with ``--train_limit`` to
``--fit_steps`` batches: after a warm-up ``fit`` (tracing, XLA compilation), ``--fit_rounds``
fits of those batches are timed from the end of the first step to the end of the last, median
ms/step, and the rest of each fit call (iterator start-up, end of data, callbacks' begin/end:
paid once an epoch) is kept as the fit's start+end time; the validation pass is timed the same
way on ``--eval_steps`` test batches. Scaled to a full epoch (60,000 MNIST / 50,000 CIFAR
training images, 10,000 test images) this gives s/epoch, and from it the projected wall time
of each protocol of ``--protocols`` (:mod:`tf_introspect.bench.protocols`).

With ``--fit_precisions=float32,mixed_bfloat16`` every case is timed at both (the command
line's ``--precision``: Keras' policy held while its method is built, compiled, fit and
evaluated; the bfloat16 method given the float32 one's weights), their fits interleaved, and
the bfloat16 / float32 ratios of ms/step, eval ms/step and s/epoch are printed; the protocols
are projected from the first precision listed (default: ``--precision``, float32).
"""

import statistics

from tf_introspect.bench.cases import FIT_CASES
from tf_introspect.bench.compiled import precision_policy
from tf_introspect.bench.pipeline_cases import (
    case_config,
    cell_config,
    cell_data,
    cli_determinism,
    cli_method,
    data_source,
    datasets,
)
from tf_introspect.bench.precision import precision_target
from tf_introspect.bench.protocols import cost_key, epoch_steps, project
from tf_introspect.bench.timing import rounded_ratio, step_stamps, timed_evaluate, timed_fit


def fit_case(
    name,
    fit_steps,
    warmup,
    rounds,
    eval_steps,
    data_dir,
    steps_per_execution=None,
    precisions=("float32",),
):
    """Time one paper cell through the command line's fit path, at each of ``precisions``
    (``--precision``: Keras' global dtype policy, held while its method is built, compiled,
    fit and evaluated, as ``main.use_precision`` holds it for a run): one method each (the
    later ones with the first one's weights), their fits interleaved (the order alternating by
    round), then their evaluations. ``{precision: result}``."""
    flagfile = FIT_CASES[name]
    order = list(precisions)
    with cell_data(flagfile, data_dir) as (folder, found):
        cfgs = {
            p: case_config(flagfile, fit_steps, eval_steps, folder, [f"--precision={p}"])
            for p in precisions
        }
        cfg = cfgs[precisions[0]]
        with cli_determinism(cfg) as deterministic:  # also seeds, as pipeline.run
            built = {}
            for p in order:
                with precision_policy(p):
                    built[p] = cli_method(cfgs[p], steps_per_execution)
                if p != order[0]:
                    built[p].model.set_weights(built[order[0]].model.get_weights())
            train, _, test = datasets(cfg)
            stamps = step_stamps()
            for p in order:
                with precision_policy(p):
                    timed_fit(built[p], train.take(warmup), stamps)  # trace / compile, warm up
                    timed_evaluate(built[p], test.take(2), stamps)
            fits, evaluations = {p: [] for p in order}, {p: [] for p in order}
            for timings, timed, data in (
                (fits, timed_fit, train),
                (evaluations, timed_evaluate, test),
            ):
                for i in range(rounds):
                    for p in order if i % 2 == 0 else order[::-1]:
                        with precision_policy(p):
                            timings[p].append(timed(built[p], data, stamps))
    results = {}
    for p in order:
        train_s, fit_overhead = (statistics.median(v) for v in zip(*fits[p]))
        eval_s, eval_overhead = (statistics.median(v) for v in zip(*evaluations[p]))
        steps, evals = epoch_steps(cfg, limits=False)  # a full epoch, not the bench's cut
        epoch = steps * train_s + fit_overhead + evals * eval_s + eval_overhead
        result = results[p] = {
            "flagfile": flagfile,
            "model": cfg.model,
            "method": cfg.method,
            "batch_size": cfg.batch_size,
            "precision": p,
            "jit_compile": cfg.jit_compile,
            "op_determinism": deterministic,
            "cost_key": cost_key(cfg),
            "data": data_source(folder, found),
            "steps_per_execution": int(built[p].steps_per_execution),
            "ms_per_step": round(train_s * 1e3, 3),
            "eval_ms_per_step": round(eval_s * 1e3, 3),
            "fit_overhead_s": round(fit_overhead, 3),
            "eval_overhead_s": round(eval_overhead, 3),
            "train_steps_per_epoch": steps,
            "eval_steps_per_epoch": evals,
            "train_s_per_epoch": round(steps * train_s + fit_overhead, 2),
            "eval_s_per_epoch": round(evals * eval_s + eval_overhead, 2),
            "s_per_epoch": round(epoch, 2),
        }
        if cfg.method in ("le", "le_permut"):
            result["warmup_epochs"] = cfg.warmup_epochs
    return results


def _short_precision(precision):
    return {"float32": "f32", "mixed_bfloat16": "bf16"}.get(precision, precision)


def fit_part(
    cases,
    fit_steps,
    warmup,
    rounds,
    eval_steps,
    protocols,
    data_dir,
    steps_per_execution=None,
    precisions=("float32",),
):
    precisions = list(precisions)
    several = len(precisions) > 1
    spe = f", steps_per_execution={steps_per_execution}" if steps_per_execution else ""
    at = (
        f", at {' and '.join(precisions)} (fits interleaved)"
        if several
        else ("" if precisions == ["float32"] else f", at {precisions[0]}")
    )
    print(
        f"\n== Epoch time through the command line's fit path: {fit_steps} steps after a "
        f"{warmup}-step warm-up fit, median of {rounds} fits; validation {eval_steps} "
        f"steps{spe}{at} =="
    )
    prec = f" {'prec':>5s}" if several else ""
    print(
        f"{'case':27s}{prec} {'XLA':>4s} {'det':>4s} {'data':>6s} {'ms/step':>9s} "
        f"{'eval ms':>8s} {'start+end s':>12s} {'steps':>6s} {'s/epoch':>9s}"
    )
    measured, by_precision = {}, {}
    for case in cases:
        rows = by_precision[case] = fit_case(
            case, fit_steps, warmup, rounds, eval_steps, data_dir, steps_per_execution, precisions
        )
        measured[case] = rows[precisions[0]]
        for p, r in rows.items():
            prec = f" {_short_precision(p):>5s}" if several else ""
            print(
                f"{case:27s}{prec} {'yes' if r['jit_compile'] else 'no':>4s} "
                f"{'on' if r['op_determinism'] else 'off':>4s} "
                f"{'real' if r['data'].startswith('real') else 'random':>6s} "
                f"{r['ms_per_step']:9.2f} {r['eval_ms_per_step']:8.2f} "
                f"{r['fit_overhead_s'] + r['eval_overhead_s']:12.2f} "
                f"{r['train_steps_per_epoch']:6d} {r['s_per_epoch']:9.1f}",
                flush=True,
            )
    precision = None
    if several:
        first = precisions[0]
        print(
            f"\nPrecision ratios of the fit path (to {first}): ms/step, eval ms/step, "
            "s/epoch; target: issue 17's for the step"
        )
        print(
            f"{'case':27s} {'precision':>15s} {'step':>7s} {'eval':>7s} {'epoch':>7s} "
            f"{'target':>7s}"
        )
        precision = {"precisions": precisions, "cases": by_precision, "ratios": {}}
        for case, rows in by_precision.items():
            base = rows[first]
            target = precision_target(
                base["model"], base["method"], cell_config(FIT_CASES[case]).explainer
            )
            ratios = precision["ratios"][case] = {}
            for p in precisions[1:]:
                r = rows[p]
                ratios[p] = {
                    key: rounded_ratio(r[key], base[key])
                    for key in ("ms_per_step", "eval_ms_per_step", "s_per_epoch")
                }
                ratios[p]["target"] = target
                shown = f"<= {target}" if target else "-"
                print(
                    f"{case:27s} {p:>15s} {ratios[p]['ms_per_step']:7.3f} "
                    f"{ratios[p]['eval_ms_per_step']:7.3f} {ratios[p]['s_per_epoch']:7.3f} "
                    f"{shown:>7s}",
                    flush=True,
                )
    projected = project(protocols, measured, precisions[0])
    result = {
        "cases": measured,
        "protocols": projected,
        "settings": {
            "fit_steps": fit_steps,
            "fit_warmup": warmup,
            "fit_rounds": rounds,
            "eval_steps": eval_steps,
            "steps_per_execution": steps_per_execution,
            "precisions": precisions,
        },
    }
    if precision:
        result["precision"] = precision
    return result
