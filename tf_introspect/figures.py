"""The paper's Figures 1-3 from a trained classifier: ``python -m tf_introspect.figures``.

* **Figure 1** (paper 5.1): a few test images, each with its explanation for every class and,
  under each map, that class's Eq. 6 share ``q_k`` (``alpha`` for the ground truth). MNIST:
  Grad and Grad*Input; CIFAR-10: Grad-CAM resized (bilinear) to the image and overlaid on it.
* **Figure 2** (paper 5.4.1): the class-by-class cosine similarity of explanations
  (:func:`tf_introspect.targets.class_similarity`) averaged over test images, its five most
  similar class pairs, and which of the paper's pairs ((truck, automobile), (dog, cat) on
  CIFAR-10; (0, 6), (1, 7), (3, 5), (4, 9) on MNIST) are among them; also as JSON. The
  diagonal is 1 except where a class's map is all zero (Grad-CAM's ReLU): cosine 0 there.
* **Figure 3** (paper 5.4.2): test accuracy of LE per explainer, mean +- std over seeds, from
  the committed ``results/`` of a plan whose LE cells use different explainers (e.g.
  ``experiments/figure3_short.toml``); skipped with a message while there are none.

Without ``--model`` a short CE model is trained first (1 epoch: the MLP on MNIST, ResNet-8
on CIFAR-10) with :func:`tf_introspect.main.run`, so the figures show the machinery, not the
paper's numbers. PNGs (and JSON) go to ``--out`` (default ``docs/figures``).
"""

import argparse
import json
import os
import sys

import numpy as np

from tf_introspect import atomic

# Paper 5.4.1: the class pairs its Figure 2 shows as most similar.
PAPER_PAIRS = {"mnist": (("0", "6"), ("1", "7"), ("3", "5"), ("4", "9")),
               "cifar10": (("truck", "automobile"), ("dog", "cat"))}
# Paper 5.4.2: explainers ordered by class-discriminativeness (= by LE's test accuracy).
EXPLAINER_ORDER = ("grad_input", "guided_bp", "grad", "grad_cam")
DEFAULT_MODELS = {"mnist": "mlp1024", "fashion_mnist": "mlp1024", "cifar10": "resnet8",
                  "cifar100": "resnet8"}
DEFAULT_SIMILARITY_SAMPLES = {"cifar10": 2000, "cifar100": 2000}   # others: the whole test set


# ------------------------------------------------------------------------------------------
# Shared by Figure 1 and the explain command
# ------------------------------------------------------------------------------------------

def default_explainers(model):
    """``("grad_cam",)`` for a model with a 4-D (convolutional) layer, else Grad and
    Grad*Input (the paper's Figure 1: Grad-CAM on CIFAR-10, Grad*Input on MNIST)."""
    from tf_introspect.explainers.grad_cam import _four_d_layers
    return ("grad_cam",) if _four_d_layers(model) else ("grad", "grad_input")


def to_display(x, dataset):
    """Normalised inputs ``[n, h, w, c]`` back to pixels in ``[0, 1]`` (``data.info`` mean/std)."""
    from tf_introspect import data
    meta = data.info(dataset)
    return np.clip(np.asarray(x) * np.asarray(meta.std) + np.asarray(meta.mean), 0.0, 1.0)


def display_maps(explanations, size):
    """``[n, c, ...]`` explanations as ``[n, c, h, w]`` maps in ``[0, 1]`` of the image's
    ``size``: :func:`tf_introspect.callbacks._as_images`, then a bilinear resize of maps of
    another resolution (Grad-CAM's feature-map grid)."""
    import tensorflow as tf

    from tf_introspect.callbacks import _as_images
    maps = _as_images(tf.convert_to_tensor(explanations))
    n, c, h, w = maps.shape
    if (h, w) != tuple(size):
        maps = tf.image.resize(tf.reshape(maps, [n * c, h, w, 1]), size, method="bilinear")
        maps = tf.reshape(maps, [n, c, *size])
    return maps.numpy()


