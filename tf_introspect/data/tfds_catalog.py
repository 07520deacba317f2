"""Any tensorflow-datasets image classification set by name (issue 21):
``--dataset=tfds:NAME[:CONFIG]`` (e.g. ``tfds:beans``, ``tfds:cifar10_corrupted:fog_1``).

The set must be prepared in tfds' data folder (``data_dir``: ``--data_dir``, else tfds' own,
``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); nothing is downloaded at run time: a set that
is not prepared is one clear error saying how to prepare it (where there is internet) and
where to copy it. A prepared set is read from its files, also without its builder's code
(tfds reads a prepared folder on its own).

Its image and label features are the builder's supervised keys (else ``image`` and
``label``); class names from the label feature. Its ``train`` and ``test`` splits are used
when it has both; else ``test_split`` holds out a fixed share of every class of ``train`` (as
for a folder, :func:`tf_introspect.data.folder.held_out`). Images are read whole into uint8
arrays, resized (bilinear, as Keras' directory loader) to ``image_size`` when given, which
sets whose images vary in size need. The facts (:func:`info`): classes, input shape, the
per-channel mean and std of the training images, and a fingerprint of the prepared files
(names and sizes) with the set's name and version: a result-deciding setting.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os

import numpy as np

from tf_introspect.data.errors import DataFormatError, DataNotFoundError

PREFIX = "tfds:"


def is_tfds(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def tfds_name(name: str) -> str:
    """tfds' name of ``tfds:NAME[:CONFIG]``: ``NAME`` or ``NAME/CONFIG``."""
    parts = name[len(PREFIX) :].split(":")
    if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise ValueError(
            f"--dataset={name!r}: give --dataset=tfds:NAME or tfds:NAME:CONFIG (e.g. tfds:beans)."
        )
    return "/".join(parts)


def _prepare_hint(tfds_id: str, data_dir: str) -> str:
    return (
        f"prepare it on a machine with internet (python -c \"import tensorflow_datasets as "
        f"tfds; tfds.builder('{tfds_id}', data_dir='{data_dir}').download_and_prepare()\", or "
        f"tfds build {tfds_id} --data_dir={data_dir}) and copy that folder here, then pass "
        f"--data_dir={data_dir}."
    )


@functools.lru_cache(maxsize=8)
def builder(name: str, data_dir: str | None = None):
    """The prepared tfds builder of ``tfds:NAME[:CONFIG]``; a clear ``DataNotFoundError`` when
    tfds has no such set or it is not prepared in ``data_dir``."""
    import tensorflow_datasets as tfds

    from tf_introspect.data.tfds_source import quiet, quiet_builder

    tfds_id = tfds_name(name)
    try:
        found = quiet_builder(tfds_id, data_dir)
    except Exception as e:  # unknown name or config (tfds raises several kinds)
        base = tfds_id.split("/")[0]
        prepared = sorted(os.listdir(data_dir)) if data_dir and os.path.isdir(data_dir) else []
        close = difflib.get_close_matches(base, prepared + tfds.list_builders(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataNotFoundError(
            f"--dataset={name}: tensorflow-datasets has no data set {tfds_id!r} "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]}).{hint} Its names: "
            "tfds.list_builders(), or https://www.tensorflow.org/datasets/catalog."
        ) from None
    with quiet():
        prepared = found.is_prepared()
    if not prepared:
        where = str(data_dir or found.data_dir_root)
        raise DataNotFoundError(
            f"--dataset={name}: {tfds_id!r} is not prepared in {where} (nothing is downloaded "
            f"at run time): {_prepare_hint(tfds_id, where)}"
        )
    return found


def _keys(found) -> tuple[str, str]:
    """The image and label feature names."""
    keys = found.info.supervised_keys
    image, label = keys if keys and len(keys) == 2 else ("image", "label")
    features = found.info.features
    if image not in features or label not in features or not hasattr(features[label], "names"):
        raise DataFormatError(
            f"{found.name} is not an image classification set (features "
            f"{sorted(features.keys())}; expected an image and a class label)."
        )
    return image, label


