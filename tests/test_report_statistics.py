"""docs/RESULTS.md's statistics (issue 20): comparison families with Holm's adjustment,
one-seed cells, paired tests, equivalence, grid ties, calibration and LE's diagnostics, each
from fake records of a tiny plan."""

import json
import shutil

import pytest
from test_experiments import REPO, TINY, fake_record, root, write_plan  # noqa: F401

from tf_introspect.lab import plans as lab_plans
from tf_introspect.lab import records as lab_records
from tf_introspect.lab import results_doc, verdicts

FOUR = (
    TINY.replace("seeds = [0]", "seeds = [0, 1, 2]")
    + """[[cell]]
name = "ls"
flagfile = "flags/table3/mlp1024_ls.flags"
[[cell]]
name = "cp"
flagfile = "flags/table3/mlp1024_cp.flags"
"""
)


def report(root, text, accuracies, **extra):  # noqa: F811
    """The document of plan ``text`` with the given final accuracies per cell (one per
    seed; ``extra[cell]``: more metrics per seed, e.g. calibration)."""
    plan = lab_plans.load_plan(write_plan(root, text))
    for cell in plan["cell"]:
        values = accuracies.get(cell["name"], ())
        for i, (run, accuracy) in enumerate(zip(lab_plans.seed_runs(plan, cell), values)):
            more = {k: v[i] for k, v in extra.get(cell["name"], {}).items()}
            fake_record(run, test_accuracy=accuracy, **more)
    return open(results_doc.write([str(root / "tiny.toml")])).read()


def line(doc, start):
    return next(row for row in doc.splitlines() if row.startswith(start))


def test_holm_within_each_family_decides_the_verdict(root):  # noqa: F811
    text = FOUR.replace('reference = "le"', 'reference = "le"\nfamilies = [["ls", "cp"], ["ce"]]')
    accuracies = {
        "le": (0.9850, 0.9860, 0.9840),
        "ls": (0.9825, 0.9833, 0.9817),  # raw p about 0.03 ...
        "cp": (0.9825, 0.9833, 0.9817),  # ... twice: Holm makes both 0.06
        "ce": (0.9825, 0.9833, 0.9817),  # the same numbers, alone in its family
    }
    doc = report(root, text, accuracies)
    ls, ce = line(doc, "- vs ls:"), line(doc, "- vs ce:")
    raw = float(ls.split("; p = ")[1].split(",")[0])
    holm = float(ls.split("Holm p = ")[1].split(":")[0])
    assert raw < 0.05 < holm and holm == pytest.approx(2 * raw, abs=2e-3)
    assert "not shown (no significant difference)" in ls
    assert line(doc, "- vs cp:").split("; p = ")[1] == ls.split("; p = ")[1]
    assert f"Holm p = {raw:.3f}: significant." in ce  # a family of one: Holm changes nothing
    assert "*family 1 of 2: ls, cp (Holm over 2):*" in doc
    assert "| ls | 3 | 98.25 +- 0.08 | - | - | - | - | - | " + f"{raw:.3f} ({holm:.3f}) |" in doc


def test_one_seed_cells_get_no_spread_and_no_verdict(root):  # noqa: F811
    doc = report(root, FOUR, {"le": (0.985, 0.986, 0.984), "ce": (0.98,)})
    assert "| ce | 1 | 98.00 (one seed) |" in doc
    assert "- vs ce: +0.50 (1 seed(s) of ce, 3 of le): no test below 2 seeds each, no" in doc
    assert "- vs ls: no run yet" in doc


def test_paired_test_of_cells_sharing_the_warmup(root):  # noqa: F811
    text = FOUR.replace('reference = "le"', 'reference = "le"\npaired = ["ce"]')
    doc = report(root, text, {"le": (0.985, 0.980, 0.990), "ce": (0.984, 0.979, 0.988)})
    ce = line(doc, "- vs ce:")
    assert "Paired by seed (same warm-up): +0.13 " in ce and "le ahead in 3 of 3." in ce
    assert "Paired" not in line(doc, "- vs ls:")


def test_two_pairs_get_no_paired_test(root):  # noqa: F811
    text = FOUR.replace('reference = "le"', 'reference = "le"\npaired = ["ce"]')
    doc = report(root, text, {"le": (0.985, 0.980), "ce": (0.984, 0.979)})
    ce = line(doc, "- vs ce:")
    assert "Paired by seed (same warm-up): +0.10, 2 pairs: too few for a test, le ahead" in ce


