"""The verdicts of ``docs/RESULTS.md`` (:mod:`tf_introspect.lab.results_doc`): each cell
against the plan's reference cell (LE) with its Welch interval, beside the paper's margin;
the paper's orderings (Table 2: LE above CE, LS, CP; Table 6: LE above LE-Permut); how far
LE's targets are from label smoothing."""

import numpy as np

from tf_introspect.lab.stats import welch, welch_interval


def p_value_text(p: float) -> str:
    """``= 0.012`` or ``< 0.001``."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _direction(ours, paper):
    """The verdict on a significant difference ``ours`` against the paper's sign."""
    return "reproduced" if np.sign(ours) == np.sign(paper) else "contradicted"


def comparisons(plan, results, level=0.05):
    """One line per cell: the reference cell's lead over it with its 95 % Welch interval,
    the paper's lead, and a verdict: reproduced or contradicted (Welch p < ``level``, in the
    paper's direction or against it); where the difference is not significant, "not
    shown", and where the interval also excludes the paper's margin, that the data speak
    against the margin (the paper's lead is larger, or smaller, than the data allow)."""
    reference = plan.get("reference")
    if not reference or len(results[reference]["final"]) < 2:
        return []
    ref_cell = next(c for c in plan["cell"] if c["name"] == reference)
    lines = [
        "",
        f"{reference} against each cell (final accuracy, points, with the 95 % Welch "
        f"interval of the difference; verdict at p < {level}):",
        "",
    ]
    for cell in plan["cell"]:
        r = results[cell["name"]]
        if cell["name"] == reference or len(r["final"]) < 2:
            continue
        ours = 100 * (np.mean(results[reference]["final"]) - np.mean(r["final"]))
        p = welch(results[reference]["final"], r["final"])
        paper = (
            ref_cell["paper"] - cell["paper"] if "paper" in ref_cell and "paper" in cell else None
        )
        interval = welch_interval(
            100 * np.asarray(results[reference]["final"]), 100 * np.asarray(r["final"])
        )
        if not p < level:
            verdict = "not shown (no significant difference)"
            if paper is not None and interval and not interval[0] <= paper <= interval[1]:
                verdict += (
                    f"; the data speak against the paper's margin of {paper:+.2f} "
                    f"(outside the interval; at our `{plan.get('protocol')}` "
                    "protocol)"
                )
        elif paper is None or paper == 0:
            verdict = "significant"
        else:
            verdict = _direction(ours, paper)
        paper_text = "" if paper is None else f", paper {paper:+.2f}"
        ci_text = "" if interval is None else f" [{interval[0]:+.2f}, {interval[1]:+.2f}]"
        p_text = p_value_text(p)
        lines.append(
            f"- vs {cell['name']}: {ours:+.2f}{ci_text}{paper_text}; p {p_text}: {verdict}."
        )
    return lines


def label_smoothing_distance(metrics):
    """How far a run's LE targets are from label smoothing at the same ground-truth mass, from
    its last epoch's ``q_entropy`` (the mean entropy of the targets q, nats): ``(KL, KL of
    the rest)`` or None without it. q and the label-smoothing target u share the mass alpha
    on the ground truth and u is uniform on the other K - 1 classes, so
    ``sum_k q_k log u_k = -H(u)`` and ``KL(q || u) = H(u) - H(q)`` exactly; averaged over
    samples, ``H(u) - q_entropy``. The rest, q's non-ground-truth part renormalised, is
    ``KL / (1 - alpha)`` from uniform (at most ``log(K - 1)``). 0 is label smoothing."""
    q_entropy = metrics.get("final_train", {}).get("q_entropy")
    alpha = metrics.get("flags", {}).get("alpha")
    if q_entropy is None or alpha is None or not q_entropy > 0:
        return None
    from tf_introspect.data import metadata

    k = metadata.info(metrics["dataset"]).num_classes
    h_u = -(alpha * np.log(alpha) + (1 - alpha) * np.log((1 - alpha) / (k - 1)))
    kl = max(h_u - q_entropy, 0.0)
    return kl, kl / (1 - alpha)


