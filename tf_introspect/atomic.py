"""Atomic writes: every result file the project writes appears whole or not at all.

Each writer writes into a temporary file next to the target (same folder, so the same file
system), flushes it to disk and renames it over the target with :func:`os.replace`, which is
atomic on POSIX and Windows. If writing fails midway (an exception, a full disk, the process
killed), the target keeps its old content (or stays absent) and the temporary file is removed
(after a SIGKILL a ``.NAME.*.tmp*`` file may stay behind, never the target half written).

* :func:`atomic_path`: the general form, for writers that take a path (``model.save``,
  ``figure.savefig``);
* :func:`write_text`, :func:`write_json`, :func:`save_model`, :func:`save_figure`: the
  project's result files (``metrics.json``, ``model.keras``, figures, reports, run records).
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import keras
    import matplotlib.figure

#: A path as the caller gave it (the writers return it unchanged).
_Path = TypeVar("_Path", bound=str | os.PathLike)


def _read_umask():
    umask = os.umask(0)  # the only way to read it; done once, before any thread writes
    os.umask(umask)
    return umask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``.

    The temporary name keeps ``path``'s extension at its end (``.metrics.XXXX.tmp.json``), as
    writers such as Keras (``.keras``) and matplotlib (the format) read it. On any exception
    the temporary file is removed and ``path`` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=f".tmp{ext}")
    os.close(fd)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600: give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: _Path, text: str) -> _Path:
    """Write the string ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
    return path


def write_json(
    path: _Path, obj: Any, indent: int | str | None = 2, sort_keys: bool = True
) -> _Path:
    """Write ``obj`` as JSON (and a final newline) to ``path`` atomically; returns ``path``.

    The JSON is encoded before anything is written, so an object that cannot be encoded
    leaves no trace."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")


def save_model(model: "keras.Model", path: _Path) -> _Path:
    """``model.save(path)`` atomically (``path`` ends with ``.keras``); returns ``path``."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def save_figure(figure: "matplotlib.figure.Figure", path: _Path, **kwargs: Any) -> _Path:
    """``figure.savefig(path, **kwargs)`` atomically (the format from ``path``'s extension);
    returns ``path``."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=os.path.splitext(path)[1][1:] or None, **kwargs)
    return path