@pytest.mark.parametrize(
    "ls,answer",
    [
        ((0.98502, 0.98498, 0.98501, 0.98499), "equivalent within +-0.1"),
        ((0.9800, 0.9801, 0.9799, 0.9800), "different"),
        ((0.9800, 0.9900, 0.9850, 0.9860), "too few seeds to tell"),
    ],
)
def test_equivalence_answers(root, ls, answer):  # noqa: F811
    text = FOUR.replace("seeds = [0, 1, 2]", "seeds = [0, 1, 2, 3]").replace(
        'reference = "le"', 'reference = "le"\nequivalence = { cells = ["ls"], margin = 0.1 }'
    )
    doc = report(root, text, {"le": (0.98500, 0.98501, 0.98499, 0.98500), "ls": ls})
    found = line(doc, "Is le more than label smoothing?")
    assert f"**{answer}**" in found, found


@pytest.mark.parametrize(
    "key,error",
    [
        ('families = [["ce", "kd"]]', r"families names \['kd'\], not cells"),
        ('families = [["ce"], ["ce"]]', r"\['ce'\] in more than one comparison family"),
        ('paired = ["le"]', r"paired names \['le'\], not cells other than the reference"),
        ('equivalence = { cells = ["ls"] }', "equivalence needs a margin > 0"),
    ],
)
def test_bad_statistics_keys_are_plan_errors(root, key, error):  # noqa: F811
    text = FOUR.replace('reference = "le"', f'reference = "le"\n{key}')
    with pytest.raises(lab_plans.PlanError, match=error):
        lab_plans.load_plan(write_plan(root, text))


def test_grid_choice_states_its_rule_and_ties(root):  # noqa: F811
    text = FOUR.replace('name = "ls"\n', 'name = "ls"\ngrid = { smoothing = [0.6, 0.8, 0.9] }\n')
    plan = lab_plans.load_plan(write_plan(root, text))
    cell = next(c for c in plan["cell"] if c["name"] == "ls")
    for run, accuracy in zip(lab_plans.grid_runs(plan, cell), (0.95, 0.96, 0.90)):
        fake_record(run, test_accuracy=0.9, validation_accuracy=accuracy)
    doc = open(results_doc.write([str(root / "tiny.toml")])).read()
    grid = line(doc, "`ls` grid")
    # 200 held out: se = sqrt(0.96 * 0.04 / 200) = 1.39 points; 0.6 (95.00) is within it
    assert "chosen smoothing=0.8 (the highest validation accuracy; ties go to the first" in grid
    assert (
        "The grid spans 6.00 points; one binomial standard error of the chosen accuracy is "
        "1.39 points, and 0.6 lies within it" in grid
    )
    assert "beyond the grid" not in grid  # 0.8 is inside the grid
    run = lab_plans.grid_runs(plan, cell)[2]  # 0.9 now the best: the grid's largest value
    shutil.rmtree(REPO / run.result_dir)
    fake_record(run, test_accuracy=0.9, validation_accuracy=0.99)
    doc = open(results_doc.write([str(root / "tiny.toml")])).read()
    assert line(doc, "`ls` grid").endswith(
        "The chosen value is the grid's largest: the best may lie beyond the grid."
    )


DIAGRAM = {"count": [1.0], "confidence": [0.9], "accuracy": [1.0], "edges": [0.0, 1.0]}


def test_calibration_columns_tests_and_calibration_json(root):  # noqa: F811
    nll = {"le": [0.040, 0.041, 0.039], "ce": [0.060, 0.062, 0.058]}
    ece = {"le": [0.004, 0.005, 0.003], "ce": [0.010, 0.011, 0.009]}
    extra = {c: {"test_nll": nll[c], "test_ece": ece[c]} for c in nll}
    doc = report(root, FOUR, {"le": (0.985, 0.986, 0.984), "ce": (0.98, 0.981, 0.979)}, **extra)
    assert "| le | 3 | 98.50 +- 0.10 | - | - | 0.040 +- 0.001 | 0.40 +- 0.10 |" in doc
    calibration = line(doc, "Calibration, le against each cell, test NLL")
    assert "vs ce -0.020 [" in calibration and ": different" in calibration
    assert line(doc, "Calibration, le against each cell, test ECE").count("vs ce -0.600") == 1

    # a run recorded without them gets those of its calibration.json (experiments calibrate)
    plan = lab_plans.load_plan(write_plan(root, FOUR))
    run = lab_plans.seed_runs(plan, plan["cell"][2])[0]  # ls, seed 0
    fake_record(run, test_accuracy=0.98)
    later = {"test_nll": 0.07, "test_ece": 0.02, "test_reliability": DIAGRAM}
    (REPO / run.result_dir / "calibration.json").write_text(json.dumps(later))
    record = lab_records.load_record(run)
    assert record["metrics"]["test_ece"] == 0.02 and record["calibrated_after_training"]
    doc = open(results_doc.write([str(root / "tiny.toml")])).read()
    assert "| ls | 1 | 98.00 (one seed) | - | - | 0.070 (one seed) | 2.00 (one seed) |" in doc