def similarity_lines(plan, results):
    """Per LE-type cell: the mean KL of its targets from label smoothing at the same mass
    (:func:`label_smoothing_distance`), over its seeds' last epochs."""
    rows = []
    for cell in plan["cell"]:
        distances = [
            d
            for d in (
                label_smoothing_distance(r["metrics"]) for r in results[cell["name"]]["records"]
            )
            if d
        ]
        if distances:
            kl, rest = np.mean(distances, axis=0)
            rows.append(f"{cell['name']} {kl:.4f} ({rest:.3f} for the rest)")
    if not rows:
        return []
    return [
        "",
        "LE's targets against label smoothing at the same ground-truth mass (mean KL, "
        "nats, last epoch, from `q_entropy`: KL = H(LS target) - H(q); in brackets the "
        "non-ground-truth part's KL from uniform, at most ln(K - 1) = 2.2 for 10 classes; "
        "0 is label smoothing): " + "; ".join(rows) + ".",
    ]


def order_lines(plan, results, level=0.05):
    """The paper's claimed orders (``paper_order``: chains of cells, ascending accuracy, e.g.
    its Figure 3: Grad*Input < GuidedBP < Grad < Grad-CAM) against ours: each adjacent pair's
    difference of final accuracy with a Welch test, and a verdict for the chain."""
    lines = []
    for chain in plan.get("paper_order", []):
        cells = [c for c in chain if results[c]["final"]]
        if len(cells) < 2:
            continue
        mean = {c: 100 * np.mean(results[c]["final"]) for c in cells}
        pairs, verdicts = [], []
        for low, high in zip(cells, cells[1:]):
            diff = mean[high] - mean[low]
            p = welch(results[high]["final"], results[low]["final"])
            if p is None:
                verdict = "not tested (a cell with one seed)"
            elif not p < level:
                verdict = "not shown"
            else:
                verdict = _direction(diff, +1)
            verdicts.append(verdict)
            pairs.append(
                f"{low} < {high}: {diff:+.2f}"
                + ("" if p is None else f", p {p_value_text(p)}")
                + f", {verdict}"
            )
        if all(v == "reproduced" for v in verdicts):
            summary = "reproduced"
        elif "contradicted" in verdicts:
            summary = "contradicted"
        elif any(v.startswith("not tested") for v in verdicts):
            summary = "not tested (cells with one seed: no test of significance)"
        else:
            summary = "not shown (no significant difference)"
        ours = " < ".join(sorted(cells, key=mean.get))
        lines += [
            "",
            f"The paper's order {' < '.join(cells)} (final accuracy, ascending): "
            f"ours is {ours} (means); "
            + "; ".join(pairs)
            + f". Verdict at p < {level}: {summary}.",
        ]
    return lines


#: a cell ``<name>_bf16`` is ``<name>`` trained under ``--precision=mixed_bfloat16``
BF16_SUFFIX = "_bf16"


def parity_lines(plan, results):
    """The bfloat16 parity verdict (issue 17) for each cell ``<name>_bf16`` beside a cell
    ``<name>``: the difference of mean final accuracy (bfloat16 - float32) against the
    seed-to-seed spread, the larger of the two cells' ranges (max - min over seeds); bfloat16
    is adopted only if every difference lies within its spread."""
    rows, within = [], []
    for cell in plan["cell"]:
        name = cell["name"]
        twin = name.removesuffix(BF16_SUFFIX)
        if not name.endswith(BF16_SUFFIX) or twin not in results:
            continue
        bf16, f32 = (100 * np.asarray(results[c]["final"]) for c in (name, twin))
        if len(bf16) < 2 or len(f32) < 2:
            rows.append(
                f"{twin}: waiting for 2 seeds of each ({len(f32)} float32, {len(bf16)} bfloat16)"
            )
            within.append(None)
            continue
        diff = bf16.mean() - f32.mean()
        spread = max(np.ptp(bf16), np.ptp(f32))
        within.append(abs(diff) <= spread)
        rows.append(
            f"{twin}: {diff:+.2f} (spread {spread:.2f}, {'within' if within[-1] else 'outside'})"
        )
    if not rows:
        return []
    if None in within:
        verdict = "not decided yet"
    elif all(within):
        verdict = "parity: every difference lies within the seed spread, bfloat16 may be adopted"
    else:
        verdict = "no parity: a difference lies outside the seed spread, plans stay float32"
    return [
        "",
        "bfloat16 against float32 (mean final accuracy, bfloat16 - float32, in points; spread: "
        "the larger range over seeds of the two cells): "
        + "; ".join(rows)
        + f". Verdict: {verdict}.",
    ]
