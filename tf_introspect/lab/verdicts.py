"""The verdicts of ``docs/RESULTS.md`` (:mod:`tf_introspect.lab.results_doc`): each cell
against the plan's reference cell (LE) with its Welch interval, effect size, Holm's p within
its comparison family, power and paired test, beside the paper's margin; the paper's
orderings (Table 2: LE above CE, LS, CP; Table 6: LE above LE-Permut); bfloat16 parity."""

import numpy as np

from tf_introspect.lab.plans import families
from tf_introspect.lab.stats import (
    detectable,
    hedges_g,
    holm,
    paired,
    welch,
    welch_interval,
    welch_power,
)


def p_value_text(p: float) -> str:
    """``= 0.012`` or ``< 0.001``."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _direction(ours, paper):
    """The verdict on a significant difference ``ours`` against the paper's sign."""
    return "reproduced" if np.sign(ours) == np.sign(paper) else "contradicted"


def by_seed(result, key="final"):
    """``{run name: value}`` of a cell's finished seeds (:func:`results_doc.cell_results`;
    a value some runs lack, such as the calibration, lists its own ``<key>_seeds``)."""
    return dict(zip(result.get(f"{key}_seeds", result["seeds"]), result.get(key, [])))


def compare(plan, results, key="final", scale=100.0, level=0.05):
    """The reference cell against each cell of each comparison family
    (:func:`tf_introspect.lab.plans.families`) on ``results[cell][key]`` times ``scale``: per
    family, per cell, a dict of ``diff`` (reference - cell), its 95 % Welch ``interval``,
    Hedges' ``g``, the Welch ``p`` and Holm's ``p_holm`` within the family, ``n`` (reference,
    cell), the ``power`` to detect the paper's margin (``paper``) and the smallest difference
    ``detectable`` at 80 % power (with these spreads and sizes), and for cells in ``paired``
    (sharing the reference's warm-up: same seed, same initial weights) the paired test by
    seed. Cells with fewer than 2 seeds get ``p`` None (no test)."""
    reference = plan.get("reference")
    if not reference:
        return []
    cells = {c["name"]: c for c in plan["cell"]}
    ref = scale * np.asarray(results[reference].get(key, []), np.float64)
    out = []
    for family in families(plan):
        rows = []
        for name in family:
            other = scale * np.asarray(results[name].get(key, []), np.float64)
            paper = (
                cells[reference]["paper"] - cells[name]["paper"]
                if key == "final" and "paper" in cells[reference] and "paper" in cells[name]
                else None
            )
            row = {"cell": name, "n": (len(ref), len(other)), "paper": paper, "p": None}
            if len(ref) and len(other):
                row["diff"] = float(ref.mean() - other.mean())
            if len(ref) >= 2 and len(other) >= 2:
                row.update(
                    p=welch(ref, other),
                    interval=welch_interval(ref, other),
                    g=hedges_g(ref, other),
                    power=None if paper is None else welch_power(paper, ref, other, level),
                    detectable=detectable(ref, other, level=level),
                )
            if name in plan.get("paired", []):
                mine, theirs = by_seed(results[reference], key), by_seed(results[name], key)
                common = sorted(set(mine) & set(theirs))
                row["paired"] = paired(
                    [scale * mine[s] for s in common], [scale * theirs[s] for s in common]
                )
            rows.append(row)
        for row, adjusted in zip(rows, holm([r["p"] for r in rows])):
            row["p_holm"] = adjusted
        out.append(rows)
    return out


#: :func:`outcome`'s answers, in the words of the claims table and the verdict lines
OUTCOMES = {
    "reproduced": "reproduced",
    "contradicted": "contradicted",
    "significant": "significant",
    "against": "not shown; the data speak against the paper's margin",
    "not shown": "not shown",
    "no test": "no test yet (fewer than 2 seeds of a cell)",
}


