"""Checksums: the official MD5s, and the MD5s of the files we read.

The MD5s of the original MNIST and Fashion-MNIST files (decompressed) and of the original CIFAR
archives are checked once per file and process; a mismatch is a :class:`ChecksumWarning`, never
an error (our CIFAR-10 JPEG copy differs by design), except that a file whose MD5 is that of the
*other* MNIST-like data set is refused (MNIST files in a Fashion-MNIST folder, or the reverse).

:func:`_read_bytes`, the reader of every data file (gunzipping if needed), lives here because it
records the MD5 of the content it returns, which :func:`_content_md5` reuses.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import zlib
from typing import Iterable

from tf_introspect.data.errors import DataFormatError


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
        what = ("MD5 of its content after gzip decompression, if gzipped" if item.decompressed
                else "MD5 of the file as stored")
        problems.append(f"MD5 mismatch for {item.path}: expected {item.expected} (official), "
                        f"got {actual} ({what})")
    return problems


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


def _idx_base(path: str) -> str:
    """An IDX file's name without ``.gz``: its key in ``_IDX_MD5``."""
    return os.path.basename(path).removesuffix(".gz")
