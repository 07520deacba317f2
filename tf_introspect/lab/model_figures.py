"""Figures 1 and 2 of the paper from a trained classifier (``python -m tf_introspect.figures``).

* **Figure 1** (paper 5.1): a few test images, each with its explanation for every class and,
  under each map, its cosine similarity to the ground truth's explanation (what the paper
  shows) and that class's Eq. 6 share ``q_k`` (``alpha`` for the ground truth): how little a
  cosine moves q. MNIST:
  Grad and Grad*Input; CIFAR-10: Grad-CAM resized (bilinear) to the image and overlaid on it.
* **Figure 2** (paper 5.4.1): the class-by-class cosine similarity of explanations
  (:func:`tf_introspect.targets.class_similarity`) averaged over test images, its five most
  similar class pairs, and which of the paper's pairs ((truck, automobile), (dog, cat) on
  CIFAR-10; (0, 6), (1, 7), (3, 5), (4, 9) on MNIST) are among them; also as JSON. The
  diagonal is 1 except where a class's map is all zero (Grad-CAM's ReLU): cosine 0 there.

Also the classifier (a saved ``.keras`` file, checked against the data set) and the test
images they are drawn from.
"""

import os

import numpy as np

from tf_introspect import atomic
from tf_introspect.lab import plots

# Paper 5.4.1: the class pairs its Figure 2 shows as most similar.
PAPER_PAIRS = {
    "mnist": (("0", "6"), ("1", "7"), ("3", "5"), ("4", "9")),
    "cifar10": (("truck", "automobile"), ("dog", "cat")),
}


def figure1(model, x, y, dataset, explainer, path, alpha=0.9, layer=None, label=None):
    """Figure 1 for inputs ``x`` (normalised) with labels ``y``; returns the Eq. 6 targets
    ``q`` ``[n, c]`` written under the maps. ``label``: the data set's name in the title
    (default ``dataset``; e.g. "CIFAR-10 (JPEG)")."""
    from tf_introspect import data, explainers, targets

    e = explainers.explain(model, x, explainer, layer=layer)
    q = targets.explanation_targets(e, y, alpha=alpha).numpy()
    cosines = targets.cosine_to_ground_truth(e, y).numpy()
    names = data.info(dataset).class_names
    images = plots.to_display(x, dataset)
    y = np.asarray(y).astype(int)
    captions = [
        [f"cos={cosines[i, k]:+.2f}\nq={q[i, k]:.3f}" for k in range(q.shape[1])]
        for i in range(len(y))
    ]
    plots.plot_rows(
        path,
        images,
        plots.display_maps(e, images.shape[1:3]),
        names,
        [f"label: {names[t]}" for t in y],
        captions,
        overlay=explainer == "grad_cam",
        highlight=y,
        title=f"Figure 1 ({label or dataset}): {explainer} explanations for "
        "every class; under each, its cosine to the ground truth's explanation (what the "
        f"paper shows) and its Eq. 6 share q (ground truth framed, q = alpha = {alpha})",
    )
    return q


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
    return [
        (class_names[rows[i]], class_names[cols[i]], float(matrix[rows[i], cols[i]]))
        for i in order[:k]
    ]


def paper_pair_ranks(matrix, class_names, dataset):
    """``[{"classes": [a, b], "rank": r}]`` of the paper's pairs among all off-diagonal pairs
    (rank 1 = most similar)."""
    ranking = top_pairs(matrix, class_names, k=len(matrix) ** 2)
    rank = {frozenset(p[:2]): i + 1 for i, p in enumerate(ranking)}
    return [
        {"classes": [a, b], "rank": rank[frozenset((a, b))]}
        for a, b in PAPER_PAIRS.get(dataset, ())
    ]


