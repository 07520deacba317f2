"""The reliability diagram of a plan's soft-target cells (issue 20) from its committed results:
``python -m tf_introspect.figures --reliability=PLAN``.

For CE, label smoothing, LE (the plan's reference) and LE-Uniform, as far as the plan has
them: the test samples of every finished seed pooled into the 15 equal-width confidence bins
that the expected calibration error uses (:mod:`tf_introspect.calibration`), each bin's
accuracy against its mean confidence (on the diagonal: calibrated; below it: overconfident;
above it: underconfident), with the cell's ECE over the pooled samples. Read from each run's
``test_reliability`` (``metrics.json``, or ``calibration.json`` for runs calibrated after
training); PNG and JSON.
"""

import os

import numpy as np

from tf_introspect import atomic
from tf_introspect.lab import paths, plots
from tf_introspect.lab.plans import load_plan, seed_runs
from tf_introspect.lab.records import load_record

#: the cells shown, by method (LE is the plan's reference cell)
METHODS = ("ce", "ls", "le_uniform")


def pooled(diagrams):
    """Several runs' reliability diagrams (``{"count", "confidence", "accuracy", "edges"}``,
    per-bin means, None for empty bins) pooled: counts summed, means weighted by counts; with
    the ECE of the pooled samples."""
    count = np.sum([np.asarray(d["count"], np.float64) for d in diagrams], axis=0)
    sums = {}
    for key in ("confidence", "accuracy"):
        sums[key] = np.sum(
            [
                np.nan_to_num(np.asarray(d[key], np.float64)) * np.asarray(d["count"], np.float64)
                for d in diagrams
            ],
            axis=0,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, sums["confidence"] / count, np.nan)
        accuracy = np.where(count > 0, sums["accuracy"] / count, np.nan)
    ece = float(np.abs(sums["accuracy"] - sums["confidence"]).sum() / count.sum())
    return {
        "count": count.tolist(),
        "confidence": [None if np.isnan(v) else float(v) for v in confidence],
        "accuracy": [None if np.isnan(v) else float(v) for v in accuracy],
        "edges": list(diagrams[0]["edges"]),
        "ece": ece,
        "runs": len(diagrams),
    }


def runs_text(diagram):
    """``"2 runs"``, or ``"1 of 2 finished runs"`` where some finished runs have none."""
    runs, finished = diagram["runs"], diagram.get("finished", diagram["runs"])
    return (
        f"{runs} run{'s' * (runs != 1)}"
        if runs == finished
        else f"{runs} of {finished} finished runs"
    )


def plan_diagrams(path):
    """``{cell: pooled diagram}`` of the plan's LE (reference) cell and its first CE, LS and
    LE-Uniform cells, those with finished runs, each with ``finished`` (its finished runs);
    a cell none of whose runs has a reliability diagram (made before they were recorded) is
    ``{"runs": 0, "finished": n}``."""
    plan = load_plan(os.path.join(paths.REPO, path))
    out, shown = {}, set()
    for cell in plan["cell"]:
        diagrams, finished = [], 0
        runs = seed_runs(plan, cell)
        method = next((r.settings["method"] for r in runs if r.settings), None)
        if cell["name"] != plan.get("reference") and (method not in METHODS or method in shown):
            continue  # one cell a method: the first (CE, not a CE variant after it)
        shown.add(method)
        for run in runs:
            record = load_record(run)
            finished += record is not None
            if record and record["metrics"].get("test_reliability"):
                diagrams.append(record["metrics"]["test_reliability"])
        if finished:
            out[cell["name"]] = pooled(diagrams) if diagrams else {"runs": 0}
            out[cell["name"]]["finished"] = finished
    return out


def reliability_figure(path, out_folder):
    """Write ``reliability_<plan>.png`` and ``.json`` into ``out_folder``; returns the PNG's
    path, or None (with a message) when no cell has a diagram yet."""
    found = plan_diagrams(path)
    diagrams = {cell: d for cell, d in found.items() if d["runs"]}
    name = os.path.splitext(os.path.basename(path))[0]
    if not diagrams:
        print(f"Reliability diagram of {name} skipped: no finished run with one yet.")
        return None
    figure = plots.new_figure(3.0 * len(diagrams), 3.2, layout="constrained")
    for ax, (cell, d) in zip(np.atleast_1d(figure.subplots(1, len(diagrams))), diagrams.items()):
        edges = np.asarray(d["edges"])
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        accuracy = np.array([np.nan if v is None else v for v in d["accuracy"]])
        confidence = np.array([np.nan if v is None else v for v in d["confidence"]])
        seen = ~np.isnan(accuracy)
        ax.bar(centres[seen], accuracy[seen], width=width, color="tab:blue", edgecolor="white")
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
        ax.plot(confidence[seen], accuracy[seen], "o", color="black", markersize=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_title(f"{cell}: ECE {100 * d['ece']:.2f} % ({runs_text(d)})", fontsize=8)
    figure.axes[0].set_ylabel("accuracy")
    figure.suptitle(
        f"Reliability ({name}): test samples of every seed in 15 confidence bins; "
        "bars: accuracy, dots: mean confidence, dashed: calibrated",
        fontsize=8,
    )
    target = os.path.join(out_folder, f"reliability_{name}.png")
    plots.save(figure, target)
    atomic.write_json(os.path.splitext(target)[0] + ".json", found, indent=1, sort_keys=False)
    return target