def _new_figure(width, height, layout=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return atomic.save_figure(figure, path, bbox_inches="tight")


def _show_image(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)


def plot_rows(path, images, maps, class_names, row_labels, captions, *, overlay=False,
              highlight=None, titles_every_row=False, title=None):
    """One row per image: the image (``row_labels`` under it), then its ``c`` maps, class
    names as titles, ``captions[i][k]`` under map ``k``; ``highlight[i]``'s map is framed.
    ``overlay``: maps drawn semi-transparent over the image (Grad-CAM)."""
    n, c = maps.shape[:2]
    figure = _new_figure(1.15 * (c + 1), 1.45 * n + 0.4)
    axes = figure.subplots(n, c + 1, squeeze=False)
    for i in range(n):
        _show_image(axes[i, 0], images[i])
        axes[i, 0].set_xlabel(row_labels[i], fontsize=7)
        for k in range(c):
            ax = axes[i, k + 1]
            if overlay:
                _show_image(ax, images[i])
                ax.imshow(maps[i, k], cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
            else:
                ax.imshow(maps[i, k], cmap="hot", vmin=0.0, vmax=1.0)
            ax.set_xlabel(captions[i][k], fontsize=7,
                          fontweight="bold" if highlight is not None and k == highlight[i]
                          else "normal")
            if highlight is not None and k == highlight[i]:
                for spine in ax.spines.values():
                    spine.set(color="tab:green", linewidth=2.5)
            if i == 0 or titles_every_row:
                ax.set_title(class_names[k], fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path)


# ------------------------------------------------------------------------------------------
# Figure 1
# ------------------------------------------------------------------------------------------

def figure1(model, x, y, dataset, explainer, path, alpha=0.9, layer=None, label=None):
    """Figure 1 for inputs ``x`` (normalised) with labels ``y``; returns the Eq. 6 targets
    ``q`` ``[n, c]`` written under the maps. ``label``: the data set's name in the title
    (default ``dataset``; e.g. "CIFAR-10 (JPEG)")."""
    from tf_introspect import data, explainers, targets
    e = explainers.explain(model, x, explainer, layer=layer)
    q = targets.explanation_targets(e, y, alpha=alpha).numpy()
    names = data.info(dataset).class_names
    images = to_display(x, dataset)
    y = np.asarray(y).astype(int)
    captions = [[f"q={q[i, k]:.3f}" for k in range(q.shape[1])] for i in range(len(y))]
    plot_rows(path, images, display_maps(e, images.shape[1:3]), names,
              [f"label: {names[t]}" for t in y], captions, overlay=explainer == "grad_cam",
              highlight=y, title=f"Figure 1 ({label or dataset}): {explainer} explanations for "
                                 "every class, Eq. 6 shares q under each (ground truth framed, "
                                 f"q = alpha = {alpha})")
    return q


# ------------------------------------------------------------------------------------------
# Figure 2
# ------------------------------------------------------------------------------------------

def class_similarity_matrix(model, batches, explainer, layer=None):
    """Mean over all samples of ``targets.class_similarity`` of their explanations,
    ``[c, c]``; ``batches`` yields ``x`` or ``(x, y)`` (labels are not used)."""
    from tf_introspect import explainers, targets
    total, count = 0.0, 0
    for batch in batches:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        similarity = targets.class_similarity(explainers.explain(model, x, explainer, layer))
        total += np.sum(similarity.numpy(), axis=0, dtype=np.float64)
        count += similarity.shape[0]
    if not count:
        raise ValueError("no samples to average the class similarity over.")
    return total / count


def top_pairs(matrix, class_names, k=5):
    """The ``k`` most similar off-diagonal class pairs: ``[(name_a, name_b, value)]``,
    highest first (``a`` before ``b`` in class order)."""
    rows, cols = np.triu_indices(len(matrix), 1)
    order = np.argsort(-matrix[rows, cols], kind="stable")
    return [(class_names[rows[i]], class_names[cols[i]], float(matrix[rows[i], cols[i]]))
            for i in order[:k]]


def paper_pair_ranks(matrix, class_names, dataset):
    """``[{"classes": [a, b], "rank": r}]`` of the paper's pairs among all off-diagonal pairs
    (rank 1 = most similar)."""
    ranking = top_pairs(matrix, class_names, k=len(matrix) ** 2)
    rank = {frozenset(p[:2]): i + 1 for i, p in enumerate(ranking)}
    return [{"classes": [a, b], "rank": rank[frozenset((a, b))]}
            for a, b in PAPER_PAIRS.get(dataset, ())]


def plot_similarity(path, matrix, class_names, title):
    c = len(matrix)
    figure = _new_figure(0.55 * c + 2.5, 0.55 * c + 1.5)
    ax = figure.subplots()
    off = matrix[~np.eye(c, dtype=bool)]   # colours span the off-diagonal values
    image = ax.imshow(matrix, cmap="viridis", vmin=off.min(), vmax=off.max())
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                    label="mean cosine similarity")
    ax.set_xticks(range(c), class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(c), class_names, fontsize=7)
    if c <= 20:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] < np.median(off) else "black")
    ax.set_title(title, fontsize=8)
    return _save(figure, path)