def test_diagnostics_table_beside_each_le_cell(root):  # noqa: F811
    final = {"q_kl_ls": 0.0123, "q_kl_ls_rest": 0.123, "q_top_other_agreement": 0.25}
    extra = {"le": {"final_train": [{**final, "q_confusion_spearman": r} for r in (0.5, None)]}}
    plan_text = FOUR.replace("seeds = [0, 1, 2]", "seeds = [0, 1]")
    doc = report(root, plan_text, {"le": (0.985, 0.986)}, **extra)
    assert "| le | 2 | 98.55 | 0.0123 | 0.123 | 25.0 | 0.50 | logged |" in doc
    # uniform rest targets (LE-Uniform): their agreement and rank correlation are undefined
    uniform = {
        "q_kl_ls": 1e-9,
        "q_kl_ls_rest": 1e-8,
        "q_top_other_agreement": 0.07,
        "q_confusion_spearman": -0.02,
    }
    __import__("shutil").rmtree(root / "results")
    doc = report(root, plan_text, {"le": (0.985, 0.986)}, le={"final_train": [uniform] * 2})
    assert "| le | 2 | 98.55 | 0.0000 | 0.000 | - | - | logged |" in doc


CLAIMS = (
    FOUR.replace('reference = "le"', 'reference = "le"\ntable = "Table 3"')
    .replace(
        'flagfile = "flags/table3/mlp1024_le.flags"',
        'flagfile = "flags/table3/mlp1024_le.flags"\npaper = 98.90',
    )
    .replace('name = "cp"\n', 'name = "cp"\npaper = 98.82\n')
    + """[[cell]]
name = "le_permut"
table = "Table 6"
flagfile = "flags/table6/mlp1024_le_permut.flags"
paper = 98.81
[[cell]]
name = "dropout"
flagfile = "flags/table3/mlp1024_dropout.flags"
paper = 98.73
"""
)


def test_claims_at_a_glance_give_each_verdict_of_its_section(root):  # noqa: F811
    """One row per claim with the same difference, interval and verdict as the plan's own
    lines: reproduced, the data against the paper's margin, one seed (no test), a cell
    without a paper number among ours, Table 6's cell under its own table; an empty plan
    with a table is named as not run yet, a plan without one makes no rows."""
    write_plan(root, CLAIMS.replace('table = "Table 3"', 'table = "Table 1"'), name="empty")
    write_plan(root, CLAIMS.replace('table = "Table 3"\n', ""), name="untabled")
    accuracies = {
        "le": (0.98500, 0.98502, 0.98498),
        "ce": (0.9750, 0.9760, 0.9740),  # LE +1.00: reproduced (paper +0.29)
        "cp": (0.98501, 0.98499, 0.98500),  # 0.00 [-0.0x, +0.0x]: excludes the paper's +0.08
        "ls": (0.9800, 0.9801, 0.9799),  # no paper number: ours, significant
        "le_permut": (0.9845,),  # one seed: no test
    }
    plan = lab_plans.load_plan(write_plan(root, CLAIMS))
    for cell in plan["cell"]:
        for run, accuracy in zip(lab_plans.seed_runs(plan, cell), accuracies.get(cell["name"], ())):
            fake_record(run, test_accuracy=accuracy)
    untabled = lab_plans.load_plan(str(root / "untabled.toml"))
    for cell in untabled["cell"]:
        fake_record(lab_plans.seed_runs(untabled, cell)[0], test_accuracy=0.98)
    doc = open(
        results_doc.write([str(root / f"{n}.toml") for n in ("tiny", "empty", "untabled")])
    ).read()
    glance = doc.split("## The claims at a glance")[1].split("\n## ")[0]
    ce = line(glance, "| Table 3: `le` above `ce` |")
    assert ce.startswith("| Table 3: `le` above `ce` | `tiny` (test) | 3 / 3 | +1.00 [")
    assert ce.endswith("| +0.29 | reproduced |")
    assert line(doc, "- vs ce: +1.00 [").split(" [")[1].split("]")[0] in ce
    cp = line(glance, "| Table 3: `le` above `cp` |")
    assert cp.endswith("| +0.08 | not shown; the data speak against the paper's margin |")
    permut = line(glance, "| Table 6: `le` above `le_permut` |")
    assert "| 3 / 1 | +0.05 (no interval) | +0.09 | no test yet" in permut
    ls = line(glance, "| `le` against `ls` |")
    assert ls.endswith("(95 %) | significant: `le` ahead |")
    assert glance.index("Table 3: `le` above `cp`") < glance.index("Table 6:")
    assert "Nothing to compare yet: Table 1 at the `test` protocol (`" in glance
    assert "untabled" not in glance and "`untabled` (test)" not in doc
    assert "`dropout` |" not in glance  # no run yet: counted below, no row
    assert (
        "- **Table 3**, `tiny` (test), 3 claims: reproduced 1 (`ce`); against the paper's "
        "margin 1 (`cp`); not run yet 1 (`dropout`). As a whole: **open (2 of 3 tested)**."
    ) in glance
    assert (
        "- **Table 6**, `tiny` (test), 1 claim: no test yet 1 (`le_permut`). As a whole: "
        "**open (0 of 1 tested)**." in glance
    )


