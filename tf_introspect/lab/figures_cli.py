"""The paper's Figures 1-3 from a trained classifier: ``python -m tf_introspect.figures``.

Figures 1 and 2 (:mod:`tf_introspect.lab.model_figures`) are drawn from a classifier's
explanations, Figure 3 (:mod:`tf_introspect.lab.figure3`) from the committed results of the
experiment plans.

Without ``--model`` a short CE model is trained first (1 epoch: the MLP on MNIST, ResNet-8
on CIFAR-10) with :func:`tf_introspect.pipeline.run`, so the figures show the machinery, not the
paper's numbers. PNGs (and JSON) go to ``--out`` (default ``runs/figures``, beside the
runs and not committed; the project's own figures are made into ``docs/figures`` by
``scripts/experiments.sh``, and the report shows what is there).
"""

import argparse
import os
import re

from tf_introspect.lab import figure3, figures_doc, model_figures, plots

DEFAULT_MODELS = {
    "mnist": "mlp1024",
    "fashion_mnist": "mlp1024",
    "cifar10": "resnet8",
    "cifar100": "resnet8",
}
DEFAULT_SIMILARITY_SAMPLES = {"cifar10": 2000, "cifar100": 2000}  # others: the whole test set


def train_short_model(dataset, data_dir=None, workdir=None):
    """A CE model trained for 1 epoch with :func:`tf_introspect.pipeline.run` (reused when
    the work folder already holds it); returns the path of its ``model.keras``."""
    from tf_introspect import pipeline

    model = DEFAULT_MODELS[dataset]
    workdir = workdir or os.path.join("runs", "figures", f"{dataset}_{model}_ce")
    lr = "0.05" if model.startswith("mlp") else "0.1"
    args = [
        "--method=ce",
        f"--model={model}",
        f"--dataset={dataset}",
        "--epochs=1",
        "--batch_size=128",
        f"--lr={lr}",
        "--lr_boundaries=",
        f"--workdir={workdir}",
        "--verbose=2",
        *([f"--data_dir={data_dir}"] if data_dir else []),
    ]
    print(
        f"No --model given: training a short CE model ({model}, 1 epoch on {dataset}, "
        f"batch 128, lr {lr}) with tf_introspect.pipeline.run into {workdir}; the figures show "
        "the machinery, not the paper's results (pass --model=PATH.keras for a real model)."
    )
    metrics = pipeline.run(pipeline.from_args(args))
    print(f"short model: test accuracy {metrics['test_accuracy']:.4f}")
    return metrics["model_path"]


def _parser():
    from tf_introspect import data, explainers

    p = argparse.ArgumentParser(
        prog="python -m tf_introspect.figures", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--model", help="trained classifier (.keras); default: train a short one")
    p.add_argument(
        "--dataset",
        type=_dataset,
        help=f"{', '.join(data.DATASETS)}, folder:PATH or tfds:NAME (default: the one "
        "recorded beside --model, else mnist)",
    )
    p.add_argument(
        "--out",
        default=os.path.join("runs", "figures"),
        help="output folder (default %(default)s; the committed figures are in docs/figures)",
    )
    p.add_argument("--data_dir", help="data folder (default: $TF_INTROSPECT_DATA, ...)")
    p.add_argument(
        "--data_label",
        help="the data set's name in titles and captions (default: "
        "--dataset; e.g. 'CIFAR-10 (JPEG)' for a re-encoded copy)",
    )
    p.add_argument(
        "--plans",
        type=lambda s: [p for p in s.split(",") if p],
        help="Figure 3 from these plans' "
        "committed results (comma-separated; default: every experiments/*.toml)",
    )
    p.add_argument(
        "--explainers",
        type=lambda s: s.split(","),
        help="comma-separated, from "
        + ", ".join(explainers.list_explainers())
        + "; default grad_cam for conv nets, grad,grad_input otherwise",
    )
    p.add_argument(
        "--baseline_model",
        help="Figure 2: a second classifier (.keras; e.g. CE-trained with the same protocol) "
        "whose matrix is drawn beside the model's on the same scale",
    )
    p.add_argument("--layer", help="Grad-CAM layer (default: the last 4-D one)")
    p.add_argument("--alpha", type=float, default=0.9, help="Eq. 6 ground-truth mass")
    p.add_argument("--samples", type=int, default=4, help="Figure 1: test images shown")
    p.add_argument(
        "--similarity_samples",
        type=int,
        default=None,
        help="Figure 2: first N test images (0: all; default all, 2000 on CIFAR)",
    )
    p.add_argument(
        "--reliability",
        type=_plan_list,
        default=[],
        help="plans (comma-separated): the reliability diagram of their CE, LS, LE and "
        "LE-Uniform cells from the committed results (no model needed), alone or beside "
        "--figures",
    )
    p.add_argument(
        "--curves",
        type=_plan_list,
        default=[],
        help="plans (comma-separated): the learning curves of their cells (test and training "
        "accuracy per epoch, mean over seeds) from the committed results (no model needed)",
    )
    p.add_argument("--workdir", help="where the short model is trained without --model")
    p.add_argument(
        "--figures",
        type=_figure_numbers,
        default=None,
        help="which figures, e.g. 3 (from results only: no model needed) or 1,2; default "
        "1,2,3 (none with --reliability or --curves)",
    )
    return p


def _dataset(text):
    from tf_introspect import data
    from tf_introspect.data import custom

    if text in data.DATASETS or custom.is_custom(text):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: give one of {', '.join(data.DATASETS)}, folder:PATH or tfds:NAME"
    )