def figure2(model, batches, dataset, explainer, path, layer=None, k=5, label=None,
            source=None):
    """Figure 2: the matrix (returned), its PNG at ``path`` and ``path`` with ``.json`` (the
    matrix, top ``k`` pairs, the paper's pairs and their ranks); prints the comparison.
    ``label``: the data set's name shown (default ``dataset``); ``source``: the model file,
    recorded in the JSON."""
    from tf_introspect import data
    names = data.info(dataset).class_names
    matrix = class_similarity_matrix(model, batches, explainer, layer)
    samples = getattr(batches, "samples", None)
    plot_similarity(path, matrix, names, f"Figure 2: mean cosine similarity of {explainer} "
                    f"explanations, {label or dataset} test set" + (f" ({samples} images)"
                                                                    if samples else ""))
    pairs = top_pairs(matrix, names, k)
    top = {frozenset(p[:2]) for p in pairs}
    summary = {"dataset": dataset, "label": label or dataset, "explainer": explainer,
               "samples": samples, "model": source,
               "class_names": list(names), "matrix": matrix.round(6).tolist(),
               "top_pairs": [{"classes": [a, b], "cosine": round(v, 6)} for a, b, v in pairs],
               "paper_pairs": [list(p) for p in PAPER_PAIRS.get(dataset, ())],
               "paper_pairs_in_top": [list(p) for p in PAPER_PAIRS.get(dataset, ())
                                      if frozenset(p) in top],
               "paper_pair_ranks": paper_pair_ranks(matrix, names, dataset)}
    atomic.write_json(os.path.splitext(path)[0] + ".json", summary, indent=1, sort_keys=False)
    _print_pairs(summary, k)
    return matrix


def _print_pairs(summary, k):
    def pair(p):
        return f"({p[0]}, {p[1]})"
    print(f"Figure 2 ({summary['label']}, {summary['explainer']}): top {k} most similar "
          "class pairs:")
    for p in summary["top_pairs"]:
        print(f"  {pair(p['classes'])}  {p['cosine']:.4f}")
    paper, found = summary["paper_pairs"], summary["paper_pairs_in_top"]
    if not paper:
        print(f"  (the paper names no similar pairs for {summary['dataset']})")
        return
    c = len(summary["class_names"])
    print(f"  paper's pairs {', '.join(map(pair, paper))}: {len(found)} of {len(paper)} among "
          f"our top {k}" + (f" ({', '.join(map(pair, found))})" if found else "") +
          f"; ranks among all {c * (c - 1) // 2} pairs: " +
          ", ".join(f"{pair(r['classes'])} {r['rank']}" for r in summary["paper_pair_ranks"]))


