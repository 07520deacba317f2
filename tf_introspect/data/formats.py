"""File formats and their readers: IDX (raw or gzip), CIFAR binary, CIFAR python (pickle), and
members of the original ``.tar.gz`` archives (read with :mod:`tarfile`, nothing is extracted).

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
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import pickle
import struct
import tarfile
import zlib
from typing import Callable, Iterable, Sequence

import numpy as np

from tf_introspect.data.checksums import _read_bytes
from tf_introspect.data.errors import DataFormatError

# IDX -----------------------------------------------------------------------------------------

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


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


# Archives ------------------------------------------------------------------------------------

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


# CIFAR ---------------------------------------------------------------------------------------

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
