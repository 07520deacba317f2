"""Loading a whole split into memory (:func:`load_arrays`): the first source that has it, its
checksums, and the arrays' shapes and labels."""

from __future__ import annotations

import os
import warnings

import numpy as np

from tf_introspect.data.checksums import _checksum_problems
from tf_introspect.data.errors import ChecksumWarning, DataFormatError, DataNotFoundError
from tf_introspect.data.metadata import _INFOS, DATASETS, SPLITS, _check_choice
from tf_introspect.data.sources import _local_source, _not_found_message, _Source, resolve_data_dir
from tf_introspect.data.tfds_source import _tfds_source


def _locate(name: str, split: str, data_dir, use_tfds: bool | None
            ) -> tuple[_Source | None, list[str]]:
    """The source ``load_arrays`` would use, and notes on the places that had nothing."""
    source, notes = _local_source(name, split, resolve_data_dir(data_dir))
    if source is None:
        source, note = _tfds_source(name, split, use_tfds)
        notes.append(note)
    return source, notes


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

    Sources are tried in the order :mod:`tf_introspect.data.sources` gives. ``use_tfds=None`` uses
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