class SampleBatches:
    """The first ``limit`` test images (all when None) of ``dataset``, normalised, in batches;
    iterable more than once. ``samples``: how many."""

    def __init__(self, dataset, limit=None, data_dir=None, batch_size=250):
        from tf_introspect import data
        self.ds = data.make_dataset(dataset, "test", batch_size, data_dir=data_dir, limit=limit)
        self.samples = int(sum(int(y.shape[0]) for _, y in self.ds))

    def __iter__(self):
        return iter(self.ds)


# ------------------------------------------------------------------------------------------
# Figure 3
# ------------------------------------------------------------------------------------------

def explainer_accuracies(plans=None):
    """Groups of LE cells with different explainers, from the committed records of the
    plans (``experiments/*.toml`` by default) that still hold their settings:
    ``[{"plan", "model", "dataset", "label", "bars": [{"cell", "explainer", "n", "mean",
    "std", "accuracies"}]}]``: final test accuracies in %, ``std`` the sample standard
    deviation over seeds (ddof 1; None for one seed), one group per plan, model and data set
    with at least two explainers, bars in the paper's order of class-discriminativeness.
    ``label`` names the data set as the plan's ``data_labels`` does (e.g. "CIFAR-10 (JPEG)")."""
    from tf_introspect import experiments
    groups, labels = {}, {}
    for path in plans if plans is not None else experiments.list_plans():
        plan = experiments.load_plan(os.path.join(experiments.REPO, path))
        for cell in plan["cell"]:
            for run in experiments.seed_runs(plan, cell):
                settings = run.settings or {}
                if settings.get("method") != "le" or not settings.get("explainer"):
                    continue
                record = experiments.load_record(run)   # None if unfinished or stale
                if record is None:
                    continue
                key = (plan["name"], settings["model"], settings["dataset"])
                labels[key] = plan.get("data_labels", {}).get(settings["dataset"],
                                                              settings["dataset"])
                bar = groups.setdefault(key, {}).setdefault(
                    cell["name"], {"explainer": settings["explainer"], "accuracies": []})
                bar["accuracies"].append(100.0 * record["metrics"]["test_accuracy"])
    out = []
    for key, cells in groups.items():
        if len({c["explainer"] for c in cells.values()}) < 2:
            continue
        bars = [{"cell": name, "explainer": c["explainer"], "n": len(c["accuracies"]),
                 "mean": float(np.mean(c["accuracies"])),
                 "std": float(np.std(c["accuracies"], ddof=1)) if len(c["accuracies"]) > 1
                 else None, "accuracies": c["accuracies"]} for name, c in cells.items()]
        bars.sort(key=lambda b: (EXPLAINER_ORDER.index(b["explainer"])
                                 if b["explainer"] in EXPLAINER_ORDER else len(EXPLAINER_ORDER),
                                 b["cell"]))
        plan, model, dataset = key
        out.append({"plan": plan, "model": model, "dataset": dataset, "label": labels[key],
                    "bars": bars})
    return out


def _mean_std(bar):
    return f"{bar['mean']:.2f} " + (f"+- {bar['std']:.2f}" if bar["std"] is not None
                                     else "(one seed, no std)") + f" (n={bar['n']})"


