"""A folder of labelled images as a data set (issue 21): ``--dataset=folder:PATH``.

``PATH`` holds one subfolder of images per class (``PATH/<class>/*.jpg``; class names are the
subfolders' names, sorted), or ``PATH/train/<class>/`` and ``PATH/test/<class>/`` when it has
its own split; without one, ``test_split`` (a fraction) holds out a fixed share of every class's
images for testing (seed :data:`SPLIT_SEED`, the same for every run). The images are read once
per process with ``keras.utils.image_dataset_from_directory`` (BMP, GIF, JPEG, PNG) and kept as
uint8 arrays, so training runs through the same ``tf.data`` pipeline as the built-in sets
(:func:`tf_introspect.data.make_dataset`). Their size is the images' own when they all agree,
else ``image_size`` (an error asks for it); grayscale when every image is, else RGB.

The data set's facts (:func:`info`): its classes, input shape, and per-channel mean and std
computed from its training images, and a fingerprint of its file list and sizes (a setting
that decides a result: a finished run is not reused for other images).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os

import numpy as np

from tf_introspect.data.errors import DataFormatError, DataNotFoundError

PREFIX = "folder:"
#: the image files read (Keras' own list)
EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: the seed of the fixed hold-out of ``test_split`` and of the training images' order
SPLIT_SEED = 0


def is_folder(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def folder_path(name: str) -> str:
    """``PATH`` of ``folder:PATH``, checked to be a folder."""
    path = name[len(PREFIX) :]
    if not path:
        raise DataFormatError(f"--dataset={name!r} names no folder: give --dataset=folder:PATH.")
    if not os.path.isdir(path):
        raise DataNotFoundError(
            f"no image folder {path!r} (from --dataset={name}): give a folder with one "
            "subfolder of images per class (PATH/<class>/*.jpg), or PATH/train/<class>/ and "
            "PATH/test/<class>/."
        )
    return path


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a folder holds: per split the image files and labels, the class names, the
    images' size and channels, and the fingerprint of the file list and sizes."""

    root: str
    own_split: bool  # PATH/train/ and PATH/test/, else a held-out share of PATH/<class>/
    class_names: tuple[str, ...]
    files: dict  # split -> tuple of (path, label)
    size: tuple[int, int]
    channels: int
    fingerprint: str


def _classes(folder: str) -> tuple[str, ...]:
    return tuple(sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))))


def _images(folder: str, class_names: tuple[str, ...]) -> list[tuple[str, int]]:
    found = []
    for label, name in enumerate(class_names):
        for directory, _, files in sorted(os.walk(os.path.join(folder, name))):
            found += [
                (os.path.join(directory, f), label)
                for f in sorted(files)
                if f.lower().endswith(EXTENSIONS)
            ]
    return found


def held_out(files, fraction):
    """``(train, test)`` of ``files`` (``(item, label)`` pairs): a fixed share ``fraction`` of
    every class for testing (seed :data:`SPLIT_SEED`), the rest for training, each in order."""
    if not (isinstance(fraction, float | int) and 0 < fraction < 1):
        raise DataFormatError(
            f"--test_split must be a fraction between 0 and 1 (exclusive), got {fraction!r}."
        )
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for label in sorted({lab for _, lab in files}):
        mine = [f for f in files if f[1] == label]
        order = rng.permutation(len(mine))
        cut = int(round(fraction * len(mine)))
        test += [mine[i] for i in sorted(order[:cut])]
        train += [mine[i] for i in sorted(order[cut:])]
    return train, test


