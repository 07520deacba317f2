"""Explain your own images: ``python -m tf_introspect.explain --model=PATH.keras IMAGE ...``.

Loads a saved classifier and PNG/JPEG (or GIF/BMP) images, brings each to the model's input
(resized, grayscale/RGB converted to its channel count, normalised with the data set's
mean/std), and writes one picture (``--out``) with a row per image: the image, its predicted
class, and its explanation for every class (the all-class explanations ``E_i`` of paper
section 4, drawn as in Figure 1; Grad-CAM overlaid on the image), the softmax probability
under each class.
"""

import argparse
import os
import sys

import numpy as np

from tf_introspect.lab import model_figures, plots


def recorded_dataset(model_path):
    """The data set of the run that saved ``model_path`` (its recorded facts registered:
    :func:`~tf_introspect.lab.model_figures.recorded_data`); None without one."""
    return model_figures.recorded_data(model_path)[0]


def guess_dataset(model):
    """The data set a model was trained on, from its input shape and number of classes."""
    from tf_introspect import data

    shape, classes = tuple(model.input_shape[1:]), model.output_shape[-1]
    for name in data.DATASETS:  # mnist before fashion_mnist: same shapes, first wins
        meta = data.info(name)
        if meta.input_shape == shape and meta.num_classes == classes:
            return name
    raise ValueError(
        f"cannot tell the data set of a model with inputs {shape} and {classes} "
        f"classes; give --dataset (one of {', '.join(data.DATASETS)})."
    )


def load_images(paths, input_shape, dataset):
    """Images at ``paths`` as model inputs ``[n, h, w, c]`` (``input_shape`` = ``(h, w, c)``),
    normalised with ``data.info(dataset)``'s mean/std."""
    import tensorflow as tf

    from tf_introspect import data

    height, width, channels = input_shape
    meta = data.info(dataset)
    if len(meta.mean) != channels:
        raise ValueError(
            f"the model takes {channels} channel(s), {dataset} has "
            f"{len(meta.mean)}; give the --dataset the model was trained on."
        )
    out = []
    for path in paths:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
            raise ValueError(
                f"cannot read image {path!r} ({e.message.splitlines()[0]}); "
                "give PNG, JPEG, GIF or BMP files."
            ) from None
        image = tf.cast(image[..., : 3 if image.shape[-1] >= 3 else 1], tf.float32) / 255.0
        if channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        elif channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(image, (height, width), antialias=True)
        out.append((image.numpy() - np.asarray(meta.mean)) / np.asarray(meta.std))
    return np.stack(out).astype("float32")


def explain_images(model, paths, out, dataset=None, explainer=None, layer=None):
    """Write the picture for the images at ``paths``; returns ``(probabilities [n, c],
    explanations [n, c, ...])``."""
    import tensorflow as tf

    from tf_introspect import data, explainers

    dataset = dataset or guess_dataset(model)
    explainer = explainer or plots.default_explainers(model)[0]
    names = data.info(dataset).class_names
    if len(names) != model.output_shape[-1]:
        raise ValueError(
            f"the model has {model.output_shape[-1]} classes, {dataset} has "
            f"{len(names)}; give the --dataset the model was trained on."
        )
    x = load_images(paths, tuple(model.input_shape[1:]), dataset)
    e = explainers.explain(model, x, explainer, layer=layer)
    probs = tf.nn.softmax(model(x, training=False)).numpy()
    predicted = probs.argmax(axis=1)
    images = plots.to_display(x, dataset)
    labels = [
        f"{os.path.basename(p)}\npredicted: {names[k]} ({probs[i, k]:.0%})"
        for i, (p, k) in enumerate(zip(paths, predicted))
    ]
    captions = [[f"p={v:.2f}" for v in row] for row in probs]
    plots.plot_rows(
        out,
        images,
        plots.display_maps(e, images.shape[1:3]),
        names,
        labels,
        captions,
        overlay=explainer == "grad_cam",
        highlight=predicted,
        titles_every_row=True,
        title=f"{explainer} explanation for every class (predicted class framed)",
    )
    return probs, e.numpy()


def main(argv=None):
    from tf_introspect import data, explainers

    p = argparse.ArgumentParser(
        prog="python -m tf_introspect.explain", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    p.add_argument("--model", required=True, help="a saved classifier (.keras)")
    p.add_argument(
        "--explainer",
        choices=explainers.list_explainers(),
        help="default grad_cam for conv nets, grad for models without conv layers",
    )
    p.add_argument("--layer", help="Grad-CAM layer (default: the last 4-D one)")
    p.add_argument(
        "--dataset",
        help=f"for class names and mean/std: {', '.join(data.DATASETS)} or folder:PATH "
        "(default: the one recorded beside the model, else guessed from its shapes)",
    )
    p.add_argument("--out", default="explanations.png", help="picture to write")
    args = p.parse_args(argv)
    bad = [path for path in args.images if not os.path.isfile(path)]
    if bad:
        p.error(f"no image file(s): {', '.join(bad)} (give PNG, JPEG, GIF or BMP files)")
    try:
        model = model_figures.load_classifier(args.model)
        # registers the recorded facts of a folder or tfds set, also when --dataset names it
        recorded = recorded_dataset(args.model)
        args.dataset = args.dataset or recorded or guess_dataset(model)
        probs, _ = explain_images(
            model, args.images, args.out, args.dataset, args.explainer, args.layer
        )
    except (ValueError, data.DataNotFoundError, data.DataFormatError) as e:
        raise SystemExit(f"error: {e}") from None
    names = data.info(args.dataset).class_names
    for path, row in zip(args.images, probs):
        print(f"{path}: {names[row.argmax()]} ({row.max():.1%})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