def plot_similarity(path, matrices, class_names, title):
    """``matrices``: ``[(matrix, subtitle)]``, drawn side by side on one colour scale (that of
    their off-diagonal values)."""
    c = len(class_names)
    figure = plots.new_figure((0.55 * c + 2.0) * len(matrices) + 0.5, 0.55 * c + 1.7)
    axes = np.atleast_1d(figure.subplots(1, len(matrices)))
    off = np.concatenate([m[~np.eye(c, dtype=bool)] for m, _ in matrices])
    for ax, (matrix, subtitle) in zip(axes, matrices):
        image = ax.imshow(matrix, cmap="viridis", vmin=off.min(), vmax=off.max())
        ax.set_xticks(range(c), class_names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(c), class_names, fontsize=7)
        if c <= 20:
            middle = np.median(matrix[~np.eye(c, dtype=bool)])
            for i in range(c):
                for j in range(c):
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if matrix[i, j] < middle else "black",
                    )
        ax.set_title(subtitle, fontsize=8)
    figure.colorbar(image, ax=list(axes), fraction=0.046, pad=0.04, label="mean cosine similarity")
    figure.suptitle(title, fontsize=8)
    return plots.save(figure, path)


def _pairs_summary(matrix, names, dataset, k):
    pairs = top_pairs(matrix, names, k)
    top = {frozenset(p[:2]) for p in pairs}
    return {
        "matrix": matrix.round(6).tolist(),
        "top_pairs": [{"classes": [a, b], "cosine": round(v, 6)} for a, b, v in pairs],
        "paper_pairs": [list(p) for p in PAPER_PAIRS.get(dataset, ())],
        "paper_pairs_in_top": [
            list(p) for p in PAPER_PAIRS.get(dataset, ()) if frozenset(p) in top
        ],
        "paper_pair_ranks": paper_pair_ranks(matrix, names, dataset),
    }


def figure2(
    model,
    batches,
    dataset,
    explainer,
    path,
    layer=None,
    k=5,
    label=None,
    source=None,
    baseline=None,
    baseline_source=None,
):
    """Figure 2: the matrix (returned), its PNG at ``path`` and ``path`` with ``.json`` (the
    matrix, top ``k`` pairs, the paper's pairs and their ranks); prints the comparison.
    ``label``: the data set's name shown (default ``dataset``); ``source``: the model file,
    recorded in the JSON. ``baseline``: a second classifier (e.g. CE-trained, same protocol),
    whose matrix is drawn beside on the same scale and recorded under ``"baseline"`` with the
    rank correlation of the two matrices' off-diagonal entries: is the similarity LE's own,
    or already in any trained model's explanations?"""
    from tf_introspect import data, diagnostics

    names = data.info(dataset).class_names
    matrix = class_similarity_matrix(model, batches, explainer, layer)
    samples = getattr(batches, "samples", None)
    panels = [(matrix, os.path.basename(os.path.dirname(source or "")) or "model")]
    if baseline is not None:
        base = class_similarity_matrix(baseline, batches, explainer, layer)
        panels.append(
            (base, os.path.basename(os.path.dirname(baseline_source or "")) or "baseline")
        )
        panels = [(m, f"{t}: {src}") for (m, src), t in zip(panels, ("model", "baseline"))]
    plot_similarity(
        path,
        panels,
        names,
        f"Figure 2: mean cosine similarity of {explainer} "
        f"explanations, {label or dataset} test set" + (f" ({samples} images)" if samples else ""),
    )
    summary = {
        "dataset": dataset,
        "label": label or dataset,
        "explainer": explainer,
        "samples": samples,
        "model": source,
        "class_names": list(names),
        **_pairs_summary(matrix, names, dataset, k),
    }
    if baseline is not None:
        summary["baseline"] = {
            "model": baseline_source,
            **_pairs_summary(base, names, dataset, k),
            "rank_correlation": diagnostics.rank_correlation(matrix, base),
        }
    atomic.write_json(os.path.splitext(path)[0] + ".json", summary, indent=1, sort_keys=False)
    _print_pairs(summary, k)
    if baseline is not None:
        _print_pairs({**summary, **summary["baseline"], "label": "baseline"}, k)
        print(
            "  rank correlation of the two matrices (off the diagonal): "
            f"{summary['baseline']['rank_correlation']:.2f}"
        )
    return matrix


