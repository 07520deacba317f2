"""The ``tf.data`` pipeline (:func:`make_dataset`): splits (with a validation hold-out),
``limit``, shuffling, the paper's CIFAR augmentation and per-channel normalisation; for the
self-distillation methods, each sample's index (PS-KD) or a same-class partner (CS-KD)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from tf_introspect.data import custom
from tf_introspect.data.loading import load_arrays
from tf_introspect.data.metadata import SPLIT_SIZES, SPLITS, _check_choice, info

if TYPE_CHECKING:
    import tensorflow as tf

#: ``extras`` choices of :func:`make_dataset`: what the inputs carry besides the images
#: (``None``: nothing, the inputs are the images).
EXTRAS = (None, "index", "partner")
#: the key of the images in the inputs dict that ``extras`` makes.
IMAGE = "image"
#: folded into an example's augmentation seed to draw its partner (CS-KD): the anchor's own
#: crop and flip come from the unfolded seed, as without a partner.
_PARTNER_STREAM = 1


def select(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    validation_split: int = 0,
    image_size: tuple[int, int] | None = None,
    test_split: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The examples ``(x uint8, y)`` of ``split`` that :func:`make_dataset` serves, in their
    index order (``limit``, then the hold-out), before shuffling: ``len(y)`` is the size of a
    per-sample table (PS-KD's) and a sample's index is its row."""
    _check_choice("split", split, (*SPLITS, "validation"))
    source = "test" if split == "test" else "train"
    if custom.is_custom(name):
        x, y = custom.load(name, source, data_dir, image_size, test_split)
    else:
        x, y = load_arrays(name, source, data_dir)
    _served(name, split, len(x), limit, validation_split)  # the checks
    x, y = x[:limit], y[:limit]
    if validation_split and split != "test":
        cut = len(x) - validation_split
        x, y = (x[cut:], y[cut:]) if split == "validation" else (x[:cut], y[:cut])
    return x, y


def _served(name, split, n, limit, validation_split):
    """How many of a source split's ``n`` examples ``split`` serves after ``limit`` and the
    hold-out, checking both: a ``ValueError`` naming the bad value and its valid range."""
    if limit is not None:
        if not 1 <= limit <= n:
            part = "test" if split == "test" else "training"
            raise ValueError(
                f"{part} limit {limit} must be between 1 and the {n} {part} examples of {name}."
            )
        n = limit
    if split == "validation" and not validation_split:
        raise ValueError(
            "split 'validation' needs validation_split > 0 (examples held out "
            "from the training set)."
        )
    if validation_split and split != "test":
        if not 0 < validation_split < n:
            raise ValueError(
                f"validation_split={validation_split} must be between 1 and "
                f"{n - 1}: the training set has {n} examples."
            )
        return validation_split if split == "validation" else n - validation_split
    return n


def split_size(name: str, split: str, *, data_dir=None, limit: int | None = None,
               validation_split: int = 0, image_size=None, test_split=None) -> int:
    """How many examples :func:`select` serves, with its checks of ``limit`` and the
    hold-out: for the built-in data sets counted from the official files' sizes without
    reading them, for the user's own read (once, cached)."""
    if custom.is_custom(name):
        return len(select(name, split, data_dir=data_dir, limit=limit,
                          validation_split=validation_split, image_size=image_size,
                          test_split=test_split)[1])
    _check_choice("split", split, (*SPLITS, "validation"))
    n = SPLIT_SIZES[name]["test" if split == "test" else "train"]
    return _served(name, split, n, limit, validation_split)


