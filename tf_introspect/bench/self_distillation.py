"""Part ``self_distillation``: what a step of the teacher-free self-distillation methods
(issue 22) costs against CE, on the same model and random batch, interleaved (the ``steps``
part's compiled ``train_step``, :mod:`tf_introspect.bench.compiled`).

Expected from their losses: CS-KD about 4/3 of CE (a second forward pass, for the partners,
without its backward pass: 4 F against CE's 3 F); Tf-KD_self the same (the teacher's forward
pass); Tf-KD_reg and PS-KD about 1 (fixed targets; a gather from and a scatter into PS-KD's
table of the training set's predictions, whose size the part fixes at one batch).
"""

import statistics

from tf_introspect.bench.cases import SELF_DISTILLATION_CASES, SELF_DISTILLATION_METHODS
from tf_introspect.bench.compiled import compiled_step, time_steps


def _options(method, batch):
    return {"num_examples": batch} if method == "pskd" else {}


def self_distillation_part(cases, rounds, steps):
    """Median ms per step of CE and each method, and the ratio to CE, per case."""
    results = {}
    print(
        f"\n== Teacher-free self-distillation: compiled train_step, median of {rounds} "
        f"interleaved rounds of {steps} steps (ratio to CE) =="
    )
    print(f"{'case':16s} {'CE ms':>8s} " + " ".join(f"{m:>10s}" for m in SELF_DISTILLATION_METHODS))
    for case in cases:
        model, batch = SELF_DISTILLATION_CASES[case]
        variants = {
            name: compiled_step(
                name,
                model,
                None,
                teacher=model if name == "tfkd_self" else None,
                options=_options(name, batch),
            )
            for name in ("ce", *SELF_DISTILLATION_METHODS)
        }
        times = {
            k: statistics.median(v) for k, v in time_steps(variants, batch, rounds, steps).items()
        }
        r = results[case] = {f"{k}_ms": round(v * 1e3, 2) for k, v in times.items()}
        for name in SELF_DISTILLATION_METHODS:
            r[f"{name}_over_ce"] = round(times[name] / times["ce"], 3)
        print(
            f"{case:16s} {r['ce_ms']:8.2f} "
            + " ".join(f"{r[f'{m}_over_ce']:10.3f}" for m in SELF_DISTILLATION_METHODS)
        )
    return results