def _short_of_margin(row):
    """Whether the 95 % interval (not adjusted) of a comparison row lies wholly on the near
    side of the paper's margin: a smaller lead than the paper's, or none."""
    paper, interval = row["paper"], row.get("interval")
    return bool(paper and interval and (interval[1] < paper if paper > 0 else interval[0] > paper))


def outcome(row, level=0.05):
    """A comparison row's (:func:`compare`) verdict, one key of :data:`OUTCOMES`: on Holm's p,
    "reproduced" or "contradicted" (the sign of a significant difference against the paper's),
    "significant" (no paper margin); else "against" where the 95 % interval (not adjusted)
    lies wholly on the near side of the paper's margin (a smaller lead than the paper's, or
    none), "not shown" otherwise; "no test" below 2 seeds a cell."""
    if row["p"] is None:
        return "no test"
    if not row["p_holm"] < level:
        return "against" if _short_of_margin(row) else "not shown"
    paper = row["paper"]
    if paper is None or paper == 0:
        return "significant"
    return _direction(row["diff"], paper)


def smaller_margin(row):
    """The words for a claim reproduced by a lead whose 95 % interval lies wholly under the
    paper's margin ("" otherwise): the direction holds, the data speak against the size."""
    if not _short_of_margin(row):
        return ""
    return f", by less than the paper's {row['paper']:+.2f} (outside the interval)"


def _verdict(row, level, protocol):
    """:func:`outcome` in words; where the data speak against the paper's margin, which margin
    and at which protocol."""
    found = outcome(row, level)
    if found == "reproduced":
        return OUTCOMES[found] + smaller_margin(row)
    if found == "against":
        return (
            "not shown (no significant difference); the data speak against the paper's margin "
            f"of {row['paper']:+.2f} (outside the interval; at our `{protocol}` protocol)"
        )
    if found == "not shown":
        return "not shown (no significant difference)"
    return OUTCOMES[found]


def _family_title(plan, family, index, count):
    if count == 1:
        return f"one comparison family of {len(family)} (Holm)"
    return f"family {index + 1} of {count}: {', '.join(family)} (Holm over {len(family)})"


def comparisons(plan, results, level=0.05):
    """The verdict lines on final accuracy: per family, the reference cell's lead over each
    cell with its 95 % Welch interval and effect size, the paper's lead, the raw and Holm p,
    a verdict on Holm's p (:func:`_verdict`), the power the comparison had for the paper's
    margin and the smallest difference it could detect, and for cells sharing the warm-up the
    paired test by seed. One-seed cells get no test, and the line says so."""
    reference = plan.get("reference")
    found = compare(plan, results, level=level)
    if not found or len(results[reference]["final"]) < 2:
        return []
    lines = [
        "",
        f"{reference} against each cell (final accuracy, points: the difference with its "
        "95 % Welch interval and Hedges' g; the paper's difference; Welch p and, for the "
        f"verdict at p < {level}, Holm's p within the plan's comparison family, fixed before "
        "its runs; power: the chance this comparison had to detect the paper's difference, "
        "and the smallest difference it could detect with 80 % power, both with the observed "
        "spreads):",
    ]
    for index, rows in enumerate(found):
        lines += ["", f"*{_family_title(plan, [r['cell'] for r in rows], index, len(found))}:*"]
        lines += [""]
        for row in rows:
            lines.append(_comparison_line(plan, reference, row, level))
    return lines


