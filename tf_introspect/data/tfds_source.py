"""tensorflow-datasets as the last source, guarded so that an offline machine fails fast: it is
used only if the data is prepared in tfds' folder or its download host answers a connection
probe within 3 s (the probe's answer is reused for a minute)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import tempfile
import threading
import time
from typing import Callable

import numpy as np

from tf_introspect.data.sources import ENV_NO_TFDS, _Source

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


@contextlib.contextmanager
def quiet():
    """tfds without its absl warnings for every missing ``dataset_info.json``."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl_logger.setLevel(level)


def quiet_builder(name: str, data_dir: str | None = None):
    """``tfds.builder(name, data_dir=...)``, :func:`quiet`, and without the empty
    ``tempfile.mkdtemp("tfds")`` folder tfds 4.9 leaves behind for each builder of a data set
    that is not prepared (``DatasetInfo.initialize_from_bucket``): ours are removed."""
    before = set(_empty_tfds_tempdirs())
    try:
        with quiet():
            import tensorflow_datasets as tfds

            return tfds.builder(name, data_dir=data_dir)
    finally:
        for path in set(_empty_tfds_tempdirs()) - before:
            try:
                os.rmdir(path)  # only ever removes an empty folder
            except OSError:
                pass


def _tfds_state(name: str) -> tuple[bool, str]:
    """Whether tfds has ``name`` prepared, and in which folder."""
    builder = quiet_builder(name)
    with quiet():
        return builder.is_prepared(), str(builder.data_dir)


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
