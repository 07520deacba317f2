"""Part ``precision``: bfloat16 / float32 step time, and issue 17's targets for it.

For each case of ``--precision_cases`` (``PRECISION_CASES``: resnet8 and resnet14 at batch 128
with CE, LE(Grad-CAM) and LE(Grad); mlp1024 at batch 16 and 128 with CE and LE(Grad);
``--precision_methods`` selects among them) the compiled ``train_step`` is built twice, under
Keras' global dtype policy ``float32`` and ``mixed_bfloat16`` (``compiled_step(precision=...)``:
the policy set while model and method are built, as the command line's ``--precision`` does,
and restored after; bfloat16 computation, float32 variables, float32 logits layers), the
bfloat16 model given the float32 one's weights, both fed the same random batch, warmed up and
timed in interleaved rounds (``--rounds`` of ``--steps`` steps, the order reversed every other
round). Printed: the median ms per step of each with its spread (min, max over rounds), the
ratio of medians bfloat16 / float32 and the range of the per-round ratios [issue 17: resnet8 CE
and LE(Grad-CAM) <= 0.7], and the roofline (:mod:`tf_introspect.bench.flops`,
:mod:`tf_introspect.bench.peaks`). The step is the bare compiled step, without XLA, as in
``steps``; the ``fit`` part's ``--fit_precisions`` gives the command line's path at both
precisions.
"""

import statistics

from tf_introspect.bench.cases import PRECISION_CASES, PRECISION_METHODS, PRECISION_TARGETS
from tf_introspect.bench.compiled import compiled_step, time_steps
from tf_introspect.bench.flops import method_flops
from tf_introspect.bench.peaks import percent, roofline
from tf_introspect.bench.timing import rounded_ratio


def precision_target(model, method, explainer=None):
    """Issue 17's bfloat16 / float32 time target for a model and method (None: none)."""
    kind = f"le_{explainer}" if method in ("le", "le_permut") else method
    return PRECISION_TARGETS.get((model, kind))


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
            method,
            model_name,
            explainer,
            precision="mixed_bfloat16",
            weights=f32.method.model.get_weights(),
        )
        flops[name] = batch * method_flops(f32.method)["total"]
    return time_steps(variants, batch, rounds, steps, alternate=True), flops


def precision_part(cases, methods_, rounds, steps, peaks=None):
    peaks = peaks or {}
    print(
        f"\n== bfloat16 / float32: compiled train_step (Keras policy mixed_bfloat16: bfloat16 "
        f"computation, float32 variables and logits), the same weights and batch, median of "
        f"{rounds} interleaved rounds of {steps} steps =="
    )
    print(
        f"{'case':14s} {'method':12s} {'f32 ms':>8s} {'[min, max]':>17s} {'bf16 ms':>8s} "
        f"{'[min, max]':>17s} {'bf16/f32':>9s} {'[rounds]':>15s} {'target':>7s}"
    )
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
            ratio = rounded_ratio(statistics.median(bf16), statistics.median(f32))
            r = results[case]["methods"][name] = {
                "float32": {
                    "ms": round(statistics.median(f32) * 1e3, 3),
                    "min_ms": round(min(f32) * 1e3, 3),
                    "max_ms": round(max(f32) * 1e3, 3),
                },
                "mixed_bfloat16": {
                    "ms": round(statistics.median(bf16) * 1e3, 3),
                    "min_ms": round(min(bf16) * 1e3, 3),
                    "max_ms": round(max(bf16) * 1e3, 3),
                },
                "bf16_over_f32": ratio,
                "round_ratio_min": round(min(per_round), 3),
                "round_ratio_max": round(max(per_round), 3),
                "target": target,
                "meets_target": None if target is None else ratio <= target,
                "gflop": round(flops[name] / 1e9, 4),
            }
            for p, key in (("float32", "f32"), ("mixed_bfloat16", "bf16")):
                r[p]["gflop_per_s"], r[p]["peak_fraction"] = roofline(
                    flops[name],
                    statistics.median(times[(name, p)]),
                    peaks.get(f"{key}_peak_gflops"),
                )
            a, b = r["float32"], r["mixed_bfloat16"]
            spread = f"[{r['round_ratio_min']:.3f}, {r['round_ratio_max']:.3f}]"
            shown = f"<= {target}" if target else "-"
            print(
                f"{case:14s} {name:12s} {a['ms']:8.2f} {_range(a):>17s} {b['ms']:8.2f} "
                f"{_range(b):>17s} {ratio:9.3f} {spread:>15s} "
                f"{shown:>7s}",
                flush=True,
            )
            roof.append((case, name, r))
    print(
        f"\nRoofline (FLOPs counted from the model: bench.step_flops), peaks float32 "
        f"{peaks.get('f32_peak_gflops') or '?'}, bfloat16 {peaks.get('bf16_peak_gflops') or '?'} "
        f"GFLOP/s ({peaks.get('bf16_unit') or '?'}):"
    )
    print(
        f"{'case':14s} {'method':12s} {'GFLOP/step':>11s} {'f32 GFLOP/s':>12s} {'of peak':>8s} "
        f"{'bf16 GFLOP/s':>13s} {'of peak':>8s}"
    )
    for case, name, r in roof:
        a, b = r["float32"], r["mixed_bfloat16"]
        print(
            f"{case:14s} {name:12s} {r['gflop']:11.3f} {a['gflop_per_s']:12.1f} "
            f"{percent(a['peak_fraction']):>8s} {b['gflop_per_s']:13.1f} "
            f"{percent(b['peak_fraction']):>8s}"
        )
    return {"cases": results, "settings": {"rounds": rounds, "steps": steps}}


def _range(timing):
    return f"[{timing['min_ms']:.2f}, {timing['max_ms']:.2f}]"
