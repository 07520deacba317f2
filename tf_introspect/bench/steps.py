"""Part ``steps``: step-cost ratios of the compiled ``train_step``.

For each case of ``--cases``, the compiled ``train_step`` of CE and of LE (and of LE while
still in warm-up) are built on the same model architecture and the same random batch, warmed
up, then timed in interleaved rounds (so drift of the machine hits all alike); the median time
per step and the ratio to CE are printed. Cases (issue targets in brackets): LE(Grad-CAM) / CE
for resnet8 and resnet14 at batch 128 [<= 1.05], LE(Grad) / CE for the same ResNets (the
Jacobian through training-mode batch norm, batch moments held: ``explainers.base``) and for
mlp1024 at batch 128 and 16 [<= 4]. With Grad-CAM, KD from a ResNet-26 teacher is timed too:
the teacher's cost that LE avoids (paper 4). A roofline table follows: each step's FLOPs
(:mod:`tf_introspect.bench.flops`), the achieved GFLOP/s and its fraction of this CPU's float32
peak (:mod:`tf_introspect.bench.peaks`).
"""

import statistics

from tf_introspect.bench.cases import CASES
from tf_introspect.bench.compiled import compiled_step, time_steps
from tf_introspect.bench.flops import method_flops
from tf_introspect.bench.peaks import percent, roofline


def time_case(model_name, batch, explainer, teacher, rounds, steps):
    """Median seconds per step for CE, LE, LE-in-warm-up (and KD), interleaved, and the FLOPs
    of each step (:func:`method_flops` x batch)."""
    variants = {
        "ce": compiled_step("ce", model_name, explainer),
        "le": compiled_step("le", model_name, explainer),
        "le_warmup": compiled_step("le", model_name, explainer, introspective=False),
    }
    if teacher:
        variants["kd"] = compiled_step("kd", model_name, explainer, teacher=teacher)
    times = time_steps(variants, batch, rounds, steps)
    flops = {
        name: batch * method_flops(v.method, introspective=name != "le_warmup")["total"]
        for name, v in variants.items()
    }
    return {name: statistics.median(t) for name, t in times.items()}, flops


def steps_part(cases, rounds, steps, peaks=None):
    peak = (peaks or {}).get("f32_peak_gflops")
    results, roof = {}, []
    print(
        f"\n== Step cost: compiled train_step, median of {rounds} interleaved rounds of "
        f"{steps} steps =="
    )
    print(
        f"{'case':28s} {'CE ms':>8s} {'LE ms':>8s} {'LE/CE':>7s} {'warm-up/CE':>11s} "
        f"{'KD(resnet26)/CE':>16s}"
    )
    for case in cases:
        t, flops = time_case(*CASES[case], rounds, steps)
        r = results[case] = {f"{k}_ms": round(v * 1e3, 2) for k, v in t.items()}
        for name in ("le", "le_warmup", "kd"):
            if name in t:
                r[f"{name}_over_ce"] = round(t[name] / t["ce"], 3)
        kd = f"{r['kd_over_ce']:16.3f}" if "kd" in t else f"{'-':>16s}"
        print(
            f"{case:28s} {r['ce_ms']:8.2f} {r['le_ms']:8.2f} {r['le_over_ce']:7.3f} "
            f"{r['le_warmup_over_ce']:11.3f} {kd}",
            flush=True,
        )
        r["gflop"] = {k: round(v / 1e9, 4) for k, v in flops.items()}
        r["gflop_per_s"], r["f32_peak_fraction"] = {}, {}
        for name in t:
            r["gflop_per_s"][name], r["f32_peak_fraction"][name] = roofline(
                flops[name], t[name], peak
            )
            roof.append(
                (
                    case,
                    name,
                    r["gflop"][name],
                    r[f"{name}_ms"],
                    r["gflop_per_s"][name],
                    r["f32_peak_fraction"][name],
                )
            )
    print(
        f"\nRoofline (FLOPs counted from the model: step = 3 x forward, + LE's explanation, "
        f"+ KD's teacher forward; bench.step_flops), float32 peak {peak or '?'} GFLOP/s:"
    )
    print(
        f"{'case':28s} {'variant':10s} {'GFLOP/step':>11s} {'ms':>8s} {'GFLOP/s':>9s} "
        f"{'of peak':>8s}"
    )
    for case, name, gflop, ms, rate, fraction in roof:
        print(f"{case:28s} {name:10s} {gflop:11.3f} {ms:8.2f} {rate:9.1f} {percent(fraction):>8s}")
    return results