@functools.lru_cache(maxsize=8)
def layout(name: str, data_dir=None, image_size=None, test_split=None) -> dict:
    """What the set holds: ``class_names``, ``size`` (h, w), ``channels``, ``splits`` (our
    split -> the tfds split, and held-out class shares), ``fingerprint``."""
    found = builder(name, data_dir)
    image, label = _keys(found)
    shape = found.info.features[image].shape
    splits = set(found.info.splits.keys())
    if {"train", "test"} <= splits:
        if test_split is not None:
            raise DataFormatError(
                f"{name} has its own train and test splits; --test_split={test_split} would "
                "hold out a share of train as well: leave it unset."
            )
    elif "train" in splits:
        if test_split is None:
            raise DataFormatError(
                f"{name} has no test split (splits: {', '.join(sorted(splits))}): give "
                "--test_split=FRACTION (e.g. 0.2) to hold out that share of every class."
            )
    else:
        raise DataFormatError(f"{name} has no train split (splits: {', '.join(sorted(splits))}).")
    if image_size is None:
        if None in shape[:2]:
            raise DataFormatError(
                f"the images of {name} vary in size ({shape}): give --image_size=H,W to resize "
                "them all to one."
            )
        image_size = tuple(shape[:2])
    digest = hashlib.sha256(f"{found.info.full_name}\n".encode())
    root = str(found.data_dir)
    for directory, _, files in sorted(os.walk(root)):
        for file in sorted(files):
            path = os.path.join(directory, file)
            digest.update(f"{os.path.relpath(path, root)}\t{os.path.getsize(path)}\n".encode())
    return {
        "class_names": tuple(found.info.features[label].names),
        "size": tuple(int(v) for v in image_size),
        "channels": int(shape[-1]) if shape[-1] else 3,
        "own_split": {"train", "test"} <= splits,
        "fingerprint": digest.hexdigest()[:16],
    }


@functools.lru_cache(maxsize=4)
def _arrays(name: str, tfds_split: str, data_dir, size) -> tuple[np.ndarray, np.ndarray]:
    """Every example of ``tfds_split``, in its order, at ``size`` (h, w)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    found = builder(name, data_dir)
    image, label = _keys(found)
    xs, ys = [], []
    for example in tfds.as_numpy(found.as_dataset(split=tfds_split, shuffle_files=False)):
        x = example[image]
        if tuple(x.shape[:2]) != tuple(size):
            x = tf.image.resize(x, size, method="bilinear").numpy()
            x = np.clip(np.round(x), 0, 255)
        xs.append(x.astype(np.uint8))
        ys.append(int(example[label]))
    return np.stack(xs), np.asarray(ys, np.int64)


def load(name: str, split: str, data_dir=None, image_size=None, test_split=None):
    """``(x uint8 [n, h, w, c], y int64 [n])`` of ``split`` (``train`` or ``test``)."""
    from tf_introspect.data.folder import held_out

    facts = layout(name, data_dir, image_size, test_split)
    if facts["own_split"]:
        return _arrays(name, split, data_dir, facts["size"])
    x, y = _arrays(name, "train", data_dir, facts["size"])
    train, test = held_out(list(zip(range(len(y)), y)), test_split)
    rows = np.array([i for i, _ in (train if split == "train" else test)], np.int64)
    return x[rows], y[rows]


@functools.lru_cache(maxsize=8)
def info(name: str, data_dir=None, image_size=None, test_split=None) -> dict:
    """The facts :func:`tf_introspect.data.info` makes a ``DatasetInfo`` of: ``class_names``,
    ``input_shape``, and the per-channel ``mean`` and ``std`` of the training images."""
    from tf_introspect.data.folder import channel_statistics

    facts = layout(name, data_dir, image_size, test_split)
    x, _ = load(name, "train", data_dir, image_size, test_split)
    return {
        "class_names": facts["class_names"],
        "input_shape": (*facts["size"], facts["channels"]),
        **channel_statistics(x),
    }
