"""The claims at a glance, at the head of ``docs/RESULTS.md``: one row per claim a plan tests,
with our difference, its interval and the verdict its plan's own section gives
(:mod:`tf_introspect.lab.verdicts`, :mod:`tf_introspect.lab.mechanism`), so a reader sees
where the paper is reproduced, where the data speak against it and what is untested.

- The paper's claims: the reference cell (LE) above each cell whose paper number is given
  beside LE's (Table 2's and 3's orders, Table 6's LE above LE-Permut), and each
  ``paper_order`` chain (Figure 3's explainers).
- Ours, beyond the paper: LE against the cells without a paper number (LE-Uniform, the
  teacher-free self-distillation methods) and the equivalence test "is LE more than label
  smoothing?".
- The paper's tables no plan has a finished run of yet.

Plan keys: ``table``, the paper's table or figure the plan reproduces (e.g. ``"Table 3"``; a
plan without one, such as the bfloat16 parity check, makes no rows here); a cell's own
``table`` where its paper number comes from another table (LE-Permut's, Table 6)."""

import collections

from tf_introspect.lab.mechanism import equivalences
from tf_introspect.lab.verdicts import OUTCOMES, compare, orders, outcome, smaller_margin

#: one row of the tables: ``text`` (the claim or question), ``row`` (Markdown), and for the
#: paper's claims its ``source`` table, the plan (``where``), the ``cell`` compared with LE
#: (or the order's chain) and the :func:`~tf_introspect.lab.verdicts.outcome`
Claim = collections.namedtuple("Claim", "text row source where cell outcome")

#: the tally's words for :data:`~tf_introspect.lab.verdicts.OUTCOMES`
TALLY = {
    "reproduced": "reproduced",
    "contradicted": "contradicted",
    "against": "against the paper's margin",
    "not shown": "not shown",
    "no test": "no test yet",
    "significant": "significant",
    "not run": "not run yet",
}

PAPER_HEADER = "| claim | plan (protocol) | seeds | ours, points [95 %] | paper | verdict |"
OURS_HEADER = "| question | plan (protocol) | seeds | ours, points [interval] | verdict |"


def _where(plan):
    return f"`{plan['name']}` ({plan.get('protocol')})"


def _side(margin):
    """The paper's claim for a margin (reference - cell): LE above or below the cell."""
    return "above" if margin > 0 else "below"


def _seeds(n):
    return f"{n[0]} / {n[1]}"


def _ours(row):
    if row.get("interval") is None:
        return "-" if "diff" not in row else f"{row['diff']:+.2f} (no interval)"
    low, high = row["interval"]
    return f"{row['diff']:+.2f} [{low:+.2f}, {high:+.2f}]"


def claim_rows(plan, results, level=0.05):
    """``(paper, ours)``: one plan's claims as :class:`Claim` rows, the paper's (LE above
    each cell with a paper margin, each ``paper_order`` chain) and ours (LE against the cells
    without one, the equivalence test). A plan without ``table`` has none, one without
    ``reference`` only its chains. A paper's claim without finished runs on either side has
    no ``row`` yet (outcome "not run": counted by :func:`tally_lines`), one of ours none."""
    table, reference = plan.get("table"), plan.get("reference")
    if not table:
        return [], []
    cells = {c["name"]: c for c in plan["cell"]}
    paper, ours = [], []
    for rows in compare(plan, results, level=level):
        for row in rows:
            name = row["cell"]
            if row["paper"] == 0:  # the paper puts them level: no order to test
                continue
            source = cells[name].get("table", table)
            if not row["n"][0] or not row["n"][1]:
                if row["paper"] is not None:
                    paper.append(Claim("", None, source, plan, name, "not run"))
                continue
            found = outcome(row, level)
            verdict = OUTCOMES[found] + (smaller_margin(row) if found == "reproduced" else "")
            if found == "significant":
                verdict += f": `{reference}` {'ahead' if row['diff'] > 0 else 'behind'}"
            if row["paper"] is not None:
                claim = f"{source}: `{reference}` {_side(row['paper'])} `{name}`"
                line = f"{_seeds(row['n'])} | {_ours(row)} | {row['paper']:+.2f} | {verdict}"
                paper.append(
                    Claim(
                        claim, f"| {claim} | {_where(plan)} | {line} |", source, plan, name, found
                    )
                )
            else:
                claim = f"`{reference}` against `{name}`"
                interval = " (95 %)" if row.get("interval") else ""
                line = f"{_seeds(row['n'])} | {_ours(row)}{interval} | {verdict}"
                ours.append(
                    Claim(claim, f"| {claim} | {_where(plan)} | {line} |", "", plan, name, found)
                )
    tested = {tuple(order["planned"]): order for order in orders(plan, results, level)}
    for chain in plan.get("paper_order", []):
        order = tested.get(tuple(chain))
        claim = f"{table}: order {' < '.join(f'`{c}`' for c in chain)}"
        if order is None:  # fewer than 2 of its cells run
            paper.append(Claim(claim, None, table, plan, " < ".join(chain), "not run"))
            continue
        found, summary = order["outcome"], order["summary"]
        if len(order["chain"]) < len(chain) and found != "contradicted":
            found = "no test"
            summary = f"not tested ({len(chain) - len(order['chain'])} of its cells not run)"
        line = (
            f"{len(order['chain'])} of {len(chain)} cells | ours "
            f"{' < '.join(f'`{c}`' for c in order['ours'])} | ascending | {summary}"
        )
        row = f"| {claim} | {_where(plan)} | {line} |"
        paper.append(Claim(claim, row, table, plan, " < ".join(chain), found))
    confidence = f"{100 * (1 - 2 * level):.0f} %"
    for row in equivalences(plan, results, level):
        if not row["n"][0] or not row["n"][1]:
            continue
        claim = (
            f"is `{reference}` more than `{row['cell']}`? (equivalence within +-{row['margin']:g})"
        )
        found = f"{_ours(row)} ({confidence})" if "answer" in row else "-"
        verdict = row.get("answer", OUTCOMES["no test"])
        line = f"| {claim} | {_where(plan)} | {_seeds(row['n'])} | {found} | {verdict} |"
        ours.append(Claim(claim, line, "", plan, row["cell"], row.get("answer", "no test")))
    return paper, ours


