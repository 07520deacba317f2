"""Static facts about the data sets: names, splits, classes, input shapes, normalisation
constants (:func:`info`). Nothing here reads a file."""

from __future__ import annotations

import dataclasses
from typing import Sequence

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SPLITS = ("train", "test")
#: the official files' example counts per split
SPLIT_SIZES = {
    "mnist": {"train": 60000, "test": 10000},
    "fashion_mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
    "cifar100": {"train": 50000, "test": 10000},
}


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


#: data sets known from a run's record (a folder's facts, stored with the run): name -> info
_RECORDED: dict[str, DatasetInfo] = {}


def from_facts(name: str, facts: dict) -> DatasetInfo:
    """The :class:`DatasetInfo` of a folder data set's facts (``class_names``, ``input_shape``,
    ``mean``, ``std``: computed by :func:`tf_introspect.data.folder.info`, or as a run
    recorded them in its ``metrics.json``)."""
    return DatasetInfo(
        name,
        len(facts["class_names"]),
        tuple(facts["input_shape"]),
        tuple(facts["mean"]),
        tuple(facts["std"]),
        tuple(facts["class_names"]),
    )


def register(meta: DatasetInfo) -> None:
    """Make ``info(meta.name)`` return ``meta`` (a folder data set's facts as a run recorded
    them, for a model used where its folder is not: ``python -m tf_introspect.explain``)."""
    _RECORDED[meta.name] = meta


def info(name: str, image_size=None, test_split=None, data_dir=None) -> DatasetInfo:
    """Static facts about data set ``name`` (one of :data:`DATASETS`); for the user's own data
    sets (:mod:`tf_introspect.data.custom`: ``folder:PATH``, a folder of images, and
    ``tfds:NAME[:CONFIG]``, a prepared tensorflow-datasets set in ``data_dir``) computed from
    their training images, with their ``image_size`` and ``test_split``."""
    if name in _RECORDED:
        return _RECORDED[name]
    from tf_introspect.data import custom

    if custom.is_custom(name):
        return from_facts(name, custom.facts(name, data_dir, image_size, test_split))
    _check_choice("dataset", name, DATASETS + custom.FORMS)
    return _INFOS[name]
