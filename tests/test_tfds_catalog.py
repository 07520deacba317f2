"""``--dataset=tfds:NAME[:CONFIG]``: a tensorflow-datasets set prepared offline (two tiny
builders written here and prepared by tfds itself, in another process, into a temporary data
folder; this process reads them from their files alone, as a user's copied folder), its facts
and splits against the generated arrays, resizing, the hold-out, a run through the command
line, and one clear line for each bad name."""

import json
import os
import textwrap

import numpy as np
import pytest
from conftest import python

from tf_introspect import data
from tf_introspect.data import custom, tfds_catalog
from tf_introspect.data.errors import DataFormatError
from tf_introspect.data.tfds_source import _empty_tfds_tempdirs
from tf_introspect.pipeline.config import ConfigError, from_args

BUILDERS = textwrap.dedent('''
    import numpy as np
    import tensorflow_datasets as tfds


    def examples(n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            label = i % 3
            image = np.clip(rng.normal(60 + 70 * label, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            yield i, {"image": image, "label": label}


    class TinyShapes(tfds.core.GeneratorBasedBuilder):
        """Three classes of 8x8 colour images, train and test."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(8, 8, 3)),
                    "label": tfds.features.ClassLabel(names=["dark", "mid", "light"])}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(60, 0), "test": self._generate_examples(30, 1)}

        def _generate_examples(self, n, seed):
            return examples(n, seed)


    class TinyTrainOnly(TinyShapes):
        """The same images, a train split only."""

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(60, 0)}
''')


def generated(n, seed):
    rng = np.random.default_rng(seed)
    x, y = [], []
    for i in range(n):
        y.append(i % 3)
        x.append(np.clip(rng.normal(60 + 70 * (i % 3), 20, (8, 8, 3)), 0, 255).astype(np.uint8))
    return np.stack(x), np.array(y)


def same_examples(x, y, x_ref, y_ref):
    """The same (image, label) pairs in any order."""
    key = lambda xs, ys: sorted(zip((v.tobytes() for v in xs), ys.tolist()))  # noqa: E731
    return key(x, y) == key(x_ref, y_ref)


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    (root / "tinypkg").mkdir()
    (root / "tinypkg" / "__init__.py").write_text(BUILDERS)
    prepare = (
        "import sys, tinypkg, tensorflow_datasets as tfds\n"
        "for name in ('tiny_shapes', 'tiny_train_only'):\n"
        "    tfds.builder(name, data_dir=sys.argv[1]).download_and_prepare()\n"
    )
    before = set(_empty_tfds_tempdirs())
    done = python("-c", prepare, str(root / "data"), env=os.environ, cwd=root)
    for path in set(_empty_tfds_tempdirs()) - before:  # tfds' own, left by its preparation
        os.rmdir(path)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(root / "data")


def test_facts_and_splits_from_the_prepared_files(tfds_dir):
    meta = data.info("tfds:tiny_shapes", data_dir=tfds_dir)
    assert meta.num_classes == 3 and meta.input_shape == (8, 8, 3)
    assert meta.class_names == ("dark", "mid", "light")
    for split, (n, seed) in {"train": (60, 0), "test": (30, 1)}.items():
        x, y = custom.load("tfds:tiny_shapes", split, tfds_dir)
        assert x.dtype == np.uint8 and x.shape == (n, 8, 8, 3)
        assert same_examples(x, y, *generated(n, seed))
    x, _ = generated(60, 0)
    pixels = x.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(meta.mean, pixels.mean(0), rtol=1e-9)
    np.testing.assert_allclose(meta.std, pixels.std(0), rtol=1e-9)
    # the fingerprint names the files: another prepared set has another
    assert custom.fingerprint("tfds:tiny_shapes", tfds_dir) != custom.fingerprint(
        "tfds:tiny_train_only", tfds_dir, test_split=0.5
    )


def test_held_out_share_and_resizing(tfds_dir):
    name = "tfds:tiny_train_only"
    with pytest.raises(DataFormatError, match="has no test split .* give --test_split=FRACTION"):
        custom.load(name, "train", tfds_dir)
    train = custom.load(name, "train", tfds_dir, test_split=0.2)
    test = custom.load(name, "test", tfds_dir, test_split=0.2)
    assert np.bincount(test[1]).tolist() == [4, 4, 4]  # a fifth of each class's 20
    assert same_examples(
        np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]), *generated(60, 0)
    )
    again = custom.load(name, "test", tfds_dir, test_split=0.2)
    assert np.array_equal(again[0], test[0])  # a fixed choice
    with pytest.raises(DataFormatError, match="has its own train and test splits"):
        custom.load("tfds:tiny_shapes", "train", tfds_dir, test_split=0.2)
    x, _ = custom.load("tfds:tiny_shapes", "test", tfds_dir, image_size=(16, 12))
    assert x.shape == (30, 16, 12, 3) and x.dtype == np.uint8
    ds = data.make_dataset("tfds:tiny_shapes", "train", 16, data_dir=tfds_dir)
    images, labels = next(iter(ds))
    assert images.shape == (16, 8, 8, 3) and labels.shape == (16,)


def test_trains_through_the_command_line(tfds_dir, tmp_path):
    args = [
        "--method=le",
        "--model=cnn6",
        "--dataset=tfds:tiny_shapes",
        f"--data_dir={tfds_dir}",
        "--epochs=2",
        "--warmup_epochs=1",
        "--batch_size=16",
        f"--workdir={tmp_path / 'run'}",
        "--verbose=0",
    ]
    done = python("-m", "tf_introspect.main", *args, env=os.environ)  # tfds allowed
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    facts = metrics["data"]
    assert facts["class_names"] == ["dark", "mid", "light"] and facts["input_shape"] == [8, 8, 3]
    assert facts["fingerprint"] == custom.fingerprint("tfds:tiny_shapes", tfds_dir)
    assert metrics["flags"]["data_fingerprint"] == facts["fingerprint"]


def test_bad_names_get_one_clear_line(tfds_dir):
    with pytest.raises(data.DataNotFoundError, match="no data set 'tiny_shapez'.*tiny_shapes"):
        custom.load("tfds:tiny_shapez", "train", tfds_dir)
    with pytest.raises(data.DataNotFoundError, match="'mnist' is not prepared in .*download_"):
        custom.load("tfds:mnist", "train", tfds_dir)
    for bad in ("tfds:", "tfds:a:b:c"):
        with pytest.raises(ConfigError, match="give --dataset=tfds:NAME or tfds:NAME:CONFIG"):
            from_args([f"--dataset={bad}", "--model=cnn6"])
    with pytest.raises(ConfigError, match="names no folder"):
        from_args(["--dataset=folder:", "--model=cnn6"])
    assert tfds_catalog.tfds_name("tfds:cifar10_corrupted:fog_1") == "cifar10_corrupted/fog_1"