def _print_pairs(summary, k):
    def pair(p):
        return f"({p[0]}, {p[1]})"

    print(
        f"Figure 2 ({summary['label']}, {summary['explainer']}): top {k} most similar class pairs:"
    )
    for p in summary["top_pairs"]:
        print(f"  {pair(p['classes'])}  {p['cosine']:.4f}")
    paper, found = summary["paper_pairs"], summary["paper_pairs_in_top"]
    if not paper:
        print(f"  (the paper names no similar pairs for {summary['dataset']})")
        return
    c = len(summary["class_names"])
    print(
        f"  paper's pairs {', '.join(map(pair, paper))}: {len(found)} of {len(paper)} among "
        f"our top {k}"
        + (f" ({', '.join(map(pair, found))})" if found else "")
        + f"; ranks among all {c * (c - 1) // 2} pairs: "
        + ", ".join(f"{pair(r['classes'])} {r['rank']}" for r in summary["paper_pair_ranks"])
    )


def recorded_data(model_path):
    """``(data set, read options)`` of the run that saved ``model_path``, from the
    ``metrics.json`` beside it: a folder's or tfds set's recorded facts (classes, mean/std)
    are registered, so that images are normalised as in training even where the data are
    not, and its ``image_size`` and ``test_split`` are the options to read its test split
    with; ``(None, {})`` without one."""
    import json

    from tf_introspect import data

    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "metrics.json")
    if not os.path.exists(path):
        return None, {}
    with open(path) as f:
        metrics = json.load(f)
    facts, flags = metrics.get("data"), metrics.get("flags") or {}
    if facts:
        data.metadata.register(data.metadata.from_facts(metrics["dataset"], facts))
    size = flags.get("image_size")
    options = {
        "image_size": tuple(int(n) for n in (size.split(",") if isinstance(size, str) else size))
        if size
        else None,
        "test_split": flags.get("test_split"),
    }
    return metrics.get("dataset"), {k: v for k, v in options.items() if v}


class SampleBatches:
    """The first ``limit`` test images (all when None) of ``dataset``, normalised, in batches;
    iterable more than once. ``samples``: how many. ``options``: how to read the user's own
    data set (``image_size``, ``test_split``: :func:`recorded_data`)."""

    def __init__(self, dataset, limit=None, data_dir=None, batch_size=250, **options):
        from tf_introspect import data

        self.ds = data.make_dataset(
            dataset, "test", batch_size, data_dir=data_dir, limit=limit, **options
        )
        self.samples = int(sum(int(y.shape[0]) for _, y in self.ds))

    def __iter__(self):
        return iter(self.ds)


def load_classifier(path, dataset=None):
    """A saved classifier (``.keras``); checks it against ``dataset`` when given."""
    import keras

    from tf_introspect import data

    if not os.path.isfile(path):
        raise ValueError(
            f"no model file {path!r}: give --model=PATH.keras, a classifier "
            "saved by python -m tf_introspect.main (its <workdir>/model.keras)."
        )
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # any failure to load means the file is not a usable classifier
        raise ValueError(f"cannot load model {path!r} ({type(e).__name__}: {e}).") from None
    if dataset is not None:
        meta = data.info(dataset)
        if model.output_shape[-1] != meta.num_classes:
            raise ValueError(
                f"model {path!r} has {model.output_shape[-1]} outputs but "
                f"{dataset} has {meta.num_classes} classes."
            )
        if tuple(model.input_shape[1:]) != meta.input_shape:
            raise ValueError(
                f"model {path!r} takes inputs {tuple(model.input_shape[1:])}, "
                f"{dataset} images are {meta.input_shape}."
            )
    return model