def figure3(path, plans=None):
    """Figure 3 (PNG at ``path``, numbers at ``path`` with ``.json``); returns the groups of
    :func:`explainer_accuracies`, or None (with a message) when there are none. Error bars:
    the sample standard deviation over seeds; none for a bar of one seed."""
    groups = explainer_accuracies(plans)
    if not groups:
        print("Figure 3 skipped: no finished results of a plan whose LE cells use different "
              "explainers yet (run e.g. python -m tf_introspect.experiments run "
              "experiments/figure3_short.toml).")
        return None
    figure = _new_figure(4.2 * len(groups), 3.6, layout="constrained")
    for ax, group in zip(np.atleast_1d(figure.subplots(1, len(groups))), groups):
        bars = group["bars"]
        labels = [b["explainer"] if [c["explainer"] for c in bars].count(b["explainer"]) == 1
                  else b["cell"] for b in bars]
        means = [b["mean"] for b in bars]
        stds = [b["std"] or 0.0 for b in bars]
        ax.bar(range(len(bars)), means, color="tab:blue")
        spread = [i for i, b in enumerate(bars) if b["std"] is not None]
        if spread:
            ax.errorbar(spread, [means[i] for i in spread], yerr=[stds[i] for i in spread],
                        fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(range(len(bars)), labels, fontsize=8)
        low = min(m - s for m, s in zip(means, stds))
        high = max(m + s for m, s in zip(means, stds))
        ax.set_ylim(low - max(0.5, 0.3 * (high - low)), high + max(0.3, 0.2 * (high - low)))
        for i, b in enumerate(bars):
            ax.text(i, means[i] + stds[i], f"{b['mean']:.2f}\n(n={b['n']})", ha="center",
                    va="bottom", fontsize=7)
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(f"{group['model']} on {group['label']} ({group['plan']})", fontsize=8)
    figure.suptitle("Figure 3: LE with each explainer; bars: mean over n seeds, error bars: "
                    "sample std (none for n = 1)", fontsize=9)
    _save(figure, path)
    atomic.write_json(os.path.splitext(path)[0] + ".json", groups, indent=1, sort_keys=False)
    for group in groups:
        print(f"Figure 3 ({group['plan']}, {group['model']} on {group['label']}): " + ", ".join(
            f"{b['explainer']} {_mean_std(b)}" for b in group["bars"]))
    return groups


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

def train_short_model(dataset, data_dir=None, workdir=None):
    """A CE model trained for 1 epoch with :func:`tf_introspect.main.run` (reused when the
    work folder already holds it); returns the path of its ``model.keras``."""
    from tf_introspect import flags as ti_flags
    from tf_introspect import main as ti_main
    model = DEFAULT_MODELS[dataset]
    workdir = workdir or os.path.join("runs", "figures", f"{dataset}_{model}_ce")
    lr = "0.05" if model.startswith("mlp") else "0.1"
    args = ["--method=ce", f"--model={model}", f"--dataset={dataset}", "--epochs=1",
            "--batch_size=128", f"--lr={lr}", "--lr_boundaries=", f"--workdir={workdir}",
            "--verbose=2", *([f"--data_dir={data_dir}"] if data_dir else [])]
    print(f"No --model given: training a short CE model ({model}, 1 epoch on {dataset}, "
          f"batch 128, lr {lr}) with tf_introspect.main.run into {workdir}; the figures show "
          "the machinery, not the paper's results (pass --model=PATH.keras for a real model).")
    metrics = ti_main.run(ti_flags.config_from_args(args))
    print(f"short model: test accuracy {metrics['test_accuracy']:.4f}")
    return metrics["model_path"]


def load_classifier(path, dataset=None):
    """A saved classifier (``.keras``); checks it against ``dataset`` when given."""
    import keras

    from tf_introspect import data
    if not os.path.isfile(path):
        raise ValueError(f"no model file {path!r}: give --model=PATH.keras, a classifier "
                         "saved by python -m tf_introspect.main (its <workdir>/model.keras).")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:   # any failure to load means the file is not a usable classifier
        raise ValueError(f"cannot load model {path!r} ({type(e).__name__}: {e}).") from None
    if dataset is not None:
        meta = data.info(dataset)
        if model.output_shape[-1] != meta.num_classes:
            raise ValueError(f"model {path!r} has {model.output_shape[-1]} outputs but "
                             f"{dataset} has {meta.num_classes} classes.")
        if tuple(model.input_shape[1:]) != meta.input_shape:
            raise ValueError(f"model {path!r} takes inputs {tuple(model.input_shape[1:])}, "
                             f"{dataset} images are {meta.input_shape}.")
    return model


def _parser():
    from tf_introspect import data, explainers
    p = argparse.ArgumentParser(prog="python -m tf_introspect.figures",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="trained classifier (.keras); default: train a short one")
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS)
    p.add_argument("--out", default=os.path.join("docs", "figures"), help="output folder")
    p.add_argument("--data_dir", help="data folder (default: $TF_INTROSPECT_DATA, ...)")
    p.add_argument("--data_label", help="the data set's name in titles and captions (default: "
                   "--dataset; e.g. 'CIFAR-10 (JPEG)' for a re-encoded copy)")
    p.add_argument("--plans", type=lambda s: [p for p in s.split(",") if p],
                   help="Figure 3 from these plans' "
                   "committed results (comma-separated; default: every experiments/*.toml)")
    p.add_argument("--explainers", type=lambda s: s.split(","),
                   help="comma-separated, from " + ", ".join(explainers.list_explainers()) +
                   "; default grad_cam for conv nets, grad,grad_input otherwise")
    p.add_argument("--layer", help="Grad-CAM layer (default: the last 4-D one)")
    p.add_argument("--alpha", type=float, default=0.9, help="Eq. 6 ground-truth mass")
    p.add_argument("--samples", type=int, default=4, help="Figure 1: test images shown")
    p.add_argument("--similarity_samples", type=int, default=None,
                   help="Figure 2: first N test images (0: all; default all, 2000 on CIFAR)")
    p.add_argument("--workdir", help="where the short model is trained without --model")
    p.add_argument("--figures", type=_figure_numbers, default=(1, 2, 3),
                   help="which figures, e.g. 3 (from results only: no model needed) or 1,2; "
                   "default 1,2,3")
    return p