def class_members(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(members, start, count)``: the example indices sorted by class (stable: by index
    within a class), and where each class's run starts and how long it is (``count`` 0 for a
    class with no example). Class ``c``'s members are ``members[start[c]:start[c] +
    count[c]]``."""
    y = np.asarray(y, np.int64)
    members = np.argsort(y, kind="stable")
    count = np.bincount(y, minlength=int(y.max()) + 1 if len(y) else 0)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    return members.astype(np.int64), start, count.astype(np.int64)


def make_dataset(
    name: str,
    split: str,
    batch_size: int,
    *,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    shuffle: bool | None = None,
    augment: bool | None = None,
    seed: int = 0,
    drop_remainder: bool = False,
    validation_split: int = 0,
    image_size: tuple[int, int] | None = None,
    test_split: float | None = None,
    extras: str | None = None,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline over one split, yielding ``(x, y)`` batches.

    ``x`` is float32 ``[b, h, w, c]``: pixels scaled to ``[0, 1]``, then normalised per channel
    with ``info(name).mean`` / ``.std``; ``y`` is int32 ``[b]``.

    Args:
      split: ``train``, ``test``, or ``validation``: the last ``validation_split`` examples
        of the training set (after ``limit``), held out for choosing hyper-parameters; with
        ``validation_split > 0`` the ``train`` split is the rest of the training set.
      limit: keep only the first ``limit`` examples (before the hold-out and shuffling).
      shuffle: full-buffer shuffle, reshuffled every epoch; default ``split == "train"``.
      augment: the paper's CIFAR augmentation (zero-pad 4 pixels each side, random crop back to
        the original size, random horizontal flip); default ``split == "train"`` for 32x32
        colour images (CIFAR, and a folder of such images).
      image_size, test_split: the user's own data set's (``folder:PATH`` or
        ``tfds:NAME[:CONFIG]``, :mod:`tf_introspect.data.custom`): the size its images are
        resized to, and the share held out for testing when it has no test split of its own.
        ``data_dir`` is then tfds' data folder (a folder data set ignores it).
      seed: two pipelines with the same arguments (and the same TensorFlow global seed, if
        one is set) yield identical batches, epoch after epoch: the shuffle is seeded, and
        augmentation uses stateless random ops whose per-example seeds come from
        ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``, so each epoch sees
        new but reproducible crops and flips.
      extras: what ``x`` carries besides the images, for the methods that need it; ``x`` is
        then a dict with the images under ``"image"`` (:data:`IMAGE`) and:

        * ``"index"``: ``"index"``, each example's int64 row in :func:`select`'s order (a
          per-sample table's row: PS-KD);
        * ``"partner"``: ``"partner"``, for each example another training example of the
          same class drawn uniformly, with replacement (it may be the example itself), anew
          every epoch, and augmented on its own (CS-KD's pairs). The draw is stateless, from
          the example's augmentation seed folded with a constant, so it is reproducible
          under ``seed``.

        In both the images are those of ``extras=None``, bit for bit: the same order, crops
        and flips.
    """
    import tensorflow as tf

    if extras is not None:
        _check_choice("extras", extras, EXTRAS[1:])
    meta = info(name, image_size, test_split, data_dir)
    x, y = select(
        name,
        split,
        data_dir=data_dir,
        limit=limit,
        validation_split=validation_split,
        image_size=image_size,
        test_split=test_split,
    )
    shuffle = split == "train" if shuffle is None else shuffle
    if augment is None:
        augment = split == "train" and tuple(meta.input_shape) == (32, 32, 3)

    images = tf.constant(x)
    labels = tf.constant(y, tf.int32)
    height, width, channels = meta.input_shape
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    if extras == "partner":
        members, start, count = (tf.constant(a) for a in class_members(y))

        def partner(index, key):
            """A same-class example drawn with ``key`` folded, and the key of its crop."""
            label = tf.cast(tf.gather(labels, index), tf.int64)
            draw_key, crop_key, _ = tf.unstack(
                tf.random.split(tf.random.experimental.stateless_fold_in(key, _PARTNER_STREAM), 3)
            )
            draw = tf.random.stateless_uniform(
                [], draw_key, minval=0, maxval=tf.gather(count, label), dtype=tf.int64
            )
            return tf.gather(members, tf.gather(start, label) + draw), crop_key

    def load(index):
        return tf.cast(tf.gather(images, index), tf.float32) / 255.0

    def crop_flip(image, key):
        crop_seed, flip_seed = tf.unstack(tf.random.split(key, 2))
        image = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        image = tf.image.stateless_random_crop(image, [height, width, channels], crop_seed)
        return tf.image.stateless_random_flip_left_right(image, flip_seed)

    def inputs(index, image, other=None):
        if extras == "partner":
            return {IMAGE: image, "partner": other}
        return {IMAGE: image, "index": index} if extras == "index" else image

    if augment:  # per example: its own crop and flip

        def example(index, key):
            other = None
            if extras == "partner":
                other, other_key = partner(index, key)
                other = crop_flip(load(other), other_key)
            return inputs(index, crop_flip(load(index), key), other), tf.gather(labels, index)

        ds = tf.data.Dataset.zip((ds, seeds)).map(example, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    elif extras == "partner":  # the draw per example, the images per batch
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda index, key: (index, partner(index, key)[0])
        )
        ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda index, other: (
                inputs(index, load(index), load(other)),
                tf.gather(labels, index),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda index: (inputs(index, load(index)), tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    mean = tf.constant(meta.mean, tf.float32)
    std = tf.constant(meta.std, tf.float32)

    def normalise(x, label):
        if not extras:
            return (x - mean) / std, label
        return {k: v if k == "index" else (v - mean) / std for k, v in x.items()}, label

    ds = ds.map(normalise, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