@functools.lru_cache(maxsize=8)
def scan(name: str, image_size: tuple[int, int] | None = None, test_split: float | None = None):
    """The :class:`Layout` of ``folder:PATH`` (one clear error for each kind of bad folder)."""
    from PIL import Image

    root = folder_path(name)
    own_split = all(os.path.isdir(os.path.join(root, s)) for s in ("train", "test"))
    if own_split:
        class_names = _classes(os.path.join(root, "train"))
        if _classes(os.path.join(root, "test")) != class_names:
            raise DataFormatError(
                f"{root}/train and {root}/test have different class subfolders: "
                f"{list(class_names)} and {list(_classes(os.path.join(root, 'test')))}."
            )
        files = {s: _images(os.path.join(root, s), class_names) for s in ("train", "test")}
        if test_split is not None:
            raise DataFormatError(
                f"{root} has its own train/ and test/ folders; --test_split={test_split} "
                "would hold out a share of train/ as well: leave it unset."
            )
    else:
        class_names = _classes(root)
        pool = _images(root, class_names) if class_names else []
        if test_split is None and pool:
            raise DataFormatError(
                f"{root} has no train/ and test/ subfolders: give --test_split=FRACTION (e.g. "
                "0.2) to hold out that share of every class's images for testing."
            )
        files = dict(zip(("train", "test"), held_out(pool, test_split))) if pool else {}
        if pool and len(class_names) >= 2 and not all(files.values()):
            empty = "test" if not files["test"] else "training"
            raise DataFormatError(
                f"--test_split={test_split} of {root}'s {len(pool)} images leaves no "
                f"{empty} image (each class's share is rounded: {len(files['test'])} for "
                f"testing): give a {'larger' if empty == 'test' else 'smaller'} fraction."
            )
    if len(class_names) < 2 or not all(files.get(s) for s in ("train", "test")):
        raise DataFormatError(
            f"{root} has no images in class subfolders (found {len(class_names)} subfolder(s)"
            f"{': ' + ', '.join(class_names[:5]) if class_names else ''}): expected "
            f"PATH/<class>/*.jpg with 2 or more classes ({', '.join(EXTENSIONS)}), or "
            "PATH/train/<class>/ and PATH/test/<class>/."
        )
    sizes, modes, digest = set(), set(), hashlib.sha256()
    for path, label in files["train"] + files["test"]:
        with Image.open(path) as image:
            sizes.add(image.size[::-1])
            modes.add(image.mode)
        digest.update(f"{os.path.relpath(path, root)}\t{label}\t{os.path.getsize(path)}\n".encode())
    if image_size is None:
        if len(sizes) > 1:
            shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:4])
            raise DataFormatError(
                f"the images of {root} have {len(sizes)} different sizes ({shown}, ...): give "
                "--image_size=H,W to resize them all to one."
            )
        (image_size,) = sizes
    channels = 1 if modes <= {"1", "L", "I", "I;16"} else 3
    return Layout(
        root,
        own_split,
        class_names,
        {s: tuple(v) for s, v in files.items()},
        tuple(image_size),
        channels,
        digest.hexdigest()[:16],
    )


def _read(folder: str, layout: Layout):
    """Every image under ``folder``'s class subfolders, as Keras' directory loader reads them:
    ``(file paths, x uint8, y int64)``, in its order (class by class, files sorted)."""
    import keras

    ds = keras.utils.image_dataset_from_directory(
        folder,
        labels="inferred",
        label_mode="int",
        class_names=list(layout.class_names),
        color_mode="grayscale" if layout.channels == 1 else "rgb",
        batch_size=256,
        image_size=layout.size,
        shuffle=False,
        verbose=False,
    )
    xs, ys = [], []
    for x, y in ds:  # float32 0-255 (resized bilinearly when --image_size asks for it)
        xs.append(np.clip(np.round(x.numpy()), 0, 255).astype(np.uint8))
        ys.append(y.numpy().astype(np.int64))
    return list(ds.file_paths), np.concatenate(xs), np.concatenate(ys)


@functools.lru_cache(maxsize=4)
def load(name: str, split: str, image_size=None, test_split=None):
    """``(x uint8 [n, h, w, c], y int64 [n])`` of ``split`` (``train`` or ``test``), read with
    ``keras.utils.image_dataset_from_directory``; the training images in a fixed shuffled
    order (so a validation hold-out, the last images, mixes the classes)."""
    layout = scan(name, image_size, test_split)
    folder = os.path.join(layout.root, split) if layout.own_split else layout.root
    paths, x, y = _read(folder, layout)
    wanted = {os.path.abspath(p): label for p, label in layout.files[split]}
    index = [i for i, p in enumerate(paths) if os.path.abspath(p) in wanted]
    if len(index) != len(wanted):
        raise DataFormatError(
            f"Keras read {len(index)} of the {len(wanted)} {split} images listed in "
            f"{layout.root}: is a file unreadable or a link?"
        )
    x, y = x[index], y[index]
    if split == "train":
        order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
        x, y = x[order], y[order]
    return x, y


@functools.lru_cache(maxsize=8)
def info(name: str, image_size=None, test_split=None) -> dict:
    """The facts of ``folder:PATH`` (:func:`tf_introspect.data.info` makes them a
    ``DatasetInfo``): ``class_names``, ``input_shape``, and the per-channel ``mean`` and
    ``std`` of its training images on the [0, 1] scale (computed once per process)."""
    layout = scan(name, image_size, test_split)
    x, _ = load(name, "train", image_size, test_split)
    return {
        "class_names": layout.class_names,
        "input_shape": (*layout.size, layout.channels),
        **channel_statistics(x),
    }


def channel_statistics(x: np.ndarray) -> dict:
    """``{"mean", "std"}``: per channel, of uint8 images ``x`` on the [0, 1] scale."""
    pixels = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    return {
        "mean": tuple(float(v) for v in pixels.mean(axis=0)),
        "std": tuple(float(v) for v in pixels.std(axis=0)),
    }
