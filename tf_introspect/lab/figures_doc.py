"""The figures part of ``docs/RESULTS.md`` (:mod:`tf_introspect.lab.results_doc`): every PNG
made by ``python -m tf_introspect.figures`` with the numbers of its JSON beside it."""

import os

from tf_introspect.lab import paths


def figures_section(folder="docs/figures"):
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
        "Made by `python -m tf_introspect.figures` (see README) "
        "from the model named under each Figure 2 (a run of a plan, kept in `runs/`, not "
        "committed: `scripts/experiments.sh` makes them again once its run is trained); "
        "each Figure 2 has its matrix in a JSON file beside it.",
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
            lines += [
                "",
                f"Reliability diagram of `{name[len('reliability_') : -4]}` (test samples of "
                "every seed pooled): "
                + ", ".join(
                    f"{cell} ECE {100 * d['ece']:.2f} % ({d['runs']} run(s))"
                    for cell, d in cells.items()
                )
                + ".",
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
