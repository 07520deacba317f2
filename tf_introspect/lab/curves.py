"""A plan's learning curves from its committed results: ``python -m tf_introspect.figures
--curves=PLAN``.

For every cell with finished seeds: the test accuracy after each epoch (the mean over the
seeds, the band from the lowest to the highest seed) and the training accuracy (the mean; the
running mean over the epoch's batches, augmented where the protocol augments), read from each
run's ``history.csv`` (the test set is the ``val_`` columns, or ``test_`` with a validation
split). It shows what the tables' final numbers hide: when a cell's accuracy is still rising
at the end (underfit), a dip and recovery (the paper protocol's CE with weight decay), the
warm-up switch to LE. PNG and JSON (the curves' numbers).
"""

import os

import numpy as np

from tf_introspect import atomic
from tf_introspect.lab import paths, plots
from tf_introspect.lab.plans import load_plan, seed_runs
from tf_introspect.lab.records import load_record
from tf_introspect.pipeline import outputs


def run_curve(history_csv):
    """``(test, train)`` accuracy in % per epoch (lists, epoch order) of one run's history."""
    rows = [row for _, row in sorted(outputs.history(history_csv).items())]
    column = "test_accuracy" if rows and "test_accuracy" in rows[0] else "val_accuracy"
    return (
        [100 * float(row[column]) for row in rows],
        [100 * float(row["accuracy"]) for row in rows],
    )


def plan_curves(path):
    """``{cell: {"runs", "test_mean", "test_low", "test_high", "train_mean"}}`` (per epoch,
    in %) of the plan's cells with finished seeds, in the plan's order; a cell whose seeds
    ran different epoch counts is cut to the shortest."""
    plan = load_plan(os.path.join(paths.REPO, path))
    found = {}
    for cell in plan["cell"]:
        curves = []
        for run in seed_runs(plan, cell):
            history = os.path.join(paths.REPO, run.result_dir, "history.csv")
            if load_record(run) is not None and os.path.exists(history):
                curve = run_curve(history)
                if curve[0]:  # a history without an epoch: none
                    curves.append(curve)
        if not curves:
            continue
        epochs = min(len(test) for test, _ in curves)
        test = np.array([t[:epochs] for t, _ in curves])
        train = np.array([t[:epochs] for _, t in curves])
        found[cell["name"]] = {
            "runs": len(curves),
            "test_mean": test.mean(0).round(4).tolist(),
            "test_low": test.min(0).round(4).tolist(),
            "test_high": test.max(0).round(4).tolist(),
            "train_mean": train.mean(0).round(4).tolist(),
        }
    return found


def settled(curve):
    """``curve`` after its first fifth of epochs (at least the first epoch; all of a curve of
    one epoch): where a dip late in training shows, apart from the climb at the start."""
    return curve[max(1, len(curve) // 5) :] or curve


def _lower_limit(curves):
    """A y-axis floor that shows the curves' :func:`settled` parts in detail."""
    return max(0.0, min(v for curve in curves for v in settled(curve)) - 0.5)


def curves_figure(path, out_folder):
    """Write ``curves_<plan>.png`` and ``.json`` into ``out_folder``; returns the PNG's path,
    or None (with a message) when no cell has a finished run yet."""
    found = plan_curves(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if not found:
        print(f"Learning curves of {name} skipped: no finished run yet.")
        return None
    import matplotlib

    colours = matplotlib.colormaps["tab20" if len(found) > 10 else "tab10"]
    figure = plots.new_figure(11.0, 4.0, layout="constrained")
    test_ax, train_ax = figure.subplots(1, 2)
    for i, (cell, c) in enumerate(found.items()):
        colour = colours(i)
        epochs = np.arange(1, len(c["test_mean"]) + 1)
        label = f"{cell} (n={c['runs']})"
        test_ax.plot(epochs, c["test_mean"], color=colour, linewidth=1.2, label=label)
        if c["runs"] > 1:
            test_ax.fill_between(epochs, c["test_low"], c["test_high"], color=colour, alpha=0.15)
        train_ax.plot(epochs, c["train_mean"], color=colour, linewidth=1.2, label=label)
    for ax, key, title in (
        (test_ax, "test_mean", "test accuracy after each epoch (band: lowest to highest seed)"),
        (train_ax, "train_mean", "training accuracy (running mean over the epoch's batches)"),
    ):
        ax.set_ylim(
            bottom=_lower_limit([c[key] for c in found.values()]),
            top=min(100.0, ax.get_ylim()[1]),
        )
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("%", fontsize=8)
        ax.set_title(title, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    train_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.suptitle(f"Learning curves ({name}): the mean over each cell's seeds", fontsize=9)
    target = os.path.join(out_folder, f"curves_{name}.png")
    plots.save(figure, target)
    atomic.write_json(os.path.splitext(target)[0] + ".json", found, indent=1, sort_keys=False)
    return target