def test_a_table_that_is_not_text_is_a_plan_error(root):  # noqa: F811
    with pytest.raises(lab_plans.PlanError, match=r'as text, e.g. table = "Table 3", got 3'):
        lab_plans.load_plan(write_plan(root, TINY.replace('reference = "le"', "table = 3")))


@pytest.mark.parametrize(
    "paper,interval,expected",
    [
        (0.30, (-0.20, 0.10), "against"),  # a smaller lead than the paper's, or none
        (0.05, (0.10, 0.76), "not shown"),  # a larger one: not against the claim
        (0.30, (-0.20, 0.40), "not shown"),
        (-0.50, (-0.20, 0.30), "against"),  # LE below the cell by less than the paper says
        (-0.50, (-1.00, -0.70), "not shown"),
    ],
)
def test_against_the_margin_only_on_its_near_side(paper, interval, expected):
    row = {"p": 0.2, "p_holm": 0.2, "paper": paper, "interval": interval, "diff": 0.0}
    assert verdicts.outcome(row) == expected


def test_a_claim_reproduced_by_less_than_the_papers_margin_says_so():
    row = {"p": 0.006, "p_holm": 0.035, "paper": 0.29, "interval": (0.05, 0.18), "diff": 0.11}
    assert verdicts.outcome(row) == "reproduced"  # the tally counts it reproduced
    assert verdicts._verdict(row, 0.05, "paper") == (
        "reproduced, by less than the paper's +0.29 (outside the interval)"
    )
    row["interval"] = (0.05, 0.40)  # the paper's margin inside: the plain verdict
    assert verdicts._verdict(row, 0.05, "paper") == "reproduced"
    row.update(paper=-0.50, interval=(-0.30, -0.05), diff=-0.2)  # below, by less
    assert verdicts.smaller_margin(row) == ", by less than the paper's -0.50 (outside the interval)"


def test_claims_below_the_cell_and_orders_with_cells_not_run(root):  # noqa: F811
    """A cell the paper puts above LE is claimed as "below"; a paper order with cells not
    run is not tested, one with fewer than 2 run is counted as not run."""
    order = 'paper_order = [["ce", "le", "dropout"], ["ls", "dropout"]]\n'
    text = CLAIMS.replace("paper = 98.82", "paper = 99.10").replace("[flags]", order + "[flags]")

    plan = lab_plans.load_plan(write_plan(root, text))
    accuracies = {"le": (0.985, 0.986, 0.984), "ce": (0.975, 0.976, 0.974), "cp": (0.990, 0.991)}
    for cell in plan["cell"]:
        for run, accuracy in zip(lab_plans.seed_runs(plan, cell), accuracies.get(cell["name"], ())):
            fake_record(run, test_accuracy=accuracy)
    glance = open(results_doc.write([str(root / "tiny.toml")])).read()
    assert "| Table 3: `le` below `cp` | `tiny` (test) | 3 / 2 |" in glance
    order = line(glance, "| Table 3: order `ce` < `le` < `dropout` |")
    assert "| 2 of 3 cells | ours `ce` < `le` |" in order
    assert order.endswith("| not tested (1 of its cells not run) |")
    assert (
        "5 claims: reproduced 2 (`ce`, `cp`); no test yet 1 (`ce < le < dropout`); not run yet 2 "
        "(`dropout`, `ls < dropout`). As a whole: **open (2 of 5 tested)**."
    ) in glance
