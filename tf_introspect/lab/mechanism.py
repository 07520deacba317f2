"""The report's answer to issue 20, "is LE more than label smoothing?", per plan: how far LE's
targets are from label smoothing and whether they point where the model errs (the diagnostics
of :mod:`tf_introspect.diagnostics`), an equivalence test of LE against the plan's
label-smoothing cells (``equivalence`` in the plan), and the calibration of each cell against
the reference (NLL, ECE: :mod:`tf_introspect.calibration`)."""

import numpy as np

from tf_introspect.lab.stats import tost, welch
from tf_introspect.lab.verdicts import compare, p_value_text

#: LE's logged diagnostics (``final_train`` of a run's metrics): name in the logs, heading
DIAGNOSTICS = (
    ("q_kl_ls", "KL(q, LS) nats", 1, ".4f"),
    ("q_kl_ls_rest", "rest's KL from uniform", 1, ".3f"),
    ("q_top_other_agreement", "top other = model's %", 100, ".1f"),
    ("q_confusion_spearman", "rank corr. with errors", 1, ".2f"),
)


#: below this KL from label smoothing (nats) the rest of q is uniform up to float32 rounding
UNIFORM_KL = 1e-6


def label_smoothing_distance(metrics):
    """How far a run's LE targets are from label smoothing at the same ground-truth mass, from
    its last epoch's ``q_entropy`` (the mean entropy of the targets q, nats): ``(KL, KL of
    the rest)`` or None without it; for runs made before ``q_kl_ls`` was logged. q and the
    label-smoothing target u share the mass alpha on the ground truth and u is uniform on the
    other K - 1 classes, so ``sum_k q_k log u_k = -H(u)`` and ``KL(q || u) = H(u) - H(q)``
    exactly; averaged over samples, ``H(u) - q_entropy``. The rest, q's non-ground-truth part
    renormalised, is ``KL / (1 - alpha)`` from uniform (at most ``log(K - 1)``). 0 is label
    smoothing."""
    q_entropy = metrics.get("final_train", {}).get("q_entropy")
    alpha = metrics.get("flags", {}).get("alpha")
    if q_entropy is None or alpha is None or not q_entropy > 0:
        return None
    from tf_introspect.data import metadata

    k = metadata.info(metrics["dataset"]).num_classes
    h_u = -(alpha * np.log(alpha) + (1 - alpha) * np.log((1 - alpha) / (k - 1)))
    kl = max(h_u - q_entropy, 0.0)
    return kl, kl / (1 - alpha)


def _diagnostics(record):
    """A run's last-epoch diagnostics, ``{name: value}`` (None: undefined, e.g. the rank
    correlation of uniform targets), and whether the KL came from ``q_entropy``."""
    final = record["metrics"].get("final_train", {})
    if "q_kl_ls" in final:
        found = {name: final.get(name) for name, *_ in DIAGNOSTICS}
        if found["q_kl_ls"] is not None and found["q_kl_ls"] < UNIFORM_KL:
            # uniform rest targets (LE-Uniform): no top other class, no ranking to correlate
            found.update(q_top_other_agreement=None, q_confusion_spearman=None)
        return found, False
    distance = label_smoothing_distance(record["metrics"])
    if distance is None:
        return None, False
    return {"q_kl_ls": distance[0], "q_kl_ls_rest": distance[1]}, True


def diagnostics_lines(plan, results):
    """A table of LE's diagnostics beside each LE-type cell's accuracy (means over seeds of
    the last epoch's values)."""
    rows = []
    for cell in plan["cell"]:
        found = [_diagnostics(r) for r in results[cell["name"]]["records"]]
        found = [(d, derived) for d, derived in found if d]
        if not found:
            continue
        values = []
        for name, _, scale, form in DIAGNOSTICS:
            seen = [d[name] for d, _ in found if d.get(name) is not None]
            values.append(f"{scale * np.mean(seen):{form}}" if seen else "-")
        accuracy = 100 * np.mean(results[cell["name"]]["final"])
        source = "from q_entropy" if all(derived for _, derived in found) else "logged"
        rows.append(
            f"| {cell['name']} | {len(found)} | {accuracy:.2f} | "
            + " | ".join(values)
            + f" | {source} |"
        )
    if not rows:
        return []
    return [
        "",
        "LE's targets q against label smoothing (last epoch, mean over seeds): KL(q, LS) is "
        "the KL divergence of q from label smoothing at the same ground-truth mass (0: q *is* "
        "label smoothing); the rest's KL is that of q's non-ground-truth part from uniform "
        "(at most ln 9 = 2.2 nats for 10 classes); top other = model's: the share of samples "
        "whose largest non-ground-truth target is the model's own largest non-ground-truth "
        "logit; rank corr. with errors: Spearman's correlation of the class-by-class mean of "
        "q with the model's confusion matrix on the evaluation set (off the diagonal: does q "
        "point where the model errs?). Runs made before these were logged have the KL only, "
        "from `q_entropy` (exact: KL = H(LS target) - H(q)).",
        "",
        "| cell | n | final % | " + " | ".join(h for _, h, *_ in DIAGNOSTICS) + " | source |",
        "|---" * (4 + len(DIAGNOSTICS)) + "|",
        *rows,
    ]