def _table_order(source):
    """Tables (``Table 2``) before figures, each in its number's order."""
    return source.startswith("Figure"), source


def _grouped(claims):
    """The rows of ``claims`` (:class:`Claim`), the same claim's rows together (one per
    protocol, in the report's order of plans), claims in the order first met; the paper's by
    table, then figure."""
    first = {}
    for claim in claims:
        first.setdefault(claim.text, len(first))
    ordered = sorted(claims, key=lambda c: (*_table_order(c.source), first[c.text]))
    return [c.row for c in ordered if c.row]  # claims not run yet have none


def tally_lines(claims):
    """One line per paper table and plan: how many of its claims are reproduced, against
    the paper's margin and so on, with the cells, and the verdict on the table as a whole:
    reproduced when every claim is, contradicted when one is, not reproduced when every
    claim has been tested and one is not reproduced, else open (with how many are tested)."""
    groups = {}
    for claim in claims:
        key = (claim.source, claim.where["name"], claim.where.get("protocol"))
        groups.setdefault(key, {}).setdefault(claim.outcome, []).append(claim.cell)
    lines = []
    for (source, name, protocol), found in sorted(
        groups.items(), key=lambda g: _table_order(g[0][0])
    ):
        total = sum(len(cells) for cells in found.values())
        untested = sum(len(found.get(key, [])) for key in ("no test", "not run"))
        if set(found) == {"reproduced"}:
            verdict = "reproduced"
        elif "contradicted" in found:
            verdict = "contradicted"
        elif not untested:
            verdict = "not reproduced"
        else:
            verdict = f"open ({total - untested} of {total} tested)"
        parts = [
            f"{TALLY[key]} {len(cells)} ({', '.join(f'`{c}`' for c in cells)})"
            for key, cells in sorted(found.items(), key=lambda item: list(TALLY).index(item[0]))
        ]
        lines.append(
            f"- **{source}**, `{name}` ({protocol}), {total} claim{'s' * (total > 1)}: "
            f"{'; '.join(parts)}. As a whole: **{verdict}**."
        )
    return lines


def claims_section(plans, level=0.05):
    """The section's lines for ``plans``, ``[(path, plan, results)]`` in the report's order
    (``results``: :func:`tf_introspect.lab.results_doc.plan_results`): the paper's claims,
    ours, and the tables whose plans have nothing to compare yet; no section when no plan
    names a ``table``."""
    paper, ours, untested, tabled = [], [], [], False
    for path, plan, results in plans:
        if not plan.get("table"):
            continue
        tabled = True
        found = claim_rows(plan, results, level)
        if not any(claim.row for claim in found[0] + found[1]):
            untested.append(f"{plan['table']} at the `{plan.get('protocol')}` protocol (`{path}`)")
            continue
        paper += found[0]
        ours += found[1]
    if not tabled:
        return []
    lines = [
        "",
        "## The claims at a glance",
        "",
        "Each row is worked out in its plan's section below. *ours*: the LE cell's mean final "
        "test accuracy minus the other cell's, in points, with its 95 % Welch interval (for "
        "an equivalence test, the 90 % interval its two one-sided tests use); *seeds*: "
        f"finished seeds of LE / of the other cell. A difference is reproduced, contradicted "
        f"or significant at p < {level} after Holm's adjustment within the plan's comparison "
        'family; "against the paper\'s margin": not significant, and the 95 % interval (not '
        "adjusted: with several claims in a table, one may miss by chance) lies wholly on the "
        'near side of the paper\'s margin. "Not shown" is no evidence of equality: each '
        "section gives the power a comparison had. The `short` and `budget` protocols are "
        "shorter than the paper's, so a claim may hold at the paper's protocol and not at ours.",
    ]
    if paper:
        lines += ["", "The paper's claims:", "", PAPER_HEADER, "|---" * 6 + "|"]
        lines += _grouped(paper)
        lines += [
            "",
            "By table and protocol (a table's order holds when each of its claims does):",
            "",
        ]
        lines += tally_lines(paper)
    if ours:
        lines += ["", "Ours, beyond the paper:", "", OURS_HEADER, "|---" * 5 + "|"]
        lines += _grouped(ours)
    if untested:
        lines += ["", "Nothing to compare yet: " + "; ".join(untested) + "."]
    return lines
