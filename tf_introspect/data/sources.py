"""Where the data comes from: the data folder, local files in the original formats, Debian's
Fashion-MNIST, and what to tell the user when nothing is found.

Sources, first match wins (:func:`tf_introspect.data.loading._locate`):

1. A local folder holding the ORIGINAL file formats: the ``data_dir`` argument, else the
   environment variable ``TF_INTROSPECT_DATA``, else ``~/.cache/tf_introspect``. Files are looked
   for in ``<data_dir>/<name>/`` and then in ``<data_dir>`` itself; for CIFAR also in the standard
   extracted folders (``cifar-10-batches-bin``, ``cifar-10-batches-py``, ``cifar-100-binary``,
   ``cifar-100-python``) under either, and in the original ``.tar.gz`` archives lying there
   (read with :mod:`tarfile`, nothing is extracted).
2. Fashion-MNIST only: Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/
   fashion-mnist/``).
3. tensorflow-datasets (:mod:`tf_introspect.data.tfds_source`), which downloads when online. It
   is skipped when ``TF_INTROSPECT_NO_TFDS=1`` (or ``use_tfds=False``), and also, so that an
   offline machine fails in seconds rather than after minutes of retries, when the data is not
   prepared in tfds' folder and the download host does not answer a 3 s connection probe.
If nothing is found, :class:`DataNotFoundError` says where it looked, which files to put where
and how to get them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Sequence

import numpy as np

from tf_introspect.data.checksums import _ARCHIVE_MD5, _IDX_MD5, _Checked, _idx_base
from tf_introspect.data.formats import (
    _CIFAR_FORMATS, _IDX_FILES, _read_cifar_archive, _read_cifar_folder, _read_idx_pair)

ENV_DATA_DIR = "TF_INTROSPECT_DATA"
ENV_NO_TFDS = "TF_INTROSPECT_NO_TFDS"
DEFAULT_DATA_DIR = os.path.join("~", ".cache", "tf_introspect")
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FETCH_MNIST_COMMAND = "python -m tf_introspect.data fetch mnist"

_CIFAR_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    """The local data folder: ``data_dir``, else ``$TF_INTROSPECT_DATA``, else the default."""
    return os.path.abspath(os.path.expanduser(
        os.fspath(data_dir) if data_dir else os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR))


@dataclasses.dataclass(frozen=True)
class _Source:
    """A place that has one split of a data set, and how to read it."""

    description: str
    read: Callable[[], tuple[np.ndarray, np.ndarray]]
    checked: tuple[_Checked, ...] = ()
    is_tfds: bool = False


def _idx_source(name: str, split: str, folder: str) -> tuple[_Source | None, str]:
    """(source, "") if ``folder`` has the IDX files of ``split``, else (None, what's missing)."""
    if not os.path.isdir(folder):
        return None, f"{folder}: no such folder"
    paths, missing = [], []
    for base in _IDX_FILES[split]:
        path = next((p for p in (os.path.join(folder, base), os.path.join(folder, base + ".gz"))
                     if os.path.isfile(p)), None)
        paths.append(path)
        if path is None:
            missing.append(f"{base}[.gz]")
    if missing:
        return None, f"{folder}: no {' or '.join(missing)}"
    checked = tuple(_Checked(p, _IDX_MD5[name][_idx_base(p)], True) for p in paths)
    return _Source(f"IDX files in {folder}", functools.partial(_read_idx_pair, *paths),
                   checked), ""


def _cifar_sources(name: str, split: str, base: str) -> tuple[list[_Source], list[str]]:
    """Sources for ``split`` under ``base`` (extracted files first, then archives), and notes
    on the places that had none."""
    if not os.path.isdir(base):
        return [], [f"{base}: no such folder"]
    sources, notes = [], []
    for folder in (base, *(os.path.join(base, fmt.folder) for fmt in _CIFAR_FORMATS[name])):
        if not os.path.isdir(folder):
            continue
        found = False
        for fmt in _CIFAR_FORMATS[name]:
            paths = [os.path.join(folder, f) for f in fmt.files[split]]
            present = [os.path.isfile(p) for p in paths]
            if all(present):
                sources.append(_Source(f"CIFAR {fmt.kind} files in {folder}",
                                       functools.partial(_read_cifar_folder, fmt, paths)))
                found = True
            elif any(present):
                missing = [os.path.basename(p) for p, ok in zip(paths, present) if not ok]
                notes.append(f"{folder}: incomplete {fmt.kind} files, lacks {', '.join(missing)}")
                found = True
        if not found:
            notes.append(f"{folder}: no CIFAR files for {split!r}")
    for fmt in _CIFAR_FORMATS[name]:
        archive = os.path.join(base, fmt.archive)
        if os.path.isfile(archive):
            sources.append(_Source(
                f"archive {archive}",
                functools.partial(_read_cifar_archive, fmt, archive, fmt.files[split]),
                (_Checked(archive, _ARCHIVE_MD5[fmt.archive], False),)))
    return sources, notes


def _local_source(name: str, split: str, root: str) -> tuple[_Source | None, list[str]]:
    """The first local source of ``split``, and notes on the places looked at without luck."""
    folders = [os.path.join(root, name), root]
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_MNIST_DIR)
    notes = []
    for folder in folders:
        if name in _IDX_MD5:
            source, note = _idx_source(name, split, folder)
            if source and folder == DEBIAN_FASHION_MNIST_DIR:
                source = dataclasses.replace(
                    source, description=f"{source.description} (Debian dataset-fashion-mnist)")
            if source:
                return source, notes
            notes.append(note)
        else:
            sources, more = _cifar_sources(name, split, folder)
            if sources:
                return sources[0], notes
            notes.extend(more)
    return None, notes


def _how_to_get(name: str, root: str) -> str:
    folder = os.path.join(root, name)
    if name in _IDX_MD5:
        files = ", ".join(f"{a}.gz, {b}.gz" for a, b in _IDX_FILES.values())
        text = (f"Put the original IDX files (gzip-compressed or not) in {folder}/:\n  {files}\n")
        if name == "mnist":
            return text + f"Get them with:  {FETCH_MNIST_COMMAND} --data_dir {root}"
        return text + ("or install Debian's package (files go to "
                       f"{DEBIAN_FASHION_MNIST_DIR}/):  apt-get install dataset-fashion-mnist")
    binary = _CIFAR_FORMATS[name][0]
    files = ", ".join(binary.files["train"] + binary.files["test"])
    return (f"Download the official binary archive {_CIFAR_URLS[name]} (MD5 "
            f"{_ARCHIVE_MD5[binary.archive]}) and extract it into {folder}/, giving\n"
            f"  {folder}/{binary.folder}/ with {files}\n"
            f"(the .tar.gz itself in {folder}/ also works; so do the python version's files).")


def _not_found_message(name: str, split: str, data_dir, notes: Sequence[str]) -> str:
    root = resolve_data_dir(data_dir)
    looked = "\n".join(f"  - {n}" for n in notes if n)
    return (f"No {name} {split!r} data found.\nLooked in:\n{looked}\n{_how_to_get(name, root)}\n"
            f"(Use another folder with data_dir=... or ${ENV_DATA_DIR}.)")
