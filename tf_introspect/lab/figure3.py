"""Figure 3 of the paper from the committed results (``python -m tf_introspect.figures``).

**Figure 3** (paper 5.4.2): test accuracy of LE per explainer, mean +- std over seeds, from
the committed ``results/`` of a plan whose LE cells use different explainers (e.g.
``experiments/figure3_short.toml``); skipped with a message while there are none. Beside the
bars, as reference lines, the CE and label-smoothing means of the same protocol, model and
data (from any plan), so that a gap between explainers can be read against what LE gains over
CE at all; points with error bars rather than bars, because the axis does not start at 0 (its
range is printed on it).
"""

import os

import numpy as np

from tf_introspect import atomic
from tf_introspect.lab import paths, plots
from tf_introspect.lab.plans import list_plans, load_plan, seed_runs
from tf_introspect.lab.records import load_record

# Paper 5.4.2: explainers ordered by class-discriminativeness (= by LE's test accuracy).
EXPLAINER_ORDER = ("grad_input", "guided_bp", "grad", "grad_cam")


def explainer_accuracies(plans=None):
    """Groups of LE cells with different explainers, from the committed records of the
    plans (``experiments/*.toml`` by default) that still hold their settings:
    ``[{"plan", "model", "dataset", "label", "bars": [{"cell", "explainer", "n", "mean",
    "std", "accuracies"}]}]``: final test accuracies in %, ``std`` the sample standard
    deviation over seeds (ddof 1; None for one seed), one group per plan, model and data set
    with at least two explainers, bars in the paper's order of class-discriminativeness.
    ``label`` names the data set as the plan's ``data_labels`` does (e.g. "CIFAR-10 (JPEG)");
    ``references``: :func:`reference_means` of the same protocol, model and data."""
    groups, labels, protocols = {}, {}, {}
    for path in plans if plans is not None else list_plans():
        plan = load_plan(os.path.join(paths.REPO, path))
        protocols[plan["name"]] = plan.get("protocol")
        for cell in plan["cell"]:
            for run in seed_runs(plan, cell):
                settings = run.settings or {}
                if settings.get("method") != "le" or not settings.get("explainer"):
                    continue
                record = load_record(run)  # None if unfinished or stale
                if record is None:
                    continue
                key = (plan["name"], settings["model"], settings["dataset"])
                labels[key] = plan.get("data_labels", {}).get(
                    settings["dataset"], settings["dataset"]
                )
                bar = groups.setdefault(key, {}).setdefault(
                    cell["name"], {"explainer": settings["explainer"], "accuracies": []}
                )
                bar["accuracies"].append(100.0 * record["metrics"]["test_accuracy"])
    out = []
    for key, cells in groups.items():
        if len({c["explainer"] for c in cells.values()}) < 2:
            continue
        bars = [
            {
                "cell": name,
                "explainer": c["explainer"],
                "n": len(c["accuracies"]),
                "mean": float(np.mean(c["accuracies"])),
                "std": float(np.std(c["accuracies"], ddof=1)) if len(c["accuracies"]) > 1 else None,
                "accuracies": c["accuracies"],
            }
            for name, c in cells.items()
        ]
        bars.sort(
            key=lambda b: (
                EXPLAINER_ORDER.index(b["explainer"])
                if b["explainer"] in EXPLAINER_ORDER
                else len(EXPLAINER_ORDER),
                b["cell"],
            )
        )
        plan, model, dataset = key
        out.append(
            {
                "plan": plan,
                "model": model,
                "dataset": dataset,
                "label": labels[key],
                "bars": bars,
                "references": reference_means(protocols[plan], model, dataset, plans),
            }
        )
    return out


#: the reference lines of Figure 3: cell method -> label
REFERENCES = {"ce": "CE", "ls": "LS"}


