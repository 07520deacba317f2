"""Drawing shared by the figures and the explain command: inputs and explanations as pictures.

Rows of an image and its explanation for every class (Figure 1, ``python -m
tf_introspect.explain``), inputs back to pixels, explanations as maps of the image's size, and
the blank figure and atomic PNG save every figure uses (Matplotlib's Agg canvas, no display).
"""

import os

import numpy as np

from tf_introspect import atomic


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


def new_figure(width, height, layout=None):
    """A Matplotlib figure of ``width`` x ``height`` inches on an Agg canvas (no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save(figure, path):
    """``figure`` as a PNG at ``path`` (its folder made), written atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return atomic.save_figure(figure, path, bbox_inches="tight")


def _show_image(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)


def plot_rows(
    path,
    images,
    maps,
    class_names,
    row_labels,
    captions,
    *,
    overlay=False,
    highlight=None,
    titles_every_row=False,
    title=None,
):
    """One row per image: the image (``row_labels`` under it), then its ``c`` maps, class
    names as titles, ``captions[i][k]`` under map ``k``; ``highlight[i]``'s map is framed.
    ``overlay``: maps drawn semi-transparent over the image (Grad-CAM)."""
    n, c = maps.shape[:2]
    figure = new_figure(1.15 * (c + 1), 1.45 * n + 0.4)
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
            ax.set_xlabel(
                captions[i][k],
                fontsize=7,
                fontweight="bold" if highlight is not None and k == highlight[i] else "normal",
            )
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
    return save(figure, path)