def _figure_numbers(text):
    numbers = tuple(sorted({int(n) for n in text.split(",") if n.strip().isdigit()}))
    if not numbers or set(numbers) - {1, 2, 3} or len(numbers) != len(
            [n for n in text.split(",") if n.strip()]):
        raise argparse.ArgumentTypeError(f"{text!r}: give figure numbers from 1, 2, 3, "
                                         "comma-separated (e.g. 3 or 1,2)")
    return numbers


def figures_1_2(args):
    """Figures 1 and/or 2 (``args.figures``) of ``args.model`` (or a short model trained
    first), one of each per explainer."""
    from tf_introspect import data
    path = args.model or train_short_model(args.dataset, args.data_dir, args.workdir)
    model = load_classifier(path, args.dataset)
    limit = args.similarity_samples
    limit = DEFAULT_SIMILARITY_SAMPLES.get(args.dataset) if limit is None else limit or None
    x, y = next(iter(data.make_dataset(args.dataset, "test", args.samples,
                                       data_dir=args.data_dir, limit=args.samples)))
    batches = SampleBatches(args.dataset, limit, args.data_dir) if 2 in args.figures else None
    for name in args.explainers or default_explainers(model):
        layer = args.layer if name == "grad_cam" else None
        stem = os.path.join(args.out, f"{{}}_{args.dataset}_{name}.png")
        written = []
        if 1 in args.figures:
            figure1(model, x, y, args.dataset, name, stem.format("figure1"), args.alpha, layer,
                    label=args.data_label)
            written.append(stem.format("figure1"))
        if 2 in args.figures:
            figure2(model, batches, args.dataset, name, stem.format("figure2"), layer,
                    label=args.data_label, source=path)
            written.append(f"{stem.format('figure2')} and its .json")
        print("wrote " + ", ".join(written))


def main(argv=None):
    from tf_introspect import data, explainers, targets
    args = _parser().parse_args(argv)
    try:
        targets.check_alpha(args.alpha)
        for name in args.explainers or ():
            if name not in explainers.EXPLAINERS:
                raise ValueError(f"unknown explainer {name!r}; valid choices: "
                                 f"{', '.join(explainers.list_explainers())}.")
        if {1, 2} & set(args.figures):
            figures_1_2(args)
        if 3 in args.figures and figure3(os.path.join(args.out, "figure3.png"), args.plans):
            print("wrote", os.path.join(args.out, "figure3.png"), "and its .json")
    except (ValueError, data.DataNotFoundError) as e:   # PlanError is a ValueError
        raise SystemExit(f"error: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