def reference_means(protocol, model, dataset, plans=None):
    """``{"ce": {"mean", "n"}, "ls": ...}``: the final test accuracy (%) over every finished
    seed of the CE and label-smoothing cells of any plan of the same ``protocol`` on the same
    model and data set (the LS cell at its plan's chosen smoothing)."""
    found = {}
    for path in plans if plans is not None else list_plans():
        plan = load_plan(os.path.join(paths.REPO, path))
        if plan.get("protocol") != protocol:
            continue
        for cell in plan["cell"]:
            for run in seed_runs(plan, cell):
                settings = run.settings or {}
                method = settings.get("method")
                if method not in REFERENCES or (settings.get("model"), settings.get("dataset")) != (
                    model,
                    dataset,
                ):
                    continue
                record = load_record(run)
                if record is not None:
                    found.setdefault(method, {})[run.result_dir] = record["metrics"][
                        "test_accuracy"
                    ]
    return {
        method: {"mean": 100.0 * float(np.mean(list(v.values()))), "n": len(v)}
        for method, v in found.items()
    }


def _mean_std(bar):
    return (
        f"{bar['mean']:.2f} "
        + (f"+- {bar['std']:.2f}" if bar["std"] is not None else "(one seed, no std)")
        + f" (n={bar['n']})"
    )


def figure3(path, plans=None):
    """Figure 3 (PNG at ``path``, numbers at ``path`` with ``.json``); returns the groups of
    :func:`explainer_accuracies`, or None (with a message) when there are none. Error bars:
    the sample standard deviation over seeds; none for a bar of one seed."""
    groups = explainer_accuracies(plans)
    if not groups:
        print(
            "Figure 3 skipped: no finished results of a plan whose LE cells use different "
            "explainers yet (run e.g. python -m tf_introspect.experiments run "
            "experiments/figure3_short.toml)."
        )
        return None
    figure = plots.new_figure(4.2 * len(groups), 3.6, layout="constrained")
    for ax, group in zip(np.atleast_1d(figure.subplots(1, len(groups))), groups):
        bars = group["bars"]
        labels = [
            b["explainer"]
            if [c["explainer"] for c in bars].count(b["explainer"]) == 1
            else b["cell"]
            for b in bars
        ]
        means = [b["mean"] for b in bars]
        stds = [b["std"] or 0.0 for b in bars]
        ax.errorbar(
            range(len(bars)),
            means,
            yerr=stds,
            fmt="o",
            color="tab:blue",
            ecolor="black",
            capsize=4,
        )
        for (method, ref), style in zip(group.get("references", {}).items(), ("--", ":")):
            ax.axhline(ref["mean"], color="gray", linestyle=style, linewidth=1)
            ax.text(
                -0.45,
                ref["mean"],
                f"{REFERENCES[method]} {ref['mean']:.2f} (n={ref['n']})",
                ha="left",
                va="bottom",
                fontsize=7,
                color="dimgray",
            )
        ax.set_xticks(range(len(bars)), labels, fontsize=8)
        ax.set_xlim(-0.5, len(bars) - 0.5)
        levels = [m - s for m, s in zip(means, stds)] + [m + s for m, s in zip(means, stds)]
        levels += [r["mean"] for r in group.get("references", {}).values()]
        low, high = min(levels), max(levels)
        pad = max(0.1, 0.15 * (high - low))
        ax.set_ylim(low - pad, high + 2 * pad)
        for i, b in enumerate(bars):
            ax.text(
                i + 0.08,
                means[i],
                f"{b['mean']:.2f}\n(n={b['n']})",
                ha="left",
                va="center",
                fontsize=7,
            )
        bottom, top = ax.get_ylim()
        ax.set_xlabel(
            f"y axis: {bottom:.2f} to {top:.2f} % (a {top - bottom:.2f}-point window)", fontsize=7
        )
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(f"{group['model']} on {group['label']} ({group['plan']})", fontsize=8)
    figure.suptitle(
        "Figure 3: LE with each explainer; points: mean over n seeds, error bars: "
        "sample std (none for n = 1); lines: CE and LS of the same protocol",
        fontsize=9,
    )
    plots.save(figure, path)
    atomic.write_json(os.path.splitext(path)[0] + ".json", groups, indent=1, sort_keys=False)
    for group in groups:
        print(
            f"Figure 3 ({group['plan']}, {group['model']} on {group['label']}): "
            + ", ".join(f"{b['explainer']} {_mean_std(b)}" for b in group["bars"])
        )
    return groups
