"""The ``tf.data`` pipeline (:func:`make_dataset`): splits (with a validation hold-out),
``limit``, shuffling, the paper's CIFAR augmentation and per-channel normalisation."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tf_introspect.data import folder
from tf_introspect.data.loading import load_arrays
from tf_introspect.data.metadata import SPLITS, _check_choice, info

if TYPE_CHECKING:
    import tensorflow as tf


def make_dataset(name: str, split: str, batch_size: int, *,
                 data_dir: str | os.PathLike | None = None, limit: int | None = None,
                 shuffle: bool | None = None, augment: bool | None = None, seed: int = 0,
                 drop_remainder: bool = False, validation_split: int = 0,
                 image_size: tuple[int, int] | None = None,
                 test_split: float | None = None) -> "tf.data.Dataset":
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
      image_size, test_split: a folder data set's (``folder:PATH``,
        :mod:`tf_introspect.data.folder`): the size its images are resized to, and the share
        held out for testing when it has no ``test/`` folder.
      seed: two pipelines with the same arguments (and the same TensorFlow global seed, if
        one is set) yield identical batches, epoch after epoch: the shuffle is seeded, and
        augmentation uses stateless random ops whose per-example seeds come from
        ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``, so each epoch sees
        new but reproducible crops and flips.
    """
    import tensorflow as tf

    meta = info(name, image_size, test_split)
    _check_choice("split", split, (*SPLITS, "validation"))
    source = "test" if split == "test" else "train"
    if name.startswith(folder.PREFIX):
        x, y = folder.load(name, source, image_size, test_split)
    else:
        x, y = load_arrays(name, source, data_dir)
    if limit is not None:
        if not 1 <= limit <= len(x):
            part = "test" if split == "test" else "training"
            raise ValueError(f"{part} limit {limit} must be between 1 and the {len(x)} "
                             f"{part} examples of {name}.")
        x, y = x[:limit], y[:limit]
    if split == "validation" and not validation_split:
        raise ValueError("split 'validation' needs validation_split > 0 (examples held out "
                         "from the training set).")
    if validation_split and split != "test":
        if not 0 < validation_split < len(x):
            raise ValueError(f"validation_split={validation_split} must be between 1 and "
                             f"{len(x) - 1}: the training set has {len(x)} examples.")
        cut = len(x) - validation_split
        x, y = (x[cut:], y[cut:]) if split == "validation" else (x[:cut], y[:cut])
    shuffle = split == "train" if shuffle is None else shuffle
    if augment is None:
        augment = split == "train" and tuple(meta.input_shape) == (32, 32, 3)

    images = tf.constant(x)
    labels = tf.constant(y, tf.int32)
    height, width, channels = meta.input_shape
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def augmented(index, pair):
            crop_seed, flip_seed = tf.unstack(tf.random.split(pair, 2))
            image = tf.cast(tf.gather(images, index), tf.float32) / 255.0
            image = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
            image = tf.image.stateless_random_crop(image, [height, width, channels], crop_seed)
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
            return image, tf.gather(labels, index)

        ds = tf.data.Dataset.zip((ds, seeds)).map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda index: (tf.cast(tf.gather(images, index), tf.float32) / 255.0,
                           tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE)
    mean = tf.constant(meta.mean, tf.float32)
    std = tf.constant(meta.std, tf.float32)
    ds = ds.map(lambda image, label: ((image - mean) / std, label),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
