"""The figures part of ``docs/RESULTS.md`` (:mod:`tf_introspect.lab.results_doc`): every PNG
made by ``python -m tf_introspect.figures`` with the numbers of its JSON beside it.

The figures drawn from committed records alone (Figure 3, the reliability diagrams, the
learning curves) that are in the folder are redrawn by every report (:func:`redraw`), so
that they never show fewer runs than the tables beside them; Figures 1-2 need a trained
model and change only when their command is run.
"""

import os

from tf_introspect.lab import paths
from tf_introspect.lab.curves import settled
from tf_introspect.lab.reliability import runs_text

FOLDER = os.path.join("docs", "figures")


def plan_figures():
    """``(prefix, draw)`` of the figures drawn per plan from its records alone
    (``<prefix>_<plan>.png``; ``python -m tf_introspect.figures --<prefix>=PLANS``)."""
    from tf_introspect.lab import curves, reliability

    return (("reliability", reliability.reliability_figure), ("curves", curves.curves_figure))


def redraw(plans, folder=FOLDER):
    """Redraw, from their plans' committed records, the figures of ``folder`` (under the
    results root) that are drawn from records alone: ``figure3.png`` (from every plan, as
    ``python -m tf_introspect.figures`` draws it) and the ``reliability_<plan>.png`` and
    ``curves_<plan>.png`` of each of ``plans`` (paths). Only figures already there are
    redrawn (``python -m tf_introspect.figures`` chooses which exist). Returns the PNGs
    written."""
    from tf_introspect.lab import figure3

    root = os.path.join(paths.ROOT, folder)
    written = []
    target = os.path.join(root, "figure3.png")
    if os.path.exists(target) and figure3.explainer_accuracies():
        figure3.figure3(target)  # from every plan, as drawn: also for a report of some plans
        written.append(target)
    for plan in plans:
        name = os.path.splitext(os.path.basename(plan))[0]
        for prefix, draw in plan_figures():
            if os.path.exists(os.path.join(root, f"{prefix}_{name}.png")):
                drawn = draw(plan, root)
                written += [drawn] if drawn else []
    return written


def figures_section(folder=FOLDER):
    """Links to the figures made by ``python -m tf_introspect.figures`` and, for Figure 2,
    the top class pairs beside the paper's."""
    import glob
    import json

    root = os.path.join(paths.ROOT, folder)
    images = sorted(glob.glob(os.path.join(root, "*.png")))
    if not images:
        return []
    lines = [
        "",
        "## Figures",
        "",
        "Made by `python -m tf_introspect.figures` (see README). Figures 1 and 2 come "
        "from the model named under each Figure 2 (a run of a plan, kept in `runs/`, not "
        "committed: `scripts/experiments.sh` makes them again once its run is trained); "
        "each Figure 2 has its matrix in a JSON file beside it. Figure 3, the "
        "reliability diagrams and the learning curves come from the committed records and "
        "are redrawn by every report.",
        "",
    ]
    for path in images:
        name = os.path.basename(path)
        lines.append(f"![{name}](figures/{name})")
        meta = path[:-4] + ".json"
        if name.startswith("figure2") and os.path.exists(meta):
            with open(meta) as f:
                info = json.load(f)
            top = ", ".join(
                f"({', '.join(p['classes'])}) {p['cosine']:.2f}" for p in info["top_pairs"]
            )
            ranks = ", ".join(
                f"({', '.join(p['classes'])}) rank {p['rank']}" for p in info["paper_pair_ranks"]
            )
            model = f" of `{info['model']}`" if info.get("model") else ""
            lines += [
                "",
                f"{info.get('label', info['dataset'])}, {info['explainer']}, "
                f"{info['samples']} test images{model}: "
                f"top pairs {top}; the paper's pairs: {ranks} (of "
                f"{len(info['matrix']) * (len(info['matrix']) - 1) // 2}).",
                "",
            ]
        if name.startswith("reliability_") and os.path.exists(meta):
            with open(meta) as f:
                cells = json.load(f)
            shown = [
                f"{c} ECE {100 * d['ece']:.2f} % ({runs_text(d)})"
                for c, d in cells.items()
                if d["runs"]
            ]
            without = [f"{c} ({d['finished']})" for c, d in cells.items() if not d["runs"]]
            lines += [
                "",
                f"Reliability diagram of `{name[len('reliability_') : -4]}` (test samples of "
                "every seed pooled): "
                + ", ".join(shown)
                + "."
                + (
                    " Not shown, no finished run with a diagram (runs made before diagrams were "
                    "recorded, whose models are gone): " + ", ".join(without) + "."
                    if without
                    else ""
                ),
                "",
            ]
        if name.startswith("curves_") and os.path.exists(meta):
            with open(meta) as f:
                cells = json.load(f)
            ends = ", ".join(
                f"{cell} {c['test_mean'][-1]:.2f} (n={c['runs']}, lowest after the first "
                f"fifth {min(settled(c['test_mean'])):.2f})"
                for cell, c in cells.items()
            )
            lines += [
                "",
                f"Learning curves of `{name[len('curves_') : -4]}`: test accuracy (%) after "
                "each epoch, the mean over a cell's seeds, with the band from its lowest to "
                "its highest seed, and the training accuracy. Last epoch: " + ends + ".",
                "",
            ]
        if name == "figure3.png" and os.path.exists(meta):
            with open(meta) as f:
                groups = json.load(f)
            lines += [
                "",
                "Figure 3: final test accuracy (%) per explainer, mean over n seeds, "
                "error bars the sample standard deviation (none for one seed):",
                "",
            ]
            lines += [
                f"- {g['model']} on {g.get('label', g['dataset'])} ({g['plan']}): "
                + ", ".join(
                    f"{b['explainer']} {b['mean']:.2f}"
                    + (f" +- {b['std']:.2f}" if b.get("std") is not None else "")
                    + f" (n={b['n']})"
                    for b in g["bars"]
                )
                for g in groups
            ]
            lines.append("")
    return lines