def _same_data(a, b):
    """Whether two ``--dataset`` values name the same data (a folder by any path to it)."""
    from tf_introspect.data import folder

    if a == b or not (a and b and folder.is_folder(a) and folder.is_folder(b)):
        return a == b
    real = [os.path.realpath(name[len(folder.PREFIX) :]) for name in (a, b)]
    return real[0] == real[1]


def _file_name(dataset):
    """``dataset`` as part of a file name (``folder:data/x`` -> ``folder_data_x``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset).strip("_")


def _plan_list(text):
    """Comma-separated plan paths, empty items dropped."""
    return [p for p in text.split(",") if p]


def _figure_numbers(text):
    numbers = tuple(sorted({int(n) for n in text.split(",") if n.strip().isdigit()}))
    if (
        not numbers
        or set(numbers) - {1, 2, 3}
        or len(numbers) != len([n for n in text.split(",") if n.strip()])
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give figure numbers from 1, 2, 3, comma-separated (e.g. 3 or 1,2)"
        )
    return numbers


def figures_1_2(args):
    """Figures 1 and/or 2 (``args.figures``) of ``args.model`` (or a short model trained
    first), one of each per explainer."""
    from tf_introspect import data

    recorded, options = model_figures.recorded_data(args.model) if args.model else (None, {})
    if args.dataset is None:
        args.dataset = recorded or "mnist"
    elif not _same_data(args.dataset, recorded):
        options = {}  # another data set than the run's: its own defaults
    if args.dataset not in DEFAULT_MODELS and not args.model:
        raise ValueError(
            f"--dataset={args.dataset}: give --model=PATH.keras, a classifier trained on it "
            "(a run's model.keras); a short model is trained only for "
            f"{', '.join(DEFAULT_MODELS)}."
        )
    path = args.model or train_short_model(args.dataset, args.data_dir, args.workdir)
    model = model_figures.load_classifier(path, args.dataset)
    baseline = (
        model_figures.load_classifier(args.baseline_model, args.dataset)
        if args.baseline_model
        else None
    )
    limit = args.similarity_samples
    limit = DEFAULT_SIMILARITY_SAMPLES.get(args.dataset) if limit is None else limit or None
    x, y = next(
        iter(
            data.make_dataset(
                args.dataset,
                "test",
                args.samples,
                data_dir=args.data_dir,
                limit=args.samples,
                **options,
            )
        )
    )
    batches = (
        model_figures.SampleBatches(args.dataset, limit, args.data_dir, **options)
        if 2 in args.figures
        else None
    )
    for name in args.explainers or plots.default_explainers(model):
        layer = args.layer if name == "grad_cam" else None
        stem = os.path.join(args.out, f"{{}}_{_file_name(args.dataset)}_{name}.png")
        written = []
        if 1 in args.figures:
            model_figures.figure1(
                model,
                x,
                y,
                args.dataset,
                name,
                stem.format("figure1"),
                args.alpha,
                layer,
                label=args.data_label,
            )
            written.append(stem.format("figure1"))
        if 2 in args.figures:
            model_figures.figure2(
                model,
                batches,
                args.dataset,
                name,
                stem.format("figure2"),
                layer,
                label=args.data_label,
                source=path,
                baseline=baseline,
                baseline_source=args.baseline_model,
            )
            written.append(f"{stem.format('figure2')} and its .json")
        print("wrote " + ", ".join(written))


def main(argv=None):
    from tf_introspect import data, explainers, targets

    args = _parser().parse_args(argv)
    if args.figures is None:
        args.figures = () if args.reliability or args.curves else (1, 2, 3)
    try:
        targets.check_alpha(args.alpha)
        for name in args.explainers or ():
            if name not in explainers.EXPLAINERS:
                raise ValueError(
                    f"unknown explainer {name!r}; valid choices: "
                    f"{', '.join(explainers.list_explainers())}."
                )
        if {1, 2} & set(args.figures):
            figures_1_2(args)
        if 3 in args.figures and figure3.figure3(os.path.join(args.out, "figure3.png"), args.plans):
            print("wrote", os.path.join(args.out, "figure3.png"), "and its .json")
        for prefix, draw in figures_doc.plan_figures():
            for plan in getattr(args, prefix):
                written = draw(plan, args.out)
                if written:
                    print("wrote", written, "and its .json")
    except (ValueError, data.DataNotFoundError) as e:  # PlanError is a ValueError
        raise SystemExit(f"error: {e}") from None
    return 0
