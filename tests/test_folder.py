"""``--dataset=folder:PATH`` (issue 21): a folder of labelled images, read from a slice of the
real CIFAR-10 JPEG folder (``../shared/data/cifar10-jpeg/``) and from small generated ones."""

import dataclasses
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from conftest import require_shared_data
from PIL import Image

from tf_introspect.data import folder, info
from tf_introspect.data.errors import DataFormatError, DataNotFoundError

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def extract_slice(target, train=12, test=4):
    """The first images of every class of the shared CIFAR-10 JPEG tarball, in its layout
    (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``)."""
    per_class = {"train": train, "test": test}
    archive = require_shared_data("cifar10-jpeg") / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and int(parts[2][:4]) < per_class[parts[0]]:
                tar.extract(member, target, filter="data")
    return target


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    return extract_slice(tmp_path_factory.mktemp("cifar_jpeg"))


def fresh(name):  # the folder functions cache per process: a new folder gets new answers
    folder.scan.cache_clear()
    folder.load.cache_clear()
    folder.info.cache_clear()
    return name


def test_the_real_jpeg_folder_reads_as_its_files_say(jpeg_folder):
    name = fresh(f"folder:{jpeg_folder}")
    layout = folder.scan(name)
    assert layout.class_names == CLASSES and (layout.size, layout.channels) == ((32, 32), 3)
    x, y = folder.load(name, "test")
    assert x.shape == (40, 32, 32, 3) and x.dtype == np.uint8
    for i in (0, 7, 39):  # against TensorFlow's own JPEG decoder, file by file
        path, label = layout.files["test"][i]
        assert y[i] == label == CLASSES.index(path.split("/")[-2])
        np.testing.assert_array_equal(x[i], tf.io.decode_jpeg(tf.io.read_file(path)).numpy())
    x_train, y_train = folder.load(name, "train")
    assert x_train.shape == (120, 32, 32, 3) and np.bincount(y_train).tolist() == [12] * 10
    assert len(set(y_train[-12:])) > 3  # shuffled once: the last images mix the classes
    meta = info(name)
    pixels = x_train.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(meta.mean, pixels.mean(0), rtol=1e-6)
    np.testing.assert_allclose(meta.std, pixels.std(0), rtol=1e-6)
    assert (meta.num_classes, meta.input_shape, meta.class_names) == (10, (32, 32, 3), CLASSES)


def test_fingerprint_follows_the_files(jpeg_folder, tmp_path):
    copy = shutil.copytree(jpeg_folder, tmp_path / "copy")
    before = folder.scan(fresh(f"folder:{copy}")).fingerprint
    assert folder.scan(fresh(f"folder:{copy}")).fingerprint == before  # stable
    (copy / "test" / "cat" / "0000.jpg").write_bytes(
        (jpeg_folder / "test/dog/0001.jpg").read_bytes()
    )
    assert folder.scan(fresh(f"folder:{copy}")).fingerprint != before


def test_held_out_share_of_a_flat_folder(jpeg_folder, tmp_path):
    flat = tmp_path / "flat"
    for name in CLASSES[:3]:
        shutil.copytree(jpeg_folder / "train" / name, flat / name)
    name = fresh(f"folder:{flat}")
    with pytest.raises(DataFormatError, match="no train/ and test/ subfolders: give --test_split"):
        folder.scan(name)
    with pytest.raises(DataFormatError, match=r"test_split=0.01 of .* leaves no test image .* 0"):
        folder.scan(name, test_split=0.01)  # 12 images a class: 0.12 rounds to none
    with pytest.raises(DataFormatError, match="leaves no training image .* smaller fraction"):
        folder.scan(name, test_split=0.99)
    layout = folder.scan(name, test_split=0.25)
    for label in range(3):  # 3 of every class's 12 images held out, disjoint, all used
        test = {p for p, lab in layout.files["test"] if lab == label}
        train = {p for p, lab in layout.files["train"] if lab == label}
        assert (len(test), len(train), test & train) == (3, 9, set())
    assert folder.scan(fresh(name), test_split=0.25).files == layout.files  # fixed, seeded
    x, y = folder.load(name, "test", None, 0.25)
    assert x.shape == (9, 32, 32, 3) and np.bincount(y).tolist() == [3, 3, 3]


def write_png(path, size, mode="L", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size[::-1], value).save(path)


def test_grayscale_and_mixed_sizes(tmp_path):
    root = tmp_path / "gray"
    for split, n in (("train", 3), ("test", 1)):
        for label in ("a", "b"):
            for i in range(n):
                write_png(root / split / label / f"{i}.png", (20, 24), value=10 * i)
    name = fresh(f"folder:{root}")
    assert info(name).input_shape == (20, 24, 1)
    write_png(root / "train" / "a" / "big.png", (40, 50))
    with pytest.raises(DataFormatError, match="2 different sizes .* give --image_size=H,W"):
        folder.scan(fresh(name))
    x, _ = folder.load(fresh(name), "train", (16, 16))
    assert x.shape == (7, 16, 16, 1)


@pytest.mark.parametrize(
    "layout,error,message",
    [
        (None, DataNotFoundError, "no image folder"),
        ("empty", DataFormatError, "has no images in class subfolders"),
        ("one_class", DataFormatError, r"found 1 subfolder\(s\): a"),
    ],
)
def test_bad_folders_get_one_clear_line(tmp_path, layout, error, message):
    root = tmp_path / "data"
    if layout == "empty":
        root.mkdir()
    elif layout == "one_class":
        write_png(root / "a" / "0.png", (8, 8))
    with pytest.raises(error, match=message):
        folder.scan(fresh(f"folder:{root}"), test_split=0.5)