def _comparison_line(plan, reference, row, level):
    name, paper = row["cell"], row["paper"]
    paper_text = "" if paper is None else f", paper {paper:+.2f}"
    if row["p"] is None:
        diff = f"{row['diff']:+.2f}" if "diff" in row else "no run yet"
        return (
            f"- vs {name}: {diff}{paper_text} ({row['n'][1]} seed(s) of {name}, "
            f"{row['n'][0]} of {reference}): no test below 2 seeds each, no verdict."
        )
    interval = row["interval"]
    ci_text = "" if interval is None else f" [{interval[0]:+.2f}, {interval[1]:+.2f}]"
    g_text = "" if row["g"] is None else f" (g {row['g']:+.1f})"
    text = (
        f"- vs {name}: {row['diff']:+.2f}{ci_text}{g_text}{paper_text}; p "
        f"{p_value_text(row['p'])}, Holm p {p_value_text(row['p_holm'])}: "
        f"{_verdict(row, level, plan.get('protocol'))}."
    )
    if row.get("power") is not None:
        text += f" Power for the paper's {paper:+.2f}: {100 * row['power']:.0f} %."
    if row.get("detectable") is not None:
        text += f" Detectable with 80 % power: {row['detectable']:.2f}."
    pair = row.get("paired")
    if pair:
        ci = pair["interval"]
        ci_text = "" if ci is None else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"
        test = (
            f"{pair['n']} pairs: too few for a test"
            if pair["p"] is None
            else f"p (not adjusted) {p_value_text(pair['p'])}"
        )
        text += (
            f" Paired by seed (same warm-up): {pair['diff']:+.2f}{ci_text}, {test}, "
            f"{reference} ahead in {pair['ahead']} of {pair['n']}."
        )
    return text


def orders(plan, results, level=0.05):
    """The paper's claimed orders (``paper_order``: chains of cells, ascending accuracy, e.g.
    its Figure 3: Grad*Input < GuidedBP < Grad < Grad-CAM) against ours, for each chain with 2
    or more cells run: ``planned`` (the plan's chain), ``chain`` (its cells with runs),
    ``ours`` (the same cells by mean final accuracy, ascending), ``pairs`` (each adjacent
    pair's difference of final accuracy, Welch p and verdict), ``summary``, the chain's
    verdict, and ``outcome``, that verdict as a key of :data:`OUTCOMES`."""
    found = []
    for chain in plan.get("paper_order", []):
        cells = [c for c in chain if results[c]["final"]]
        if len(cells) < 2:
            continue
        mean = {c: 100 * np.mean(results[c]["final"]) for c in cells}
        pairs = []
        for low, high in zip(cells, cells[1:]):
            diff = mean[high] - mean[low]
            p = welch(results[high]["final"], results[low]["final"])
            if p is None:
                verdict = "not tested (a cell with one seed)"
            elif not p < level:
                verdict = "not shown"
            else:
                verdict = _direction(diff, +1)
            pairs.append({"low": low, "high": high, "diff": diff, "p": p, "verdict": verdict})
        verdicts = [pair["verdict"] for pair in pairs]
        if all(v == "reproduced" for v in verdicts):
            key, summary = "reproduced", "reproduced"
        elif "contradicted" in verdicts:
            key, summary = "contradicted", "contradicted"
        elif any(v.startswith("not tested") for v in verdicts):
            key, summary = "no test", "not tested (cells with one seed: no test of significance)"
        else:
            key, summary = "not shown", "not shown (no significant difference)"
        ours = sorted(cells, key=mean.get)
        found.append(
            {
                "planned": chain,
                "chain": cells,
                "ours": ours,
                "pairs": pairs,
                "summary": summary,
                "outcome": key,
            }
        )
    return found


def order_lines(plan, results, level=0.05):
    """:func:`orders` in words: each chain, ours, each adjacent pair and the verdict."""
    lines = []
    for order in orders(plan, results, level):
        pairs = [
            f"{pair['low']} < {pair['high']}: {pair['diff']:+.2f}"
            + ("" if pair["p"] is None else f", p {p_value_text(pair['p'])}")
            + f", {pair['verdict']}"
            for pair in order["pairs"]
        ]
        lines += [
            "",
            f"The paper's order {' < '.join(order['chain'])} (final accuracy, ascending): "
            f"ours is {' < '.join(order['ours'])} (means); "
            + "; ".join(pairs)
            + f". Verdict at p < {level}: {order['summary']}.",
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
