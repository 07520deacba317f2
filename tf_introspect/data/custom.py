"""The user's own data sets, named rather than built in: ``folder:PATH`` (a folder of labelled
images, :mod:`tf_introspect.data.folder`) and ``tfds:NAME[:CONFIG]`` (a prepared
tensorflow-datasets set, :mod:`tf_introspect.data.tfds_catalog`). Their facts (classes, input
shape, normalisation) are computed from their training images and their fingerprint is a
result-deciding setting; these functions give the same four things for either kind, from the
options ``data_dir`` (tfds' folder; a folder ignores it), ``image_size`` and ``test_split``."""

from __future__ import annotations

from tf_introspect.data import folder, tfds_catalog

#: the names' forms, for messages
FORMS = ("folder:PATH", "tfds:NAME[:CONFIG]")


def is_custom(name: str) -> bool:
    return folder.is_folder(name) or tfds_catalog.is_tfds(name)


def fingerprint(name: str, data_dir=None, image_size=None, test_split=None) -> str:
    """The fingerprint of the data set's files (names, labels or split, sizes)."""
    if folder.is_folder(name):
        return folder.scan(name, image_size, test_split).fingerprint
    return tfds_catalog.layout(name, _dir(data_dir), image_size, test_split)["fingerprint"]


def load(name: str, split: str, data_dir=None, image_size=None, test_split=None):
    """``(x uint8 [n, h, w, c], y int64 [n])`` of ``split`` (``train`` or ``test``)."""
    if folder.is_folder(name):
        return folder.load(name, split, image_size, test_split)
    return tfds_catalog.load(name, split, _dir(data_dir), image_size, test_split)


def facts(name: str, data_dir=None, image_size=None, test_split=None) -> dict:
    """``class_names``, ``input_shape``, ``mean``, ``std`` (of the training images)."""
    if folder.is_folder(name):
        return folder.info(name, image_size, test_split)
    return tfds_catalog.info(name, _dir(data_dir), image_size, test_split)


def _dir(data_dir):
    return None if data_dir is None else str(data_dir)