def test_the_command_line_trains_on_a_folder(jpeg_folder, tmp_path):
    """ResNet-8, LE(Grad-CAM) and CE, through the whole pipeline on the JPEG slice: the
    folder's facts are recorded, its fingerprint decides the result, bad input is one line."""
    from test_main import cli

    from tf_introspect.pipeline import config, data_settings

    common = [
        f"--dataset=folder:{jpeg_folder}",
        "--model=resnet8",
        "--epochs=1",
        "--batch_size=40",
        "--lr_boundaries=",
        "--explanation_samples=0",
        "--verbose=0",
    ]
    result = cli("--method=le", "--warmup_epochs=0", *common, f"--workdir={tmp_path / 'le'}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = __import__("json").loads((tmp_path / "le" / "metrics.json").read_text())
    meta = info(fresh(f"folder:{jpeg_folder}"))
    assert metrics["data"]["class_names"] == list(CLASSES)
    assert metrics["data"]["mean"] == pytest.approx(meta.mean)
    assert metrics["data"]["fingerprint"] == metrics["flags"]["data_fingerprint"]
    assert metrics["flags"]["augment"] == "auto" and 0 <= metrics["test_accuracy"] <= 1
    # the run in TensorBoard's HParams dashboard: its settings and final metrics
    from tensorboard.plugins.hparams import plugin_data_pb2

    hparams, scalars = {}, {}
    for path in (tmp_path / "le" / "tb" / "hparams").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content
                    )
                    for key, v in data.session_start_info.hparams.items():
                        hparams[key] = v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                elif value.tag in ("test_accuracy", "test_ece"):
                    scalars[value.tag] = float(tf.make_ndarray(value.tensor))
    assert hparams["dataset"] == f"folder:{jpeg_folder}" and hparams["method"] == "le"
    assert hparams["data_fingerprint"] == metrics["data"]["fingerprint"]
    assert scalars["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert scalars["test_ece"] == pytest.approx(metrics["test_ece"])
    # explain uses the facts recorded beside the model, also where the folder is not
    from tf_introspect import explain
    from tf_introspect.data import metadata

    image = jpeg_folder / "test" / "cat" / "0000.jpg"
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "le", moved, ignore=shutil.ignore_patterns("tb", "backup"))
    metrics["dataset"] = "folder:/gone"  # as if the folder had been moved away
    (moved / "metrics.json").write_text(__import__("json").dumps(metrics))
    assert (
        explain.main([str(image), f"--model={moved}/model.keras", f"--out={tmp_path}/e.png"]) == 0
    )
    assert metadata.info("folder:/gone").mean == pytest.approx(meta.mean)
    assert (tmp_path / "e.png").exists()
    # Figures 1-2 of the folder run: its data set read from beside the model
    from tf_introspect.lab import figures_cli

    out = tmp_path / "figures"
    model = tmp_path / "le" / "model.keras"
    assert (
        figures_cli.main(
            [f"--model={model}", "--figures=1,2", "--explainers=grad_cam", "--samples=2"]
            + ["--similarity_samples=20", f"--out={out}"]
        )
        == 0
    )
    name = figures_cli._file_name(f"folder:{jpeg_folder}")
    assert name.startswith("folder_") and "/" not in name and ":" not in name
    for figure in ("figure1", "figure2"):
        assert (out / f"{figure}_{name}_grad_cam.png").stat().st_size > 0
    with pytest.raises(SystemExit, match="give --model=PATH.keras, a classifier trained on it"):
        figures_cli.main([f"--dataset=folder:{jpeg_folder}", "--figures=1", f"--out={out}"])
    # the fingerprint is a result-deciding setting: other images, another run
    cfg = config.from_args(["--method=le", *common])
    assert cfg.data_fingerprint is None  # a plan names a folder by path; a run reads it
    cfg = data_settings.with_data_fingerprint(cfg)
    assert cfg.data_fingerprint == metrics["data"]["fingerprint"]
    other = tmp_path / "other"
    shutil.copytree(jpeg_folder, other)
    (other / "test" / "cat" / "0000.jpg").unlink()  # other images in the same place
    from tf_introspect.pipeline import outputs

    changed = dataclasses.replace(
        cfg, data_fingerprint=folder.scan(fresh(f"folder:{other}")).fingerprint
    )
    with pytest.raises(config.ConfigError, match="data_fingerprint"):
        outputs.finished(str(tmp_path / "le"), changed)
    for bad, message in (
        (f"--dataset=folder:{tmp_path / 'nowhere'}", "no image folder"),
        ("--image_size=32", "--image_size must be H,W"),
        ("--dataset=mnist", "--image_size and --test_split belong to your own data set"),
        ("--test_split=1.5", "--test_split must be a fraction between 0 and 1 (exclusive)"),
        ("--test_split=0.2", "has its own train/ and test/ folders; --test_split=0.2"),
    ):
        extra = ["--image_size=32,32", "--test_split=0.2"] if bad == "--dataset=mnist" else []
        result = cli("--method=ce", *common, bad, *extra, f"--workdir={tmp_path / 'bad'}")
        assert result.returncode != 0 and message in result.stderr, result.stderr[-1000:]
        assert "Traceback" not in result.stderr, result.stderr[-1000:]