def equivalences(plan, results, level=0.05):
    """Is the reference (LE) more than label smoothing? For each cell of the plan's
    ``equivalence`` (LE-Uniform, LS): ``cell``, ``n`` (reference, cell) and, with 2 seeds
    each, the difference ``diff`` with its (1 - 2 level) ``interval``, the Welch ``p``, the two
    one-sided tests' ``tost_p`` against the plan's ``margin`` (points) and their ``power`` at a
    true difference of 0, and the ``answer``: "different" (Welch p < level), "equivalent
    within +-margin" (TOST p < level) or "too few seeds to tell"."""
    spec, reference = plan.get("equivalence"), plan.get("reference")
    if not spec:
        return []
    margin = spec["margin"]
    ref = 100 * np.asarray(results[reference]["final"])
    found = []
    for name in spec["cells"]:
        other = 100 * np.asarray(results[name]["final"])
        row = {"cell": name, "n": (len(ref), len(other)), "margin": margin}
        test = tost(ref, other, margin, level)
        if test is not None:
            p = welch(ref, other)
            if p < level:
                answer = "different"
            elif test["p"] < level:
                answer = f"equivalent within +-{margin:g}"
            else:
                answer = "too few seeds to tell"
            row.update(
                diff=float(ref.mean() - other.mean()),
                interval=test["interval"],
                p=p,
                tost_p=test["p"],
                power=test["power"],
                answer=answer,
            )
        found.append(row)
    return found


def equivalence_lines(plan, results, level=0.05):
    """:func:`equivalences` in words, after the test's definition."""
    spec, reference = plan.get("equivalence"), plan.get("reference")
    if not spec:
        return []
    parts = []
    for row in equivalences(plan, results, level):
        if "answer" not in row:
            parts.append(
                f"vs {row['cell']}: waiting for 2 seeds each ({row['n'][0]} of {reference}, "
                f"{row['n'][1]} of {row['cell']})"
            )
            continue
        low, high = row["interval"]
        parts.append(
            f"vs {row['cell']}: {row['diff']:+.2f} [{low:+.2f}, {high:+.2f}], Welch p "
            f"{p_value_text(row['p'])}, TOST p {p_value_text(row['tost_p'])} (power "
            f"{100 * row['power']:.0f} % if they were equal): **{row['answer']}**"
        )
    return [
        "",
        f"Is {reference} more than label smoothing? An equivalence test with a margin of "
        f"+-{spec['margin']:g} points, fixed in the plan: two one-sided Welch tests at {level} "
        f"(equivalent when the {100 * (1 - 2 * level):.0f} % interval of the difference lies "
        "inside the margin), and a two-sided Welch test for a difference; "
        + "; ".join(parts)
        + ".",
    ]


def calibration_lines(plan, results, level=0.05):
    """NLL and ECE of the reference against each cell (the same tests as accuracy: Welch
    interval, Holm within the family; negative differences: the reference is better
    calibrated)."""
    reference = plan.get("reference")
    lines = []
    for key, scale, unit in (("nll", 1.0, "nats"), ("ece", 100.0, "points")):
        if len(results.get(reference, {}).get(key, [])) < 2:
            continue
        parts = []
        for rows in compare(plan, results, key=key, scale=scale, level=level):
            for row in rows:
                if row["p"] is None:
                    continue
                ci = row["interval"]
                ci_text = "" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
                verdict = "different" if row["p_holm"] < level else "not shown"
                parts.append(
                    f"vs {row['cell']} {row['diff']:+.3f}{ci_text} (n {row['n'][0]}, "
                    f"{row['n'][1]}), Holm p {p_value_text(row['p_holm'])}: {verdict}"
                )
        if parts:
            lines += [
                "",
                f"Calibration, {reference} against each cell, test {key.upper()} ({unit}; "
                f"negative: {reference} better calibrated; Welch interval, Holm within the "
                "family): " + "; ".join(parts) + ".",
            ]
    return lines


def mechanism_lines(plan, results):
    """The diagnostics table and the equivalence test of a plan."""
    return diagnostics_lines(plan, results) + equivalence_lines(plan, results)
